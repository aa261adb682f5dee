"""The person stage: where the person is in each frame (a steady, sharp matte), for the stages after it.

It runs on the inference thread before the look stage and hands its :class:`~livestyle.people.person.Matte`
to the later stages in ``work.extra["matte"]``: the look stage uses it for ``--look-on person|background``,
the background stage to blur, replace or cut out the background.  It is switched on only while some
control needs it (a background mode other than ``keep``, or a look on one part only), so it costs nothing
otherwise.  Its rate (``every``: segment every Nth frame, reuse the steady mask between) is what
``--quality auto`` lowers first on a busy machine.
"""

from __future__ import annotations

from livestyle.controls import ControlState
from livestyle.people.person import PersonMatte
from livestyle.stages import Stage, Work

__all__ = ["PersonStage", "needs_person"]

MAX_EVERY = 3  # segment at least every third frame: beyond that a moving arm visibly leaves its mask behind


def needs_person(state: ControlState) -> bool:
    """Whether a frame made with ``state`` needs the person matte."""
    return state.background != "keep" or state.look_on != "both"


class PersonStage(Stage):
    """Segments each frame (or every ``every``-th) with MediaPipe's selfie model; see the module docstring.

    ``frame_size`` (W, H) is the output size; ``matte`` may be given (tests) instead of being built.
    Raises :class:`~livestyle.people.models.ModelMissing` when the model file is missing or corrupt.
    """

    name = "person"

    def __init__(self, frame_size: tuple[int, int], *, every: int = 1, matte: PersonMatte | None = None):
        super().__init__()
        self.matte = matte or PersonMatte(frame_size, every=every)
        self._was_on = False

    @property
    def every(self) -> int:
        return self.matte.every

    def set_every(self, every: int) -> bool:
        """Segment every ``every``-th frame from now on (1..MAX_EVERY); False when out of range."""
        if not 1 <= every <= MAX_EVERY:
            return False
        self.matte.every = every
        return True

    def enabled(self, state: ControlState) -> bool:
        return needs_person(state)

    def process(self, work: Work) -> None:
        if not self._was_on:  # the history is from before an off stretch: start afresh
            self.matte.reset()
            self._was_on = True
        work.extra["matte"] = self.matte.update(work.frame.image)

    def skip(self, work: Work) -> None:
        self._was_on = False

    def status(self, state: ControlState) -> tuple[str, list[str]]:
        if not self.enabled(state):
            return "", []
        return "", ([f"person every {self.every} frames"] if self.every > 1 else [])

    def state(self) -> dict:
        return {"person": {"every": self.every, "model": self.matte.segmenter.model.filename,
                           "model_ms": round(self.matte.model_ms, 2)}}
