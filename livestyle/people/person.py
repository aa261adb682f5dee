"""The person matte of each frame: segmentation (not every frame when the CPU is short), steadied in
time, refined against the frame.

:class:`PersonMatte` is what the person stage runs; it holds no threads and knows nothing of the
pipeline.  ``every`` is the segmentation rate: 1 runs the model on every frame, 2 on every other frame
(``--quality auto`` raises it before it lowers the look's inference size); on the frames between, the
last steady mask is reused and still refined against the new frame, so the edge follows the picture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from livestyle.ops import matte
from livestyle.people.segmenter import PersonSegmenter, choose_model


@dataclass(frozen=True)
class Matte:
    """One frame's matte.

    ``work``: the frame at its work size, uint8 BGR (h, w, 3); ``mask``: the steady mask float32 at the
    model's size in 0..1; ``alpha``: uint8 (H, W) 0..255 at the frame's size (255 = person);
    ``segmented``: whether the model ran on this frame; ``box``: (x0, y0, x1, y1) at the frame's size,
    the rectangle outside which ``alpha`` is 0 (None when it is 0 everywhere).
    """

    work: np.ndarray
    mask: np.ndarray
    alpha: np.ndarray
    segmented: bool
    box: tuple[int, int, int, int] | None = (0, 0, 1 << 30, 1 << 30)


class PersonMatte:
    """Frame in, :class:`Matte` out.  ``frame_size`` (W, H) picks the model (landscape for wide frames)."""

    def __init__(self, frame_size: tuple[int, int], *, every: int = 1, threads: int = 1,
                 segmenter: PersonSegmenter | None = None):
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.work_size = matte.work_size(self.frame_size)
        self.segmenter = segmenter or PersonSegmenter(choose_model(self.frame_size), threads=threads)
        self.steady = matte.SteadyMask()
        self.every = max(1, int(every))
        self._count = 0
        self.model_ms = 0.0

    def reset(self) -> None:
        self.steady.reset()
        self._count = 0

    def update(self, frame: np.ndarray) -> Matte:
        """``frame``: uint8 BGR (H, W, 3) at ``frame_size``."""
        # the work frame: 2x2 averages while the picture is at least twice the size, then bilinear for the
        # rest, which at 720p is the area average and at 1080p close to it (a third of the time of OpenCV's
        # area average at a ratio of 3).  The model's input is the area average of the work frame: the
        # model's edges move with how its input is filtered (a bilinear step here widened the measured halo)
        work = matte.shrink(frame, self.work_size)
        small = cv2.resize(work, self.segmenter.size, interpolation=cv2.INTER_AREA)
        mask = None if self._count % self.every == 0 else self.steady.hold(small)
        self._count += 1
        run = mask is None
        if run:
            t = time.perf_counter()
            raw = self.segmenter.segment(small)
            self.model_ms = (time.perf_counter() - t) * 1000.0
            mask = self.steady.update(raw, small)
        alpha, box = matte.frame_alpha(mask, work, self.frame_size)
        return Matte(work=work, mask=mask, alpha=alpha, segmented=run, box=box)
