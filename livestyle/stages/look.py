"""The look stage: downscale, style through the runner bank, temporal filter; upsample and blend on output.

Parts (timed names): ``preprocess`` (downscale to the inference size),
``infer`` (the bank's looks), ``postprocess`` (the temporal filter, plus the
upsample and strength blend on the output thread).  The stage is switched off
by bypass: the frame goes out as captured, and look switching still follows
the controls so a look picked during bypass is ready when it ends.

With ``--look-on person`` or ``background`` (and the person stage's matte
in ``work.extra``), the styled frame is blended in through the person's
alpha or its complement.

Where the person stage ran, the look's small frame is made from the matte's work frame (already an area
average of the frame) rather than from the full frame again.  Where the background stage replaces
everything outside the person's box (it says so in ``work.extra["replaces_outside"]``), only the box is
upsampled, handed on in ``work.extra["styled_box"]``.

The temporal filter runs (``--temporal auto``) only while a look with a CNN
is in the mix: colour looks are per-pixel grades and skip its ~6 ms a frame.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from livestyle.controls import ControlState
from livestyle.ops.matte import composite
from livestyle.ops.upsample import detail_transfer, downscale, upsample
from livestyle.stages import Stage, Work
from livestyle.stages.switch import LookSwitcher

__all__ = ["LookStage"]


class LookStage(Stage):
    """Styles each frame with the looks the controls ask for; see the module docstring.

    ``bank`` is a :class:`~livestyle.runners.bank.RunnerBank`; ``infer_size``
    (w, h) the size frames are styled at (the adaptive controller moves it
    through :meth:`set_infer_size`); ``temporal`` one of ``"auto"``, ``"on"``,
    ``"off"``; ``method`` the upsample method.
    """

    name = "look"
    parts = ("preprocess", "infer", "postprocess")

    def __init__(self, bank, state: ControlState, *, infer_size: tuple[int, int], live: bool,
                 temporal: str = "auto", method: str = "detail"):
        super().__init__()
        self.bank, self.infer_size, self.method, self.temporal_mode = bank, infer_size, method, temporal
        self.switcher = LookSwitcher(bank, state, live=live)
        self._temporal = None
        self._temporal_on = False  # whether the filter ran on the previous frame (auto mode turns it on and off)
        self.temporal_frames = 0   # frames the filter ran on
        if temporal != "off":
            from livestyle.ops.temporal import TemporalFilter
            self._temporal = TemporalFilter()
        self._filter_for: dict[tuple[str, ...], bool] = {}  # looks on screen -> whether the filter runs (auto)

    def enabled(self, state: ControlState) -> bool:
        return not state.bypass

    def _follow(self, work: Work, now: float) -> dict[str, float]:
        weights, cut = self.switcher.target(work.state, now)
        if cut and self._temporal is not None:
            self._temporal.reset()
        work.look = self.switcher.label(weights)
        work.strength = work.state.effective_strength
        work.infer_size = self.infer_size
        return weights

    def skip(self, work: Work) -> None:
        self._follow(work, time.perf_counter())
        self._temporal_on = False

    def process(self, work: Work) -> None:
        t0 = time.perf_counter()
        weights = self._follow(work, t0)
        m = work.extra.get("matte")
        src = work.frame.image
        if m is not None and m.work.shape[1] >= self.infer_size[0] and m.work.shape[0] >= self.infer_size[1]:
            src = m.work  # the frame area-averaged to the work size: a few times fewer pixels to average again
        small = downscale(src, self.infer_size)
        t1 = time.perf_counter()
        styled = self.bank.infer(small, weights)
        t2 = time.perf_counter()
        if self._temporal is not None and self._filter_wanted(weights):
            if not self._temporal_on:
                self._temporal.reset()  # its history is from before a colour-only stretch: start afresh
                self._temporal_on = True
            styled = self._temporal.apply(small, styled)
            self.temporal_frames += 1
        else:
            self._temporal_on = False
        t3 = time.perf_counter()
        stages = work.frame.stages
        stages["preprocess"], stages["infer"], stages["postprocess"] = t1 - t0, t2 - t1, t3 - t2
        work.small, work.styled = small, styled

    def finish(self, work: Work, image: np.ndarray) -> np.ndarray:
        if work.strength <= 0 or work.styled is None:
            return image
        m = work.extra.get("matte") if work.state.look_on != "both" else None
        strength = 1.0 if m is not None else work.strength  # one part only: blended in by the alpha below
        box = work.extra.get("replaces_outside") if self.method == "detail" else None
        if box is None:
            frame = image
            styled = upsample(self.method, image, work.small, work.styled, strength)
        else:  # outside the box the background stage puts its own picture: style the box only, for it
            x0, y0, x1, y1 = box
            frame = image[y0:y1, x0:x1]
            styled = detail_transfer(frame, work.small, work.styled, strength,
                                     size=(image.shape[1], image.shape[0]), box=box)
        if m is not None:
            # the look on one part only: the full-strength styled frame, blended in by the person's alpha (or its
            # complement) times the strength
            alpha = m.alpha if box is None else m.alpha[box[1]:box[3], box[0]:box[2]]
            a = alpha if work.state.look_on == "person" else cv2.bitwise_not(alpha)
            if work.strength < 1.0:
                a = cv2.convertScaleAbs(a, alpha=work.strength)
            styled = composite(styled, a, frame)
        if box is None:
            return styled
        work.extra["styled_box"] = styled  # uint8 BGR (y1 - y0, x1 - x0, 3)
        return image

    def _filter_wanted(self, weights: dict[str, float]) -> bool:
        """Whether the temporal filter should run for a frame styled with ``weights``."""
        if self.temporal_mode == "on":
            return True
        key = tuple(sorted(k for k, v in weights.items() if v > 0))
        wanted = self._filter_for.get(key)
        if wanted is None:
            wanted = self._filter_for[key] = not self.bank.pointwise(dict.fromkeys(key, 1.0))
        return wanted

    def set_infer_size(self, size: tuple[int, int]) -> bool:
        """Style at ``size`` (w, h) from the next frame on; False when the bank cannot (the size stays)."""
        if not self.bank.set_infer_size(size):
            return False
        self.infer_size = size
        if self._temporal is not None:
            self._temporal.reset()
        return True

    def status(self, state: ControlState) -> tuple[str, list[str]]:
        sw = self.switcher
        notes = [f"loading {sw.loading}"] if sw.loading else []
        if sw.look_error:
            notes.append("LOOK NOT CHANGED: " + sw.look_error)
        return ("BYPASS" if state.bypass else f"{sw.on_screen} x{state.strength:.1f}"), notes

    def state(self) -> dict:
        sw = self.switcher
        return {"look": sw.on_screen, "weights": {k: round(v, 4) for k, v in sw.weights.items()},
                "loading": sw.loading, "error": sw.look_error, "infer_size": list(self.infer_size)}

