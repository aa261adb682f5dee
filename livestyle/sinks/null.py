"""The null sink: discards frames (benchmarks, headless runs)."""

from __future__ import annotations

import numpy as np

from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.base import Sink


class NullSink(Sink):
    """Accepts uint8 BGR frames, shape (H, W, 3), checks them and throws them away.

    ``frames_sent`` counts frames since :meth:`open`; ``last_index`` is the
    index of the newest one (-1 before any); ``written_size`` the opened
    (width, height) (nothing is written, but it is what was accepted).
    """

    description = "null (frames discarded)"

    def __init__(self) -> None:
        self.frames_sent = 0
        self.last_index = -1
        self.written_size: tuple[int, int] | None = None
        self._size: tuple[int, int] | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Remember ``size`` = (width, height) to check frames against; ``fps`` is unused."""
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0:
            raise SinkError(f"The null sink needs a positive size, got {width}x{height}.",
                            fix="Pass --size WxH with positive values.")
        self._size = self.written_size = (width, height)
        self.frames_sent = 0
        self.last_index = -1

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Count ``frame``; its image must be uint8 BGR of the opened (H, W, 3)."""
        if self._size is None:
            raise SinkError("The null sink is not open.", fix="Call open(size, fps) before send().")
        self.check_frame(frame.image, self._size)
        self.frames_sent += 1
        self.last_index = frame.index

    def close(self) -> None:
        """Nothing to release; safe to call twice."""
        self._size = None
