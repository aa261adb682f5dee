"""The Source interface (concrete sources and ``open_source`` live elsewhere: see :mod:`livestyle.sources.registry`)."""

from __future__ import annotations

import abc

import numpy as np


class Source(abc.ABC):
    """Something that yields uint8 BGR frames, shape (H, W, 3), one at a time.

    ``live`` is True when frames arrive in real time whether or not they are
    read (camera, URL, a file or the demo paced with ``realtime=True``): the
    pipeline then reads it from its own capture thread into a newest-frame
    slot and drops stale frames.  ``frame_ready_time`` (see below) tells
    when the last frame became available.  ``fps`` is the nominal rate, ``size`` is
    (width, height) once opened.  ``reconnects`` counts recoveries of a lost
    live stream.  ``close()`` is safe to call twice and unblocks a pending
    ``read()`` (which then returns None).
    """

    live: bool = False
    fps: float = 30.0
    size: tuple[int, int] = (0, 0)
    reconnects: int = 0
    description: str = ""
    # perf_counter() time at which the last frame returned by read() became available (its scheduled
    # time for a paced file or the demo); None when unknown.  The pipeline measures latency from it.
    frame_ready_time: float | None = None

    @abc.abstractmethod
    def open(self) -> None:
        """Open the device/file/stream; raise :class:`SourceError` with a fix on failure."""

    @abc.abstractmethod
    def read(self) -> np.ndarray | None:
        """Block until the next frame; None means the stream ended for good (or close() was called)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; idempotent."""

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

