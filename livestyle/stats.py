"""Per-frame measurement in fixed memory, for streams that run for hours.

* :class:`LatencyHistogram` — a streaming histogram with geometric bins
  (2 % wide, 0.05 ms .. 20 s): percentiles within 2 % of the exact value,
  the same few kilobytes after one frame or ten million.
* :class:`RecentWindow` — the last few seconds of (time, value) pairs in a
  ring buffer of fixed length, for "p95 over the last 5 s" on the control API.
* :class:`FrameRecord` — what the output thread knows about each frame it
  sent; handed to ``on_frame`` observers (``livestyle bench`` writes them as CSV).
* :class:`RunStats` — the pipeline's counters plus the above, one per run.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

# The two thread ends of every run; the stages between them come from the run's stage list
# (:func:`livestyle.stages.timed_names`), each stage with its own meter.
THREAD_ENDS = ("capture", "output")


class LatencyHistogram:
    """Streaming histogram of durations in seconds; fixed memory (``bins`` counters).

    Bin ``i`` holds values in ``[lo * r**i, lo * r**(i+1))`` with ``r = 1 + rel``;
    values below ``lo`` go to bin 0 and above ``hi`` to the last bin.  A
    percentile is the geometric middle of the bin where the cumulative count
    crosses it, so it is within ``rel / 2`` of a true sample value.
    """

    __slots__ = ("lo", "ratio", "counts", "count", "total", "max", "min", "_log_lo", "_log_r")

    def __init__(self, lo: float = 5e-5, hi: float = 20.0, rel: float = 0.02):
        self.lo, self.ratio = lo, 1.0 + rel
        self._log_lo, self._log_r = math.log(lo), math.log(self.ratio)
        n = int(math.ceil((math.log(hi) - self._log_lo) / self._log_r)) + 1
        self.counts = np.zeros(n, np.int64)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    def add(self, seconds: float) -> None:
        v = max(0.0, float(seconds))
        i = 0 if v <= self.lo else min(len(self.counts) - 1, int((math.log(v) - self._log_lo) / self._log_r))
        self.counts[i] += 1
        self.count += 1
        self.total += v
        self.max = max(self.max, v)
        self.min = min(self.min, v)

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0..100) in seconds, or None when empty."""
        if self.count == 0:
            return None
        if p >= 100:
            return self.max
        target = max(1, math.ceil(self.count * p / 100.0))
        i = int(np.searchsorted(np.cumsum(self.counts), target))
        mid = self.lo * self.ratio ** (i + 0.5) if i > 0 else self.lo
        return float(min(max(mid, self.min), self.max))

    def percentiles_ms(self, ps=(50, 95, 99)) -> dict[str, float | None]:
        out = {}
        for p in ps:
            v = self.percentile(p)
            out[f"p{p}"] = None if v is None else round(v * 1000.0, 3)
        return out

    @property
    def nbytes(self) -> int:
        return int(self.counts.nbytes)


class RecentWindow:
    """(time, value) pairs from the last ``seconds``; a ring buffer of ``maxlen`` entries at most."""

    def __init__(self, seconds: float = 5.0, maxlen: int = 2048):
        self.seconds = seconds
        self._items: deque[tuple[float, float]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, t: float, value: float) -> None:
        with self._lock:
            self._items.append((t, value))

    def values(self, now: float | None = None, seconds: float | None = None) -> list[float]:
        """Values from the last ``seconds`` (default: the window's length)."""
        now = time.perf_counter() if now is None else now
        span = self.seconds if seconds is None else seconds
        with self._lock:
            return [v for t, v in self._items if now - t <= span]

    def times(self, now: float | None = None) -> list[float]:
        now = time.perf_counter() if now is None else now
        with self._lock:
            return [t for t, _ in self._items if now - t <= self.seconds]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def maxlen(self) -> int:
        return self._items.maxlen or 0


class ControlLatency(LatencyHistogram):
    """Control change -> first output frame that shows it, in fixed memory (a :class:`LatencyHistogram`)."""

    __slots__ = ("version",)

    def __init__(self, version: int = 0):
        super().__init__()
        self.version = version  # the control version the output shows

    def sent(self, state, look: str, t_send: float) -> None:
        """A frame made with control snapshot ``state`` showing ``look`` (a label) went out at ``t_send``."""
        if state.version != self.version and look == state.label:
            if state.version > self.version:
                self.add(t_send - state.t_changed)
            self.version = state.version


class CpuMeter:
    """Process CPU use over the last few seconds: (perf_counter, process_time) samples in a short ring."""

    def __init__(self, every_s: float = 0.25, span_s: float = 5.0):
        self.every_s, self.span_s = every_s, span_s
        self.samples: deque[tuple[float, float]] = deque(maxlen=64)

    def sample(self, now: float) -> None:
        """Take a sample if ``every_s`` passed since the last one (call often, from one thread)."""
        if self.samples and now - self.samples[-1][0] < self.every_s:
            return
        self.samples.append((now, time.process_time()))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.span_s:
            self.samples.popleft()

    def percent(self) -> float | None:
        """CPU use between the oldest and newest sample, in % of one core; None before two samples."""
        if len(self.samples) < 2:
            return None
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return round(100.0 * (c1 - c0) / max(1e-6, t1 - t0), 1)


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One sent frame, as the output thread saw it.  Times are ``time.perf_counter()`` seconds.

    ``look`` names what was on screen (``"pastel"``, or ``"pastel:0.70,mono:0.30"`` for a
    blend); ``stages`` holds seconds per timed name, in the run's order (capture, each
    stage's parts, output; 0 for a stage switched off on this frame); ``dropped`` is the run's
    total of dropped frames so far; ``cpu_s`` the process CPU time (user + system)
    spent since the previous record; ``infer_size`` the (width, height) the frame was
    styled at (it moves when the adaptive quality controller steps).
    """

    index: int
    t_capture: float
    t_send: float
    stages: dict[str, float]
    look: str
    strength: float
    bypass: bool
    infer_size: tuple[int, int]
    dropped: int
    cpu_s: float

    @property
    def latency_s(self) -> float:
        return self.t_send - self.t_capture


@dataclass
class RunStats:
    """Counters and fixed-size latency statistics of one pipeline run (``stages``: the thread ends only)."""

    frames_in: int = 0
    frames_out: int = 0
    repeated: int = 0
    dropped_steady: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    stages: dict[str, LatencyHistogram] = field(default_factory=lambda: {s: LatencyHistogram() for s in THREAD_ENDS})
    recent_latency: RecentWindow = field(default_factory=RecentWindow)
    cpu_per_frame: LatencyHistogram = field(default_factory=LatencyHistogram)
    t_first_out: float | None = None
    t_last_out: float | None = None
    t_start: float = field(default_factory=time.perf_counter)

    def record_frame(self, t_send: float, t_capture: float, stages: dict[str, float]) -> None:
        """Count one sent frame (called from the output thread only)."""
        lat = t_send - t_capture
        self.latency.add(lat)
        self.recent_latency.add(t_send, lat)
        for s, hist in self.stages.items():
            hist.add(stages.get(s, 0.0))
        self.frames_out += 1
        if self.t_first_out is None:
            self.t_first_out = t_send
        self.t_last_out = t_send

    def recent(self, now: float | None = None) -> dict:
        """fps and capture->send p50/p95 (ms) over the recent window."""
        now = time.perf_counter() if now is None else now
        lats = self.recent_latency.values(now)
        times = self.recent_latency.times(now)
        fps = 0.0
        if len(times) > 1 and times[-1] > times[0]:
            fps = (len(times) - 1) / (times[-1] - times[0])
        if not lats:
            return {"fps": round(fps, 2), "p50_ms": None, "p95_ms": None}
        arr = np.asarray(lats) * 1000.0
        return {"fps": round(fps, 2), "p50_ms": round(float(np.percentile(arr, 50)), 2),
                "p95_ms": round(float(np.percentile(arr, 95)), 2)}

    def memory_bytes(self) -> int:
        """Bytes held by the statistics arrays (constant for a run)."""
        return (self.latency.nbytes + sum(h.nbytes for h in self.stages.values()) + self.cpu_per_frame.nbytes
                + self.recent_latency.maxlen * 2 * 8)
