"""The Runner interface shared by every inference backend.

Shaped after Polygraphy's runners: ``activate`` loads and allocates once,
``infer`` is called per frame, ``deactivate`` releases; the time of the last
call is kept in ``last_inference_time``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from livestyle.styles.pack import StylePack


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """Whether a backend can run here; ``reason`` says why not and ``fix`` how to change that."""

    name: str
    available: bool
    device: str = "cpu"
    reason: str = ""
    fix: str = ""


class Runner(abc.ABC):
    """Runs one style's generator on uint8 BGR frames.

    ``infer(image)`` takes uint8 BGR of shape (h, w, 3) where (w, h) is the
    ``infer_size`` given at construction, and returns a uint8 BGR array of the
    same shape.  The returned array may be a buffer the runner reuses: the
    caller must consume it before the next ``infer`` call.
    """

    name: str = ""
    device: str = "cpu"

    def __init__(self, style: "StylePack", *, infer_size: tuple[int, int]):
        self.style = style
        self.infer_size = infer_size
        self.last_inference_time = 0.0

    @classmethod
    @abc.abstractmethod
    def probe(cls) -> BackendStatus:
        """Cheap check (no model load) of whether this backend can run on this machine."""

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model and allocate buffers; raise ModelError / BackendError with a fix."""

    @abc.abstractmethod
    def infer(self, image: np.ndarray) -> np.ndarray:
        """uint8 BGR (h, w, 3) -> uint8 BGR (h, w, 3)."""

    def check_frame(self, image: np.ndarray) -> None:
        """Raise BackendError unless ``image`` is uint8 (h, w, 3) at the inference size."""
        w, h = self.infer_size
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            from livestyle.errors import BackendError

            raise BackendError(f"The {self.name} runner expects uint8 ({h}, {w}, 3) frames; got {image.dtype} "
                               f"{tuple(image.shape)}.", fix="Resize frames to the inference size first.")

    def deactivate(self) -> None:
        """Release resources; idempotent."""

    def __enter__(self) -> "Runner":
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()
