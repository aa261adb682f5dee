"""``livestyle capture``: the person's own frames, spread over time, as a content set."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from livestyle.errors import SinkError, UsageError
from livestyle.fsutil import write_image

log = logging.getLogger(__name__)

THUMB_SIZE = (64, 36)  # (width, height) of the grey thumbnails compared for near-duplicates


@dataclass(frozen=True)
class CaptureConfig:
    """``source``: any ``livestyle run --input`` spec (camera index, file, URL).

    One frame is kept at most every ``interval_s`` seconds (wall clock for
    live sources, video time ``index / fps`` for files), and only when its
    64x36 grey thumbnail differs from the last kept one by at least
    ``min_diff`` mean absolute levels (0..255).
    """

    source: str
    frames: int
    out_dir: str
    interval_s: float = 0.5
    min_diff: float = 4.0
    jpeg_quality: int = 95


def thumbnail(image: np.ndarray) -> np.ndarray:
    """uint8 BGR (H, W, 3) -> float32 grey (36, 64) in 0..255, for near-duplicate checks."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def capture(cfg: CaptureConfig, *, report: Callable[[str], None] = lambda m: None, progress: bool = True) -> int:
    """Save up to ``cfg.frames`` JPEGs (``frame-000001.jpg``...) into ``cfg.out_dir``; returns how many.

    Raises SourceError (from the source) when the input cannot be opened.
    """
    if cfg.frames < 1:
        raise UsageError(f"--frames must be at least 1, got {cfg.frames}.", fix="Pass e.g. --frames 200.")
    if cfg.interval_s < 0 or cfg.min_diff < 0:
        raise UsageError("--interval and --min-diff must be >= 0.", fix="Pass e.g. --interval 0.5 --min-diff 4.")
    from livestyle.sources import open_source

    source = open_source(cfg.source)
    source.open()
    out = Path(cfg.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        source.close()
        raise SinkError(f"Cannot create the capture folder {str(out)!r} ({e.strerror}).",
                        fix="Pass a writable --out folder.") from None
    # numbering goes on after the highest frame already there (a count would reuse a name after a gap and
    # overwrite a photo), and a name that exists in any form is skipped, never replaced
    numbers = [int(m.group(1)) for f in out.iterdir() if (m := re.fullmatch(r"frame-(\d+)\.jpg", f.name))]
    next_number = max(numbers, default=0) + 1
    from tqdm import tqdm

    bar = tqdm(total=cfg.frames, desc="capture", unit="frame", file=sys.stderr, disable=not progress)
    saved = seen = near_duplicates = 0
    last_thumb: np.ndarray | None = None
    last_time = -float("inf")
    t0 = time.perf_counter()
    try:
        while saved < cfg.frames:
            image = source.read()
            if image is None:
                break
            now = (time.perf_counter() - t0) if source.live else seen / max(source.fps, 1e-6)
            seen += 1
            if now - last_time < cfg.interval_s - 1e-9:  # tolerance: video times are sums of floats
                continue
            thumb = thumbnail(image)
            if last_thumb is not None and float(np.mean(np.abs(thumb - last_thumb))) < cfg.min_diff:
                near_duplicates += 1
                continue
            path = out / f"frame-{next_number:06d}.jpg"
            while os.path.lexists(path):
                next_number += 1
                path = out / f"frame-{next_number:06d}.jpg"
            next_number += 1
            write_image(path, image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality],
                        fix="Check free space and permissions of --out.")
            saved += 1
            last_thumb, last_time = thumb, now
            bar.update(1)
    finally:
        bar.close()
        source.close()
    report(f"capture: kept {saved} of {seen} frames ({near_duplicates} near-duplicates skipped)")
    if saved < cfg.frames:
        log.warning("the input ended after %d of %d frames", saved, cfg.frames)
    return saved
