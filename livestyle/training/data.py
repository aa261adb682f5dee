"""Training images: a recursive scan, decoding, and random crops.

Images are decoded once with OpenCV (``cv2.IMREAD_COLOR``: EXIF orientation
is applied, grayscale becomes 3-channel BGR, alpha is dropped, 16-bit is
scaled to 8-bit) and kept in memory downscaled so that their short side is
about 1.25x the crop size; a training step then costs a crop and a resize.

Randomness is a pure function of the numpy ``Generator`` handed in, so a
caller that seeds one per step (``np.random.default_rng([seed, rank, step])``)
gets the same batch back after a resume.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import DataError
from livestyle.models.convert import images_to_unit

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
MIN_IMAGES = 4
MIN_SHORT_SIDE = 64
KEEP_FACTOR = 1.25  # stored short side = KEEP_FACTOR * crop size (room for random crops and scales)


MAX_FILES = 50_000  # image files one training folder may hold (each is decoded and kept in memory)
MAX_DEPTH = 32      # folder levels below the training folder that are searched


def scan_images(folder: str | os.PathLike, *, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH) -> list[Path]:
    """All image files under ``folder`` (recursive, suffix case-insensitive), each real file once, sorted by path.

    Symlinks are followed, but every folder is entered once and every file
    counted once, by ``(st_dev, st_ino)``: a link to the folder itself, to a
    parent or to a photo already seen adds nothing, so a link loop ends the
    walk instead of running it forever.  Only regular files are taken (a
    named pipe or a device named ``x.jpg`` would block or never end the
    decoder).  Folders more than ``max_depth`` levels down are not searched
    (one warning).  Raises DataError if ``folder`` is not a directory, or
    when it holds more than ``max_files`` image files.
    """
    import stat

    root = Path(folder)
    if not root.exists():
        raise DataError(f"Image folder {str(root)!r} does not exist.",
                        fix="Pass an existing folder of .jpg/.png/.webp/.bmp images.")
    if not root.is_dir():
        raise DataError(f"Expected a folder of images, got the file {str(root)!r}.",
                        fix="Pass the folder that holds the images.")
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    found: list[Path] = []
    too_deep = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            st = here.stat()
        except OSError:  # a dangling link, a loop the kernel refused, no permission
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            log.warning("cannot read the folder %s: %s", here, e.strerror or e)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                est = entry.stat()  # follows symlinks
            except OSError:
                continue
            if stat.S_ISDIR(est.st_mode):
                if depth + 1 > max_depth:
                    too_deep += 1
                else:
                    subdirs.append((Path(entry.path), depth + 1))
            elif stat.S_ISREG(est.st_mode) and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                fkey = (est.st_dev, est.st_ino)
                if fkey in seen_files:
                    continue
                seen_files.add(fkey)
                found.append(Path(entry.path))
                if len(found) > max_files:
                    raise DataError(f"{str(root)!r} holds more than {max_files} image files.",
                                    fix=f"Point at a folder of at most {max_files} photos (a few hundred are plenty).")
        stack.extend(reversed(subdirs))
    if too_deep:
        log.warning("%s: %d folder(s) more than %d levels down were not searched", root, too_deep, max_depth)
    return sorted(found)


@contextlib.contextmanager
def _native_stderr_to_log():
    """Route C-level stderr (libjpeg's "Premature end of JPEG file" and the like) to the debug log.

    The decoders print such warnings straight to file descriptor 2; we count
    bad files in one warning line of our own instead.  Only used around
    decoding, before any other thread of ours runs.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to protect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("decoder messages: %s", text.replace("\n", "; "))


def read_image(path: str | os.PathLike) -> np.ndarray | None:
    """Decode one file to uint8 BGR (H, W, 3), 0..255, EXIF orientation applied; None if unreadable."""
    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if img is None or img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        return None
    if img.dtype != np.uint8:  # defensive: IMREAD_COLOR already gives 8-bit
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    return np.ascontiguousarray(img)


@dataclass
class ImageSet:
    """Decoded images of one folder, each uint8 BGR (h, w, 3) with short side >= ``crop``.

    ``skipped`` counts files that were corrupt, unreadable or too small.
    """

    folder: Path
    images: list[np.ndarray]
    files: int
    skipped: int
    crop: int

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, count: int, *, scale: tuple[float, float] = (1.0, 1.25),
               flip: bool = True) -> np.ndarray:
        """``count`` random crops as float32 (count, 3, crop, crop) BGR in [-1, 1].

        Each crop picks an image, a square window of side ``crop * s`` with
        ``s`` uniform in ``scale`` (capped by the image), a position, and a
        horizontal flip with probability 0.5; the window is resized to
        ``crop`` x ``crop``.
        """
        out = np.empty((count, 3, self.crop, self.crop), np.float32)
        for i in range(count):
            img = self.images[int(rng.integers(len(self.images)))]
            h, w = img.shape[:2]
            side = min(int(round(self.crop * rng.uniform(*scale))), h, w)
            y = int(rng.integers(h - side + 1))
            x = int(rng.integers(w - side + 1))
            patch = img[y:y + side, x:x + side]
            if side != self.crop:
                patch = cv2.resize(patch, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            if flip and rng.random() < 0.5:
                patch = patch[:, ::-1]
            out[i] = images_to_unit(patch)
        return out

    def centre_crops(self, count: int) -> np.ndarray:
        """The first ``count`` images' centre crops (fixed, for sample grids and metrics).

        float32 (n, 3, crop, crop) BGR in [-1, 1], n = min(count, len(self)).
        """
        crops = []
        for img in self.images[:count]:
            h, w = img.shape[:2]
            side = min(h, w)
            y, x = (h - side) // 2, (w - side) // 2
            patch = cv2.resize(img[y:y + side, x:x + side], (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            crops.append(images_to_unit(patch))
        return np.stack(crops)


def load_images(folder: str | os.PathLike, crop: int, *, role: str = "images",
                min_images: int = MIN_IMAGES) -> ImageSet:
    """Scan and decode ``folder`` for crops of ``crop`` x ``crop`` pixels.

    Files whose short side is below ``max(64, crop // 2)`` pixels, or which
    cannot be decoded, are skipped and reported in one warning line.  Fewer
    than ``min_images`` usable images raises DataError naming the folder
    and the count.  ``role`` ("style images", "content images") only words
    the messages.
    """
    files = scan_images(folder)
    min_side = max(MIN_SHORT_SIDE, crop // 2)
    keep_side = int(round(crop * KEEP_FACTOR))
    images: list[np.ndarray] = []
    unreadable = tiny = 0
    for path in files:
        with _native_stderr_to_log():
            img = read_image(path)
        if img is None:
            unreadable += 1
            continue
        h, w = img.shape[:2]
        short = min(h, w)
        if short < min_side:
            tiny += 1
            continue
        if short != keep_side and (short > keep_side or short < crop):
            # shrink big photos now (memory, speed); grow the few between min_side and crop
            f = max(keep_side, crop) / short if short > keep_side else crop / short
            size = (max(crop, int(round(w * f))), max(crop, int(round(h * f))))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
        images.append(np.ascontiguousarray(img))
    skipped = unreadable + tiny
    why = f"{unreadable} unreadable or corrupt, {tiny} smaller than {min_side} px on the short side"
    if len(images) < min_images:
        extra = f" ({skipped} of {len(files)} files skipped: {why})" if skipped else ""
        raise DataError(
            f"Found {len(images)} usable {role} in {str(folder)!r}, need at least {min_images}{extra}.",
            fix=f"Add more .jpg/.png/.webp/.bmp images of at least {min_side} px to that folder.")
    if skipped:
        log.warning("%s: skipped %d of %d files in %s (%s)", role, skipped, len(files), folder, why)
    return ImageSet(folder=Path(folder), images=images, files=len(files), skipped=skipped, crop=crop)
