"""The tensors a look graph exchanges with its runner, and the per-frame state an engine carries.

A single look (format 1) takes one uint8 image (1, H, W, 3) and returns one.
An engine of K colour looks also takes ``weights`` float32 (1, K); an engine
of format 3 also carries the smoothed basis-LUT coefficients from frame to
frame: it takes ``mix_state`` float32 (K, bases) and ``mix_rate`` float32 (1,)
and returns ``mix_next`` (K, bases) besides the image.  The runner feeds
``mix_next`` back as the next frame's ``mix_state`` (:class:`MixSmoother`),
so the image-adaptive part of the grade moves smoothly instead of jumping
with every frame's thumbnail (a flash, someone walking through the shot).

Every backend (ONNX Runtime, TensorRT) and the TensorRT builder read the
names from here.
"""

from __future__ import annotations

import time

import numpy as np

from livestyle.errors import ModelError

WEIGHTS = "weights"
MIX_STATE = "mix_state"
MIX_RATE = "mix_rate"
MIX_NEXT = "mix_next"
AUX_INPUTS = frozenset({WEIGHTS, MIX_STATE, MIX_RATE})

# How far each frame moves the coefficients toward its own: 0.2 a frame is a time constant of 4.5 frames
# (0.15 s at 30 fps, 0.075 s at 60 fps): a new scene is followed in about half a second, a single odd
# frame moves the grade a fifth as much as it would unsmoothed.
SMOOTHING_RATE = 0.2
# A runner idle for longer than this (a look switched away and back, a paused stream) starts afresh.
STALE_S = 0.5


def split_io(inputs: list[str], outputs: list[str], source: str, fix: str) -> tuple[str, str, bool]:
    """The image input, the image output and whether the graph carries a mix state; ModelError if malformed.

    The one check of the names a look graph uses, for every backend and the
    TensorRT builder: exactly one image in and out besides the engine's
    tensors; ``mix_state``, ``mix_rate`` and ``mix_next`` all or none, and
    a state only beside ``weights``.
    """
    images = [n for n in inputs if n not in AUX_INPUTS]
    images_out = [n for n in outputs if n != MIX_NEXT]
    has_state = MIX_STATE in inputs
    if len(images) != 1 or len(images_out) != 1 or has_state != (MIX_RATE in inputs) \
            or has_state != (MIX_NEXT in outputs) or (has_state and WEIGHTS not in inputs):
        raise ModelError(f"{source} has inputs {list(inputs)} and outputs {list(outputs)}; expected one image in and "
                         "out, plus 'weights' for an engine, plus 'mix_state', 'mix_rate' and 'mix_next' for an "
                         "engine that smooths its grade.", fix=fix)
    return images[0], images_out[0], has_state


class MixSmoother:
    """The ``mix_state`` / ``mix_rate`` feeds of one runner and the state between frames.

    ``rate`` is the per-frame rate (1 = no smoothing).  The first frame, the
    first after :meth:`reset` and the first after ``stale_s`` seconds
    without a frame take their own coefficients (rate 1).
    """

    def __init__(self, shape: tuple[int, int], *, rate: float = SMOOTHING_RATE, stale_s: float = STALE_S,
                 host: bool = True):
        # fed as mix_state / bound as mix_next (copied into state after each frame); a GPU runner keeps
        # both on the device (host=False) and uses this object only for the rate
        self.state = np.zeros(shape, np.float32) if host else None
        self.next = np.zeros(shape, np.float32) if host else None
        self.rate = float(rate)
        self.stale_s = float(stale_s)
        self._rate = np.ones(1, np.float32)        # fed as mix_rate
        self._last = None                          # perf_counter of the last frame, None after a reset

    def reset(self) -> None:
        """The next frame starts afresh (a new clip, an unrelated still image)."""
        self._last = None

    def before(self) -> np.ndarray:
        """The ``mix_rate`` feed for the coming frame."""
        now = time.perf_counter()
        fresh = self._last is None or now - self._last > self.stale_s
        self._rate[0] = 1.0 if fresh else self.rate
        return self._rate

    def after(self) -> None:
        """Take the graph's ``mix_next`` as the state for the next frame."""
        if self.next is not None:
            np.copyto(self.state, self.next)
        self._last = time.perf_counter()


def still_feeds(sess, bgr: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Feeds for one unrelated frame through an ONNX Runtime session of any look graph (tests, benchmarks).

    ``bgr`` uint8 (1, H, W, 3); ``weights`` float32 (1, K) for an engine.  A
    graph with a mix state gets a fresh one (``mix_rate`` 1: the frame's own
    grade).  The image output comes first in ``sess.run(None, feeds)``.
    """
    inputs = {t.name: t for t in sess.get_inputs()}
    image = next(n for n in inputs if n not in AUX_INPUTS)
    feeds = {image: bgr}
    if WEIGHTS in inputs:
        feeds[WEIGHTS] = np.asarray(weights, np.float32).reshape(1, -1)
    if MIX_STATE in inputs:
        feeds[MIX_STATE] = np.zeros(inputs[MIX_STATE].shape, np.float32)
        feeds[MIX_RATE] = np.ones(1, np.float32)
    return feeds
