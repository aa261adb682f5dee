"""The beauty stage: find and follow the faces, then smooth and tone their skin and reshape jaw and eyes.

It runs on the inference thread after the person stage and before the look, so the look styles the
retouched face (the order of an influencer's stack: retouch, then the filter).  It is on only while some
beauty amount is above 0 (``--beauty``, the ``beauty`` control); then :class:`~livestyle.people.face.FaceTracker`
runs BlazeFace every 30 frames (or when a face is lost) and the 468-point landmark model on each tracked
face (at most :data:`~livestyle.people.face.MAX_FACES`, the largest first; a face that holds still or only
moves reuses the model's last points on up to 3 frames in a row), with One Euro smoothing, and
:class:`livestyle.ops.beauty.Retoucher` retouches each face (its skin cells and warp kept and moved
with the face while the face only moves).  A frame with no face goes through unchanged.

The frame as captured is kept in ``work.extra["original"]`` (the panel's "before" picture).  Parts
(timed names): ``face`` (tracking) and ``beauty`` (the retouch).
"""

from __future__ import annotations

import time

from livestyle.controls import ControlState
from livestyle.ops import beauty as ops
from livestyle.people.face import FaceTracker
from livestyle.stages import Stage, Work

__all__ = ["BeautyStage"]


class BeautyStage(Stage):
    """See the module docstring.  ``frame_size`` (W, H); ``tracker`` may be given (tests).

    Raises :class:`~livestyle.people.models.ModelMissing` when a face model file is missing or corrupt.
    """

    name = "beauty"
    parts = ("face", "beauty")

    def __init__(self, frame_size: tuple[int, int], *, fps: float = 30.0, tracker: FaceTracker | None = None):
        super().__init__()
        self.tracker = tracker or FaceTracker(tuple(frame_size), fps=fps)
        self.retoucher = ops.Retoucher()
        self._was_on = False
        self.faces = 0

    def enabled(self, state: ControlState) -> bool:
        return state.beauty_active

    def process(self, work: Work) -> None:
        if not self._was_on:  # tracks and smoothing from before an off stretch would lag: start afresh
            self.tracker.reset()
            self.retoucher.reset()
            self._was_on = True
        t0 = time.perf_counter()
        image = work.frame.image
        faces = self.tracker.update(image, t=work.frame.t_capture)
        t1 = time.perf_counter()
        self.faces = len(faces)
        if faces:
            work.extra.setdefault("original", image)
            work.frame.image = self.retoucher.apply(image, faces, ops.Beauty(**work.state.beauty_amounts))
        t2 = time.perf_counter()
        work.frame.stages["face"], work.frame.stages["beauty"] = t1 - t0, t2 - t1

    def skip(self, work: Work) -> None:
        self._was_on = False

    def status(self, state: ControlState) -> tuple[str, list[str]]:
        if not self.enabled(state):
            return "", []
        return "", [f"beauty, {self.faces} face{'s' if self.faces != 1 else ''}"]

    def state(self) -> dict:
        return {"faces": self.faces}
