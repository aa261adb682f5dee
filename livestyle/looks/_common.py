"""Shared helpers for the procedural looks (numpy + OpenCV only).

Every helper works on float32 BGR images in [0, 1], shape (H, W, 3), unless
it says otherwise.  Spatial parameters are given for a reference image whose
shorter side is :data:`REFERENCE_SIDE` pixels and are scaled with the image,
so a look means the same thing at 256x256 and at 1280x720.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.errors import UsageError

REFERENCE_SIDE = 256  # pixels: the shorter side the looks' spatial parameters are tuned for


def check_image(image: np.ndarray) -> None:
    """Raise UsageError unless ``image`` is uint8 BGR (H, W, 3) with H, W >= 8."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise UsageError(f"A look takes a uint8 BGR image of shape (H, W, 3); got a {got}.",
                         fix="Pass a frame as OpenCV reads it (cv2.imread or VideoCapture.read).")
    if min(image.shape[:2]) < 8:
        raise UsageError(f"A look needs an image of at least 8x8 pixels; got {image.shape[1]}x{image.shape[0]}.",
                         fix="Pass a larger image.")


def scale_of(image: np.ndarray) -> float:
    """How many pixels of ``image`` correspond to one pixel of the reference image."""
    return min(image.shape[:2]) / REFERENCE_SIDE


def odd(n: float, minimum: int = 3) -> int:
    """The nearest odd integer >= ``minimum`` (for kernel sizes)."""
    k = max(minimum, int(round(n)))
    return k if k % 2 == 1 else k + 1


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) 0..255 -> float32 (H, W, 3) 0..1."""
    return image.astype(np.float32) * (1.0 / 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float32 (H, W, 3) 0..1 (clipped) -> uint8 (H, W, 3) 0..255, rounded."""
    return np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a float BGR image in [0, 1]: float32 (H, W) in [0, 1]."""
    b, g, r = image[..., 0], image[..., 1], image[..., 2]
    return 0.114 * b + 0.587 * g + 0.299 * r


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 (x <= edge0) to 1 (x >= edge1), float32 like ``x``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def wide_blur(image: np.ndarray, sigma_ref: float) -> np.ndarray:
    """Gaussian blur with sigma ``sigma_ref`` reference pixels, computed cheaply.

    Large blurs are done on a copy downscaled so the sigma is about 2 pixels,
    then upscaled: the result is resolution-independent and costs little at
    720p.  Works on float32 (H, W) or (H, W, C) images.
    """
    h, w = image.shape[:2]
    sigma = sigma_ref * scale_of(image)
    factor = max(1.0, sigma / 2.0)
    if factor <= 1.5:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    sw, sh = max(4, int(round(w / factor))), max(4, int(round(h / factor)))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma * sw / w, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
