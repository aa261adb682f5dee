"""The unit that travels through the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


# The smallest width or height livestyle processes: the temporal filter's DIS optical flow and the
# student's two halvings need a few pixels at the coarsest level; smaller frames are refused up front.
MIN_SIDE = 32


@dataclass(slots=True)
class Frame:
    """One video frame.

    ``image`` is uint8 BGR, shape (H, W, 3), C-contiguous, values 0..255.
    ``index`` counts frames delivered by the source from 0 (gaps mean the
    source skipped some).  ``t_capture`` is ``time.perf_counter()`` seconds at
    the moment the frame left the driver.  ``stages`` collects per-stage
    durations in seconds (``capture``, each stage's parts such as
    ``preprocess``, ``infer``, ``postprocess``, then ``output``) as the frame
    moves on.
    """

    image: np.ndarray
    index: int
    t_capture: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        h, w = self.image.shape[:2]
        return w, h

    def with_image(self, image: np.ndarray) -> "Frame":
        """A frame with a new image that keeps index, capture time and timings."""
        return Frame(image=image, index=self.index, t_capture=self.t_capture, stages=dict(self.stages))
