"""The Runner interface shared by every inference backend.

Shaped after Polygraphy's runners: ``activate`` loads and allocates once,
``infer`` is called per frame, ``deactivate`` releases; the time of the last
call is kept in ``last_inference_time``.
"""

from __future__ import annotations

import abc
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from livestyle.styles.pack import StylePack


NVIDIA_PROC = "/proc/driver/nvidia/version"


def nvidia_driver() -> str | None:
    """The loaded NVIDIA kernel driver's version line, or None when there is none.

    The one driver probe every backend, ``doctor`` and the engine cache use: on
    Linux it reads /proc (no torch import, no subprocess); elsewhere it returns
    ``"unknown"`` and leaves the verdict to CUDA itself.
    """
    if not sys.platform.startswith("linux"):
        return "unknown (not Linux: CUDA decides)"
    try:
        with open(NVIDIA_PROC) as f:
            return f.readline().strip() or "NVIDIA driver"
    except OSError:
        return None


NO_DRIVER_REASON = f"no NVIDIA driver is loaded ({NVIDIA_PROC} is missing)"
NO_DRIVER_FIX = "install the NVIDIA driver (this needs a machine with an NVIDIA GPU)"


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

    ``infer(image, weights=None)`` takes uint8 BGR of shape (h, w, 3) where
    (w, h) is the ``infer_size`` given at construction, and returns a uint8
    BGR array of the same shape.  The returned array may be a buffer the
    runner reuses: the caller must consume it before the next ``infer`` call.

    ``infer`` is a template: it checks the frame, times the call and hands
    over to the backend's own :meth:`_infer`.  A runner whose graph holds
    several looks (an *engine*) sets ``n_looks`` to K after :meth:`activate`
    and takes ``weights``, float32 of shape (K,), one weight per look.
    """

    name: str = ""
    device: str = "cpu"
    resizable: bool = False  # True when set_infer_size() is cheap (no rebuild): the adaptive quality controller

    def __init__(self, style: "StylePack", *, infer_size: tuple[int, int]):
        self.style = style
        self.infer_size = infer_size
        self.last_inference_time = 0.0
        self.n_looks: int | None = None  # K for a multi-look engine, None for a single look
        self._smoother = None            # the per-frame mix state of an engine that smooths it (reset_state)

    def infer(self, image: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """uint8 BGR (h, w, 3) -> uint8 BGR (h, w, 3); ``weights`` float32 (K,) for an engine."""
        self.check_frame(image)
        if self.n_looks is not None:
            if weights is None:
                from livestyle.errors import BackendError

                raise BackendError(f"The {self.name} runner holds {self.n_looks} looks and needs their weights.",
                                   fix="Pass weights=np.array([...], np.float32), one per look.")
            weights = np.asarray(weights, np.float32).reshape(-1)
            if weights.shape != (self.n_looks,):
                from livestyle.errors import BackendError

                raise BackendError(f"The {self.name} runner holds {self.n_looks} looks; got {weights.shape[0]} "
                                   "weights.", fix="Pass one weight per look.")
        t0 = time.perf_counter()
        out = self._infer(image, weights)
        self.last_inference_time = time.perf_counter() - t0
        return out

    @abc.abstractmethod
    def _infer(self, image: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """The backend's own part of :meth:`infer` (input already checked)."""

    @classmethod
    @abc.abstractmethod
    def probe(cls) -> BackendStatus:
        """Cheap check (no model load) of whether this backend can run on this machine."""

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model and allocate buffers; raise ModelError / BackendError with a fix."""

    def set_infer_size(self, size: tuple[int, int]) -> None:
        """Run at another (width, height) from the next call on; only where ``resizable``."""
        from livestyle.errors import BackendError

        raise BackendError(f"The {self.name} runner cannot change its inference size while running.",
                           fix="Restart with another --infer-size.")

    def check_frame(self, image: np.ndarray) -> None:
        """Raise BackendError unless ``image`` is uint8 (h, w, 3) at the inference size."""
        w, h = self.infer_size
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            from livestyle.errors import BackendError

            raise BackendError(f"The {self.name} runner expects uint8 ({h}, {w}, 3) frames; got {image.dtype} "
                               f"{tuple(image.shape)}.", fix="Resize frames to the inference size first.")

    def reset_state(self) -> None:
        """Forget the frames seen so far: the next frame's grade is its own (an unrelated image, a new clip).

        Only engines that smooth their per-frame LUT mix keep such state: a
        runner of one sets ``_smoother`` (a :class:`livestyle.runners.contract.MixSmoother`);
        for the others this does nothing.
        """
        if self._smoother is not None:
            self._smoother.reset()

    def deactivate(self) -> None:
        """Release resources; idempotent."""

    def __enter__(self) -> "Runner":
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()
