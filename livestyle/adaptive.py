"""Adaptive quality: hold the frame rate on a busy machine by styling at a lower resolution.

The inference thread reports, per frame, how long its work took (downscale,
inference, temporal filter) and whether a frame was dropped in front of it.
When the work no longer fits the frame interval (the 90th percentile over the
last second above 85 % of it), frames are being dropped, or capture->send
latency over the last second passes two frame intervals while the work
still takes over 40 % of the interval (below that, a smaller size cannot
give the other steps much back), the controller
steps the inference size down one level; when there has been room to spare
for a while (the work, scaled to the next size up, below 60 % of the
interval, no drops for 3 s), it steps back up.  Half a second at least
passes between steps down (each judged on the frames since the last step)
and 3 s before a step up, so one slow frame never causes a change.

A level that proved too slow is held off for a while before the controller
tries it again (3 s, then 6, 12 ... up to 2 minutes on repeated bounces), so
a machine that is borderline settles instead of oscillating.

A run remembers the size it settled at (:class:`QualityRun`, through
:func:`remembered_start` and :func:`remember`) per backend, frame size, frame rate and kind of look, and
the next run starts there: at 1080p60 on two cores the walk down from 512
took about 4 s of late frames at every start.

With the person stage running, the first step down is not a size: the
person model goes to every second frame (the steady mask is reused between,
and still refined against each new frame), and only the next step lowers the
inference size.  Once the size is back at the top and the work has had room
for 6 s, the person model runs on every frame again.  Both are logged and
listed in the report (``quality.rate_changes``).

Levels keep the aspect ratio: long side 512 (the measured default), 448, 384,
320, 256, 192, in multiples of 8.  Every change is returned to the caller,
who logs it and counts it in the report.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

LONG_SIDES = (512, 448, 384, 320, 256, 192)
LATE_WORK_SHARE = 0.4  # late output steps the size down only while the work p90 is above this share of the interval


def levels_for(base: tuple[int, int], long_sides=LONG_SIDES) -> list[tuple[int, int]]:
    """Inference sizes from ``base`` (width, height) down, aspect kept, multiples of 8, no repeats."""
    w, h = base
    out = [base]
    for side in long_sides:
        scale = side / max(w, h)
        if scale >= 1.0:
            continue
        size = (max(8, int(round(w * scale / 8)) * 8), max(8, int(round(h * scale / 8)) * 8))
        if size not in out and size[0] < out[-1][0]:
            out.append(size)
    return out


@dataclass(frozen=True, slots=True)
class QualityChange:
    """One step of the controller: at ``t_s`` seconds into the run, ``from_size`` -> ``to_size`` (w, h)."""

    t_s: float
    from_size: tuple[int, int]
    to_size: tuple[int, int]
    reason: str

    def to_json(self) -> dict:
        return {"t_s": round(self.t_s, 3), "from": list(self.from_size), "to": list(self.to_size),
                "reason": self.reason}


class AdaptiveQuality:
    """Decides the inference size from measured work time and drops; see the module docstring."""

    def __init__(self, base: tuple[int, int], fps: float, *, window_s: float = 1.0, min_gap_s: float = 0.5,
                 calm_s: float = 3.0):
        self.levels = levels_for(base)
        self.level = 0
        self.budget = 1.0 / max(1.0, fps)
        self.window_s, self.min_gap_s, self.calm_s = window_s, min_gap_s, calm_s
        self._work: deque[tuple[float, float]] = deque(maxlen=512)
        self._drops: deque[float] = deque(maxlen=512)
        self._t_change = -1e9
        self._hold_until: dict[int, float] = {}  # level -> no stepping up to it before this time
        self._backoff: dict[int, float] = {}     # level -> current hold length (doubles on each bounce)
        self.changes: deque[QualityChange] = deque(maxlen=256)  # the latest; n_changes counts them all
        self.n_changes = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.levels[self.level]

    def start_at(self, size: tuple[int, int]) -> None:
        """Begin at ``size`` (w, h), one of :attr:`levels` (a size an earlier run settled at)."""
        self.level = self.levels.index(tuple(size))

    def settled_size(self, t_run: float, *, skip_s: float = 5.0) -> tuple[int, int]:
        """The size to remember at ``t_run`` s into the run: the one held longest from ``skip_s`` s on.

        Not simply the last one: a size stepped up to after a calm spell can hold a few seconds and still be
        too slow (at 1080p60 a run that ended on such a step made the next run start there and drop frames).
        """
        if not self.changes:
            return self.size
        held: dict[tuple[int, int], float] = {}
        t_prev, size = 0.0, self.changes[0].from_size
        for c in [*self.changes, None]:
            t_end = t_run if c is None else c.t_s
            start = max(t_prev, skip_s)
            if t_end > start:
                held[size] = held.get(size, 0.0) + (t_end - start)
            if c is not None:
                t_prev, size = c.t_s, c.to_size
        return max(held, key=held.get) if held else self.size

    def observe(self, now: float, work_s: float, dropped: int, t_run: float,
                latency_p95: float | None = None) -> tuple[int, int] | None:
        """Record one frame's work (s) and drops since the last call; return a new size when it should change.

        ``latency_p95`` (s), when given, is capture->send over the last second: above two frame
        intervals it steps down too (the other threads need the core as well), and stepping up
        waits until it is below one and a half.
        """
        self._work.append((now, work_s))
        for _ in range(min(dropped, 8)):
            self._drops.append(now)
        if now - self._t_change < self.min_gap_s:
            return None
        recent = [w for t, w in self._work if now - t <= self.window_s]
        if len(recent) < 5:
            return None
        p90 = float(np.percentile(recent, 90))
        drops_1s = sum(1 for t in self._drops if now - t <= self.window_s)
        drops_calm = sum(1 for t in self._drops if now - t <= self.calm_s)
        new_level = self.level
        reason = ""
        # Late frames call for a smaller size only while styling is still a real share of the frame
        # interval: at 1080p60 on two cores decoding and upsampling alone kept capture->send above two
        # intervals, and the controller used to walk down to the smallest size for nothing.
        late = (latency_p95 is not None and latency_p95 > 2.0 * self.budget
                and p90 > LATE_WORK_SHARE * self.budget)
        if (p90 > 0.85 * self.budget or drops_1s >= 2 or late) and self.level + 1 < len(self.levels):
            new_level = self.level + 1
            # this level did not fit: come back to it only after a hold that doubles on every bounce
            hold = min(120.0, self._backoff.get(self.level, self.calm_s / 2) * 2)
            self._backoff[self.level] = hold
            self._hold_until[self.level] = now + hold
            reason = (f"work p90 {p90 * 1000:.1f} ms of a {self.budget * 1000:.1f} ms frame interval, "
                      f"{drops_1s} drops in the last {self.window_s:.0f} s"
                      + (f", capture->send p95 {latency_p95 * 1000:.0f} ms" if late else ""))
        elif (self.level > 0 and drops_calm == 0 and now - self._t_change >= self.calm_s
              and now >= self._hold_until.get(self.level - 1, 0.0)
              and (latency_p95 is None or latency_p95 < 1.5 * self.budget)):
            cur, up = self.levels[self.level], self.levels[self.level - 1]
            scaled = p90 * (up[0] * up[1]) / (cur[0] * cur[1])
            if scaled < 0.6 * self.budget:
                new_level = self.level - 1
                reason = f"room to spare: work p90 {p90 * 1000:.1f} ms, no drops for {self.calm_s:.0f} s"
        if new_level == self.level:
            return None
        change = QualityChange(t_run, self.size, self.levels[new_level], reason)
        self.changes.append(change)
        self.n_changes += 1
        self.level = new_level
        self._t_change = now
        self._work.clear()
        return self.size


QUALITY_STATE = "quality-sizes.json"  # the sizes runs settled at, in livestyle's state folder
REMEMBER_AFTER_S = 20.0              # runs shorter than this leave the record as it was


def quality_key(backend: str, out_size: tuple[int, int], fps: float, cnn: bool) -> str:
    """The record a run reads and writes: ``onnxruntime|1920x1080@60|colour``."""
    return f"{backend}|{out_size[0]}x{out_size[1]}@{fps:g}|{'cnn' if cnn else 'colour'}"


def _record(key: str):
    from livestyle.fsutil import KeyedRecord, state_path

    return KeyedRecord(state_path(QUALITY_STATE), key)


def remembered_start(key: str) -> tuple[int, int] | None:
    """The inference size the last run with ``key`` settled at, or None."""
    rec = _record(key).get()
    size = rec.get("size") if rec else None
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return size[0], size[1]
    return None


def remember(key: str, size: tuple[int, int], run_s: float) -> bool:
    """Store ``size`` for ``key`` after a run of ``run_s`` seconds (atomically); True when stored."""
    if run_s < REMEMBER_AFTER_S:
        return False
    _record(key).put({"size": [int(size[0]), int(size[1])], "run_s": round(run_s, 1)})
    return True


ADAPT_AFTER_S = 1.5  # the controller ignores start-up (first inferences, looks loading in the background)


class QualityRun:
    """The adaptive controller's hand-offs with one run: where it starts, what it sees per frame, what it keeps.

    ``stage`` is the stage whose inference size is adapted (it has ``bank``,
    ``infer_size`` and ``set_infer_size(size) -> bool``).  At start the bank
    warms every level (ONNX Runtime's buffers now, not mid-stream) and, with
    ``remember``, the run starts at the size the last run like it settled at.
    """

    def __init__(self, stage, *, backend: str, out_size: tuple[int, int], fps: float, cnn: bool,
                 remember: bool = True, rate_stage=None, controls=None):
        self.stage, self.fps, self.remember = stage, fps, remember
        # a stage whose rate goes down before the inference size does (the person stage: ``every``,
        # ``set_every(n)``, ``enabled(state)``), and the controls whose snapshot says whether it runs
        self.rate_stage, self.controls = rate_stage, controls
        self.rate_changes: list[dict] = []
        self._rate_work: deque[tuple[float, float]] = deque(maxlen=256)
        self._t_rate = -1e9
        self.controller = AdaptiveQuality(stage.infer_size, fps)
        stage.bank.warm_at(self.controller.levels)
        self.key = quality_key(backend, out_size, fps, cnn)  # the record of the size runs like this one settled at
        self.start: list[int] | None = None  # the remembered size this run started at, if any
        self._t_lat, self._lat_p95 = 0.0, None
        start = remembered_start(self.key) if remember else None
        if start in self.controller.levels[1:] and stage.set_infer_size(start):
            self.controller.start_at(start)
            self.start = list(start)
            log.warning("quality: starting at %dx%d, where the last run at %dx%d, %g fps settled (it moves "
                        "up again if there is room)", *start, *out_size, fps)

    def observe(self, t0: float, t_end: float, dropped: int, stats) -> None:
        """One frame's work from ``t0`` to ``t_end`` (perf_counter s) with ``dropped`` frames lost in front of it.

        ``stats`` is the run's :class:`~livestyle.stats.RunStats` (its start time and recent latency).
        """
        if t0 - stats.t_start <= ADAPT_AFTER_S:
            return
        if t_end - self._t_lat >= 0.5:  # capture->send p95 over the last second, twice a second
            lats = stats.recent_latency.values(t_end, 1.0)
            self._lat_p95 = float(np.percentile(lats, 95)) if len(lats) >= 5 else None
            self._t_lat = t_end
        new = self.controller.observe(t_end, t_end - t0, dropped, t_end - stats.t_start, self._lat_p95)
        if self._rate_first(new, t0, t_end, dropped, stats):
            return
        if new is not None and self.stage.set_infer_size(new):
            change = self.controller.changes[-1]
            if change.to_size[0] < change.from_size[0]:
                log.warning("quality: busy machine, styling at %dx%d instead of %dx%d to hold %g fps (%s)",
                            *change.to_size, *change.from_size, self.fps, change.reason)
            else:
                log.warning("quality: the load eased, styling at %dx%d again (%s)", *change.to_size, change.reason)

    def _rate_active(self) -> bool:
        return (self.rate_stage is not None and self.controls is not None
                and self.rate_stage.enabled(self.controls.snapshot()))

    def _rate_first(self, new, t0: float, t_end: float, dropped: int, stats) -> bool:
        """Lower the rate stage's rate instead of the inference size (True: the size step was taken back), or
        raise it again once the size is back at the top and there has been room for a while."""
        self._rate_work.append((t_end, t_end - t0))
        if not self._rate_active():
            return False
        c, rs, t_run = self.controller, self.rate_stage, t_end - stats.t_start
        if new is not None and rs.every == 1 and c.changes and c.changes[-1].to_size[0] < c.changes[-1].from_size[0]:
            change = c.changes.pop()  # the person's rate goes down first; the look keeps its size
            c.n_changes -= 1
            c.level = c.levels.index(change.from_size)
            rs.set_every(2)
            self._t_rate = t_end
            self.rate_changes.append({"t_s": round(t_run, 3), "stage": rs.name, "every": 2, "reason": change.reason})
            log.warning("quality: busy machine, the %s stage runs every 2nd frame (the look keeps %dx%d) to hold "
                        "%g fps (%s)", rs.name, *change.from_size, self.fps, change.reason)
            return True
        if rs.every > 1 and c.level == 0 and dropped == 0 and t_end - self._t_rate >= 6.0:
            recent = [w for t, w in self._rate_work if t_end - t <= 1.0]
            # the work, with the person model on every frame again (its share roughly doubles), must fit easily
            if len(recent) >= 5 and float(np.percentile(recent, 90)) < 0.45 * c.budget:
                rs.set_every(1)
                self._t_rate = t_end
                self.rate_changes.append({"t_s": round(t_run, 3), "stage": rs.name, "every": 1,
                                          "reason": "room to spare"})
                log.warning("quality: the load eased, the %s stage runs on every frame again", rs.name)
        return False

    def remember_run(self, stats) -> bool:
        """After the run: store the size it settled at for the next run like it (runs of 20 s or more)."""
        if stats.t_last_out is None or not self.remember:
            return False
        t_run = stats.t_last_out - stats.t_start
        return remember(self.key, self.controller.settled_size(t_run), t_run)

    def to_json(self) -> dict:
        c = self.controller
        return {"mode": "auto", "changes": [ch.to_json() for ch in c.changes], "n_changes": c.n_changes,
                "started_at_remembered": self.start, "rate_changes": list(self.rate_changes)}
