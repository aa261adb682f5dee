"""The Sink interface (concrete sinks and ``open_sink`` live elsewhere: see :mod:`livestyle.sinks.registry`)."""

from __future__ import annotations

import abc

import numpy as np

from livestyle.controls import Command  # the one control vocabulary (interactive sinks send it)
from livestyle.frame import Frame


class Sink(abc.ABC):
    """Where stylized frames go.

    ``open(size, fps)`` is called once with the output (width, height) and
    rate; ``send`` takes a :class:`Frame` whose ``image`` is uint8 BGR of
    exactly that size; ``close()`` finalises (file trailer, virtual camera
    released) and is safe to call twice.  Interactive sinks return user
    commands from :meth:`poll`.
    """

    description: str = ""

    @abc.abstractmethod
    def open(self, size: tuple[int, int], fps: float) -> None:
        """Open the device/file; raise :class:`SinkError` with a fix on failure."""

    @abc.abstractmethod
    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Deliver one frame. ``original`` (uint8 BGR, same size) and ``status`` feed the preview."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finalise and release; idempotent."""

    def check_frame(self, image: np.ndarray, size: tuple[int, int]) -> None:
        """Raise SinkError unless ``image`` is uint8 BGR of shape (H, W, 3) for ``size`` = (W, H)."""
        width, height = size
        if image.dtype != np.uint8 or image.shape != (height, width, 3):
            from livestyle.errors import SinkError

            raise SinkError(f"{self.description} expects uint8 BGR frames of shape {(height, width, 3)}, "
                            f"got {image.dtype} {image.shape}.",
                            fix="Resize frames to the size the sink was opened with.")

    def poll(self) -> list[Command]:
        """User commands since the last call, in the vocabulary of :mod:`livestyle.controls` (none for
        non-interactive sinks); the pipeline hands each to ``Controls.apply``."""
        return []

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

