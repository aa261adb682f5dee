"""Test videos whose frames carry their own index.

Every frame made here has a *barcode band* across its top sixth: 18 equal
cells, a white sync cell, 16 bits of the frame index (most significant
first, white = 1, black = 0) and a black sync cell.  The cells are big
enough to survive lossy codecs (mp4v, MJPG) and resizing, so a test can read
the index back from whatever a source delivered (:func:`decode_index`) and
check order, drops and freshness without trusting the source under test.

All images are uint8 BGR, shape (H, W, 3), values 0..255.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

INDEX_BITS = 16
"""Bits of frame index in the barcode band; indices wrap at ``2**INDEX_BITS``."""

_CELLS = INDEX_BITS + 2  # white sync cell + bits + black sync cell
_MIN_WIDTH = _CELLS * 4
_MIN_HEIGHT = 48

_CODEC_FOR_SUFFIX = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}


def _band_height(height: int) -> int:
    return max(8, height // 6)


def make_test_frame(index: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """The synthetic frame number ``index`` (>= 0) at ``size`` = (width, height).

    Returns uint8 BGR, shape (height, width, 3).  Below the barcode band there
    is a colour gradient, a bar that moves with the index (so consecutive
    frames differ like real video) and the index printed as text (for people
    looking at a failing test's output).
    """
    width, height = size
    if width < _MIN_WIDTH or height < _MIN_HEIGHT:
        raise ValueError(f"test frames need at least {_MIN_WIDTH}x{_MIN_HEIGHT} pixels, got {width}x{height}")
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    xs = np.linspace(0, 255, width, dtype=np.float32)
    ys = np.linspace(0, 255, height, dtype=np.float32)
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (xs[None, :] * 0.6 + 40).astype(np.uint8)
    image[..., 1] = (ys[:, None] * 0.5 + 60).astype(np.uint8)
    image[..., 2] = 150
    bar_x = (index * 7) % max(1, width - width // 10)
    band = _band_height(height)
    image[band:, bar_x:bar_x + width // 10] = (30, 200, 240)
    cv2.putText(image, str(index), (8, band + max(20, height // 6)), cv2.FONT_HERSHEY_SIMPLEX,
                max(0.5, height / 300), (255, 255, 255), 2, cv2.LINE_AA)

    value = index % (1 << INDEX_BITS)
    bits = [1] + [(value >> (INDEX_BITS - 1 - k)) & 1 for k in range(INDEX_BITS)] + [0]
    edges = np.linspace(0, width, _CELLS + 1).round().astype(int)
    for cell, bit in enumerate(bits):
        image[:band, edges[cell]:edges[cell + 1]] = 255 if bit else 0
    return image


def decode_index(image: np.ndarray) -> int | None:
    """Read the index back from a frame made by :func:`make_test_frame`.

    ``image`` is uint8 BGR (H, W, 3) at any size (it may have been resized,
    compressed or colour-shifted a little).  Returns the index modulo
    ``2**INDEX_BITS``, or None when the band is not a readable barcode (wrong
    sync cells or a cell that is neither clearly dark nor clearly bright).
    """
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        return None
    height, width = image.shape[:2]
    band = _band_height(height)
    gray = image[:band].mean(axis=2)
    edges = np.linspace(0, width, _CELLS + 1)
    bits = []
    for cell in range(_CELLS):
        x0, x1 = edges[cell], edges[cell + 1]
        inset_x, inset_y = (x1 - x0) / 4, band / 4
        patch = gray[int(inset_y):int(band - inset_y) or 1, int(x0 + inset_x):int(x1 - inset_x) or int(x0) + 1]
        level = float(patch.mean())
        if level >= 170:
            bits.append(1)
        elif level <= 85:
            bits.append(0)
        else:
            return None
    if bits[0] != 1 or bits[-1] != 0:
        return None
    value = 0
    for bit in bits[1:-1]:
        value = (value << 1) | bit
    return value


def write_test_video(path: str | Path, *, size: tuple[int, int] = (320, 240), fps: float = 30.0,
                     frames: int = 60, codec: str | None = None, start_index: int = 0) -> Path:
    """Write a real video file of ``frames`` frames from :func:`make_test_frame`.

    Frame k carries index ``start_index + k``.  ``codec`` is a FourCC; by
    default ``mp4v`` for .mp4/.mov and ``MJPG`` for .avi/.mkv (both work with
    the opencv-python wheels).  Returns the path.  Raises RuntimeError when
    OpenCV cannot open a writer for that container/codec.
    """
    path = Path(path)
    fourcc = codec or _CODEC_FOR_SUFFIX.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"no default codec for {path.suffix!r}; pass codec= (e.g. 'mp4v' or 'MJPG')")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a {fourcc} writer for {path}")
    try:
        for k in range(frames):
            writer.write(make_test_frame(start_index + k, size))
    finally:
        writer.release()
    return path
