"""Frame stages: the ordered work the pipeline does on each frame between capture and output.

A :class:`Stage` has a ``name``, the timed ``parts`` it reports (default: its
name alone), a bounded :class:`StageMeter` (one fixed-size histogram per part,
plus counts of frames it ran on and skipped) and an on/off switch,
:meth:`Stage.enabled`, read from the frame's control snapshot.  The pipeline
calls, per frame and in list order, :meth:`Stage.process` (or
:meth:`Stage.skip` when switched off) on its inference thread, then
:meth:`Stage.finish` on its output thread with the full-size image.

The report, the control API, the status line and ``livestyle bench`` list
stages from the list (:func:`timed_names`): capture and output are the two
thread ends, everything between comes from the stages.  Today's list is one
stage, :class:`~livestyle.stages.look.LookStage` (parts preprocess, infer,
postprocess); a person-mask or background stage goes before or after it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from livestyle.controls import ControlState
from livestyle.frame import Frame
from livestyle.stats import THREAD_ENDS, LatencyHistogram

__all__ = ["Stage", "StageMeter", "Work", "finish_all", "process_all", "record_all", "timed_names"]


class StageMeter:
    """Per-part durations of one stage in fixed memory, and how many sent frames it ran on or skipped."""

    __slots__ = ("parts", "ran", "skipped")

    def __init__(self, names: Sequence[str]):
        self.parts: dict[str, LatencyHistogram] = {n: LatencyHistogram() for n in names}
        self.ran = 0
        self.skipped = 0

    def record(self, stages: dict[str, float], ran: bool) -> None:
        """Count one sent frame: ``stages`` maps part names to seconds (a missing part counts as 0)."""
        for name, hist in self.parts.items():
            hist.add(stages.get(name, 0.0))
        if ran:
            self.ran += 1
        else:
            self.skipped += 1

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes for h in self.parts.values())


@dataclass(slots=True)
class Work:
    """One frame on its way from the inference thread to the output thread.

    ``state`` is the control snapshot the frame is made with.  The look stage
    fills ``small`` (the frame at the inference size) and ``styled`` (its
    styled version; both uint8 BGR (h, w, 3)), ``look`` (what the output
    shows: it differs from ``state``'s look while a new one loads or after a
    load failed), ``strength`` (the strength to blend with; 0 in bypass) and
    ``infer_size`` (w, h; the pipeline starts it at the output size).
    ``skipped`` names the stages switched off for this frame; ``extra`` holds
    what other stages hand their :meth:`Stage.finish` (a mask, ...).
    """

    frame: Frame
    state: ControlState
    look: str = ""
    strength: float = 0.0
    small: np.ndarray | None = None
    styled: np.ndarray | None = None
    infer_size: tuple[int, int] = (0, 0)
    skipped: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Stage:
    """One step of the per-frame work; subclasses override what they need (see the module docstring).

    A stage with one part is timed by the pipeline (``process`` under its
    name, ``finish`` added to it); a stage with several parts writes its own
    times into ``work.frame.stages`` in ``process``, and ``finish`` is added
    to its last part.
    """

    name = "stage"
    parts: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.timed: tuple[str, ...] = tuple(self.parts) or (self.name,)  # the names it reports times under
        self.meter = StageMeter(self.timed)

    def enabled(self, state: ControlState) -> bool:
        """The stage's on/off switch for a frame made with ``state`` (default: always on)."""
        return True

    def process(self, work: Work) -> None:
        """Inference thread: do this stage's work on ``work``."""

    def skip(self, work: Work) -> None:
        """Inference thread, instead of :meth:`process` while the stage is switched off."""

    def finish(self, work: Work, image: np.ndarray) -> np.ndarray:
        """Output thread: the full-size output image (uint8 BGR (H, W, 3)) after this stage."""
        return image

    def status(self, state: ControlState) -> tuple[str, list[str]]:
        """(what this stage puts at the front of the status line, notes for its end) for ``state``."""
        return "", ([] if self.enabled(state) else [f"{self.name} off"])

    def state(self) -> dict:
        """What this stage adds to the control API's state and the report (cheap)."""
        return {}


def timed_names(stages: Sequence[Stage]) -> tuple[str, ...]:
    """Every timed name of a run in order: capture, each stage's parts, output."""
    return (THREAD_ENDS[0], *(n for s in stages for n in s.timed), THREAD_ENDS[1])


def process_all(stages: Sequence[Stage], work: Work) -> None:
    """Inference thread: each stage in order, :meth:`Stage.process` when its switch is on, else :meth:`Stage.skip`."""
    frame = work.frame
    for stage in stages:
        if not stage.enabled(work.state):
            work.skipped.append(stage.name)
            stage.skip(work)
            continue
        t0 = time.perf_counter()
        stage.process(work)
        if not stage.parts:
            frame.stages[stage.name] = time.perf_counter() - t0


def finish_all(stages: Sequence[Stage], work: Work) -> np.ndarray:
    """Output thread: the frame's full-size image through each stage that ran, timed into its last part."""
    frame, out = work.frame, work.frame.image
    for stage in stages:
        if stage.name not in work.skipped:
            t0 = time.perf_counter()
            out = stage.finish(work, out)
            last = stage.timed[-1]
            frame.stages[last] = frame.stages.get(last, 0.0) + (time.perf_counter() - t0)
    return out


def record_all(stages: Sequence[Stage], work: Work) -> None:
    """Output thread, per sent frame: each stage's meter counts the frame (ran or skipped) and its times."""
    for stage in stages:
        stage.meter.record(work.frame.stages, stage.name not in work.skipped)
