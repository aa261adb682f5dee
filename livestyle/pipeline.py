"""Source -> runner bank -> sink, on three threads; the only module that knows all three.

::

    capture thread ──► [newest slot] ──► inference thread ──► [newest slot] ──► output thread
    source.read()                        controls snapshot,                    upsample + blend,
                                         downscale, bank.infer,                sink.send, stats,
                                         temporal filter -> Styled             preview keys

Frames are dropped only at the two slots (live sources) and counted; offline
files use blocking slots so every frame is processed.  Every frame carries
its capture time, so capture->send latency is measured per frame.  Each
frame reads one :class:`~livestyle.controls.ControlState` snapshot; looks are
loaded by the :class:`~livestyle.runners.bank.RunnerBank` off the hot path,
and a look that fails to load leaves the current one on screen (the status
line, the report and the control API say so).  While a live source
reconnects, the output thread keeps re-sending the last good frame so a
virtual camera never freezes on its consumers.  Statistics use fixed memory
(:mod:`livestyle.stats`).  The temporal filter runs (``--temporal auto``)
only while a look with a CNN is in the mix: colour looks are per-pixel grades
and skip its ~6 ms a frame.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livestyle.controls import ControlState, Controls, format_weights
from livestyle.errors import UsageError
from livestyle.frame import MIN_SIDE, Frame
from livestyle.fsutil import check_output_path, write_json_atomic
from livestyle.ops.upsample import METHODS, downscale, upsample
from livestyle.slot import Closed, NewestSlot
from livestyle.stats import STAGES, FrameRecord, LatencyHistogram, RunStats

log = logging.getLogger(__name__)

FADE_S = 0.15  # cross-fade between looks on preview keys / next-previous (about 5 frames at 30 fps)
ADAPT_AFTER_S = 1.5  # the adaptive controller ignores start-up (first inferences, looks loading in the background)
QUALITY_MODES = ("auto", "fixed")
TEMPORAL_MODES = ("auto", "on", "off")
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                                 getattr(signal, "SIGHUP", None)) if s is not None)

__all__ = ["RunConfig", "Pipeline", "Styled", "parse_size", "run", "default_infer_size", "align_infer_size"]


@dataclass(frozen=True)
class RunConfig:
    """Everything ``livestyle run`` needs; sizes are (width, height).

    ``style`` is a look name, a pack folder, or a blend such as
    ``"pastel:0.7,mono:0.3"``.  ``control`` is (host, port) for the HTTP
    control API, or None.  ``quality`` is ``"auto"`` (adapt the inference
    size to hold the frame rate; live sources only) or ``"fixed"``.
    ``temporal`` is ``"auto"`` (the motion-aware filter runs while a look with
    a CNN is in the mix, and not for colour looks alone: a colour look's pixel
    follows its input pixel, and measured through the engine their flicker is
    below the camera's own, see benchmarks/RESULTS.md), ``"on"`` or ``"off"``;
    True and False mean "on" and "off".
    """

    input: str = "demo"
    output: str = "null"
    style: str | None = None
    strength: float = 1.0
    size: tuple[int, int] | None = None
    fps: float | None = None
    backend: str = "auto"
    infer_size: tuple[int, int] | None = None
    max_frames: int | None = None
    report: str | None = None
    realtime: bool = False
    upsample: str = "detail"
    temporal: bool | str = "auto"
    vcam_device: str | None = None
    warmup_s: float = 1.0  # drops in the first second (caches, first inference) are not "steady state"
    control: tuple[str, int] | None = None
    control_token: str | None = None
    obs: str | None = None
    obs_password: str | None = None
    obs_mic: str | None = None
    quality: str = "auto"
    max_fps: float | None = None
    remember_quality: bool = True  # start where the last such run settled, and remember this one's size

    @property
    def temporal_mode(self) -> str:
        """``temporal`` as one of TEMPORAL_MODES (True -> "on", False -> "off")."""
        if self.temporal is True:
            return "on"
        if self.temporal is False:
            return "off"
        return self.temporal

    def validate(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise UsageError(f"--strength {self.strength} is outside 0..1.", fix="Use a value such as 0.8.")
        if self.upsample not in METHODS:
            raise UsageError(f"--upsample {self.upsample!r} is not one of {', '.join(METHODS)}.")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"--max-frames {self.max_frames} must be at least 1.")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise UsageError(f"--fps {self.fps} is outside 1..240.")
        if self.max_fps is not None and not 0 < self.max_fps <= 240:
            raise UsageError(f"--max-fps {self.max_fps} is outside 1..240.")
        if self.temporal_mode not in TEMPORAL_MODES:
            raise UsageError(f"--temporal {self.temporal!r} is not one of {', '.join(TEMPORAL_MODES)}.")
        if self.quality not in QUALITY_MODES:
            raise UsageError(f"--quality {self.quality!r} is not one of {', '.join(QUALITY_MODES)}.")
        for flag, size in (("--size", self.size), ("--infer-size", self.infer_size)):
            if size is not None and min(size) < MIN_SIDE:
                raise UsageError(f"{flag} {size[0]}x{size[1]} is too small: livestyle needs at least "
                                 f"{MIN_SIDE} pixels on each side (its motion filter works on a pyramid).",
                                 fix=f"Use {flag} {max(size[0], MIN_SIDE)}x{max(size[1], MIN_SIDE)} or larger.")


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """'1280x720' -> (1280, 720); anything else is a UsageError."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        w, h = int(parts[0]), int(parts[1])
        if 1 <= w <= 7680 and 1 <= h <= 4320:
            if min(w, h) < MIN_SIDE:
                raise UsageError(f"{flag} {text} is too small: livestyle needs at least {MIN_SIDE} pixels on "
                                 "each side (its motion filter works on a pyramid).",
                                 fix=f"Use {flag} {max(w, MIN_SIDE)}x{max(h, MIN_SIDE)} or larger.")
            return w, h
    raise UsageError(f"{flag} {text!r} is not a size of the form WxH.", fix=f"Write it like {flag} 1280x720.")


def default_infer_size(size: tuple[int, int], long_side: int = 512) -> tuple[int, int]:
    """CPU inference size: the frame's aspect ratio, long side ``long_side``, multiples of 8.

    512 on the long side (512x288 for 16:9) was chosen by measurement: see
    benchmarks/RESULTS.md (``infer-size sweep``).  On a CUDA backend :func:`run`
    infers at the full output size instead.
    """
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(8, int(round(w * scale / 8)) * 8), max(8, int(round(h * scale / 8)) * 8)


def align_infer_size(size: tuple[int, int], multiple: int = 4) -> tuple[int, int]:
    """Round down to multiples of ``multiple`` (the looks' ``size_multiple``: 4 for the CNN student, whose
    generator halves the frame twice; 1 for colour-LUT looks)."""
    m = max(1, int(multiple))
    return max(m, size[0] // m * m), max(m, size[1] // m * m)


@dataclass(slots=True)
class Styled:
    """What the inference thread hands the output thread for one frame.

    ``small`` is the frame at the inference size and ``styled`` the bank's
    output for it (both uint8 BGR (h, w, 3)); ``state`` is the control
    snapshot the frame was made with; ``look`` names what ``styled`` shows
    (it differs from ``state``'s look while a new one loads or after a load
    failed); ``strength`` is the strength to blend with (0 in bypass).
    """

    frame: Frame
    small: np.ndarray
    styled: np.ndarray
    state: ControlState
    look: str
    strength: float


@dataclass
class _Shown:
    """The inference thread's view of what is on screen and what it is fading from."""

    weights: dict[str, float]
    fade_from: dict[str, float] | None = None
    t_fade: float = 0.0
    version: int = -1
    wanted: dict[str, float] = field(default_factory=dict)


def _blend_weights(a: dict[str, float], b: dict[str, float], t: float) -> dict[str, float]:
    keys = set(a) | set(b)
    return {k: (1 - t) * a.get(k, 0.0) + t * b.get(k, 0.0) for k in keys if (1 - t) * a.get(k, 0.0) + t * b.get(k, 0.0) > 0}


class Pipeline:
    """Wires an opened source, a runner bank and an opened sink; see the module docstring.

    ``controls`` holds the live settings; ``on_frame`` observers get a
    :class:`FrameRecord` per sent frame (from the output thread: keep them cheap).
    """

    def __init__(self, cfg: RunConfig, *, source, sink, bank, controls: Controls, out_size: tuple[int, int],
                 infer_size: tuple[int, int], fps: float, backend: str = "",
                 on_frame: Callable[[FrameRecord], None] | None = None):
        self.cfg = cfg
        self.source, self.sink, self.bank, self.controls = source, sink, bank, controls
        self.out_size, self.infer_size, self.fps = out_size, infer_size, fps
        self.backend = backend
        self.on_frame = on_frame
        self.live = bool(source.live)
        self.stats = RunStats()
        self.control_latency = LatencyHistogram()  # control change -> first output frame showing it
        self.stop = threading.Event()
        self.stop_reason = ""
        self.stop_signal: int | None = None
        self.error: BaseException | None = None
        self._slot_in: NewestSlot = NewestSlot(block=not self.live)
        self._slot_out: NewestSlot = NewestSlot(block=not self.live)
        self._shown = _Shown(weights=controls.snapshot().weight_map, version=controls.snapshot().version)
        self.on_screen = format_weights(self._shown.weights)
        self.look_error: str | None = None
        self.loading: str | None = None
        self.latest: tuple[np.ndarray, np.ndarray] | None = None  # (output, original) of the last sent frame
        self.capped = 0
        self._temporal = None
        self._temporal_on = False  # whether the filter ran on the previous frame (auto mode turns it on and off)
        self.temporal_frames = 0   # frames the filter ran on
        if cfg.temporal_mode != "off":
            from livestyle.ops.temporal import TemporalFilter
            self._temporal = TemporalFilter()
        self.adaptive = None
        self.quality_key: str | None = None   # the record of the size runs like this one settled at
        self.quality_start: list[int] | None = None  # the remembered size this run started at, if any
        if cfg.quality == "auto" and self.live and cfg.infer_size is None and bank.resizable:
            from livestyle.adaptive import AdaptiveQuality, quality_key, remembered_start
            self.adaptive = AdaptiveQuality(infer_size, fps)
            bank.warm_at(self.adaptive.levels)  # ONNX Runtime's buffers for every size now, not mid-stream
            cnn = not bank.pointwise(controls.snapshot().weight_map)
            self.quality_key = quality_key(backend, out_size, fps, cnn)
            start = remembered_start(self.quality_key) if cfg.remember_quality else None
            if start in self.adaptive.levels[1:] and bank.set_infer_size(start):
                self.adaptive.start_at(start)
                self.infer_size = start
                self.quality_start = list(start)
                log.warning("quality: starting at %dx%d, where the last run at %dx%d, %g fps settled (it moves "
                            "up again if there is room)", *start, *out_size, fps)
        self._status, self._status_t = "", -1.0
        self._filter_for: dict[tuple[str, ...], bool] = {}  # looks on screen -> whether the filter runs (auto)
        self.server = None  # the ControlServer, when --control is on
        self.obs = None     # the ObsLink, when --obs is on
        self._cpu = deque(maxlen=64)  # (perf_counter, process_time) samples for the recent CPU %

    # -- threads ---------------------------------------------------------------------------
    def _guard(self, fn):
        def run():
            try:
                fn()
            except Closed:
                pass
            except BaseException as e:  # surfaced by run() in the main thread
                if self.error is None:
                    self.error = e
                self.stop.set()
                self._slot_in.close()
                self._slot_out.close()
        return run

    def _steady(self, t: float) -> bool:
        return t - self.stats.t_start > self.cfg.warmup_s

    def _capture_loop(self) -> None:
        try:
            self._capture_frames()
        finally:
            self._slot_in.close()

    def _capture_frames(self) -> None:
        src, (out_w, out_h) = self.source, self.out_size
        min_gap = 1.0 / self.cfg.max_fps if self.cfg.max_fps else 0.0
        t_last_accept = -1e9
        index = 0
        while not self.stop.is_set():
            skipped_before = getattr(src, "skipped", 0)
            t0 = time.perf_counter()
            img = src.read()
            t1 = time.perf_counter()
            if img is None:
                break
            if self._steady(t1):  # frames a paced source skipped are drops too
                self.stats.dropped_steady += getattr(src, "skipped", 0) - skipped_before
            ready = src.frame_ready_time
            t_cap = ready if (ready is not None and ready <= t1) else (t1 if self.live else t0)
            if min_gap and t_cap - t_last_accept < min_gap * 0.95:
                self.capped += 1  # --max-fps: a deliberate skip, not a drop
                continue
            t_last_accept = t_cap
            if img.shape[1] != out_w or img.shape[0] != out_h:
                img = downscale(img, (out_w, out_h))
            t2 = time.perf_counter()
            self.stats.frames_in += 1
            frame = Frame(image=img, index=index, t_capture=t_cap, stages={"capture": t2 - t_cap})
            index += 1
            before = self._slot_in.dropped
            self._slot_in.put(frame)
            if self._slot_in.dropped > before and self._steady(t2):
                self.stats.dropped_steady += 1

    def _infer_loop(self) -> None:
        try:
            self._infer_frames()
        finally:
            self._slot_out.close()

    def _target_weights(self, state: ControlState, now: float) -> dict[str, float]:
        """The weights to style this frame with: follow the controls once their looks are loaded, fading if asked."""
        shown, bank = self._shown, self.bank
        if state.version != shown.version:
            shown.version = state.version
            wanted = state.weight_map
            if wanted != shown.wanted:
                shown.wanted = wanted
                bank.forget_failure(wanted)
        wanted = shown.wanted or shown.weights
        if wanted != shown.weights:
            before = (self.on_screen, self.loading, self.look_error)
            status = bank.request(wanted)
            if status == "ready":
                if state.fade and self.live:
                    shown.fade_from, shown.t_fade = dict(shown.weights), now
                else:
                    shown.fade_from = None
                shown.weights = dict(wanted)
                self.on_screen = format_weights(shown.weights)
                self.look_error = self.loading = None
                if self._temporal is not None and shown.fade_from is None:
                    self._temporal.reset()
            elif status == "loading":
                self.loading = format_weights(wanted)
            else:
                self.loading = None
                self.look_error = bank.error(wanted)
            if (self.on_screen, self.loading, self.look_error) != before:
                self._status_t = -1.0  # the status line says what changed at once
        if shown.fade_from is not None:
            t = (now - shown.t_fade) / FADE_S
            if t < 1.0:
                return _blend_weights(shown.fade_from, shown.weights, t)
            shown.fade_from = None
        return shown.weights

    def _infer_frames(self) -> None:
        controls, bank = self.controls, self.bank
        t_lat, lat_p95 = 0.0, None
        while True:
            try:
                frame = self._slot_in.get(timeout=0.1)
            except Closed:
                return
            if frame is None:
                if self.stop.is_set():
                    break
                continue
            t0 = time.perf_counter()
            state = controls.snapshot()
            weights = self._target_weights(state, t0)
            small = downscale(frame.image, self.infer_size)
            t1 = time.perf_counter()
            styled = small if state.bypass else bank.infer(small, weights)
            t2 = time.perf_counter()
            if self._temporal is not None and not state.bypass and self._filter_wanted(weights):
                if not self._temporal_on:
                    self._temporal.reset()  # its history is from before a colour-only stretch: start afresh
                    self._temporal_on = True
                styled = self._temporal.apply(small, styled)
                self.temporal_frames += 1
            else:
                self._temporal_on = False
            t3 = time.perf_counter()
            frame.stages["preprocess"] = t1 - t0
            frame.stages["infer"] = t2 - t1
            frame.stages["postprocess"] = t3 - t2
            label = self.on_screen if weights is self._shown.weights else format_weights(weights)
            item = Styled(frame, small, styled, state, label, state.effective_strength)
            before_in, before_out = self._slot_in.dropped, self._slot_out.dropped
            self._slot_out.put(item)
            if self._slot_out.dropped > before_out and self._steady(t3):
                self.stats.dropped_steady += 1
            if self.adaptive is not None and t0 - self.stats.t_start > ADAPT_AFTER_S:
                dropped = (self._slot_in.dropped - before_in) + (self._slot_out.dropped - before_out)
                if t3 - t_lat >= 0.5:  # capture->send p95 over the last second, twice a second
                    lats = self.stats.recent_latency.values(t3, 1.0)
                    lat_p95 = float(np.percentile(lats, 95)) if len(lats) >= 5 else None
                    t_lat = t3
                new = self.adaptive.observe(t3, t3 - t0, dropped, t3 - self.stats.t_start, lat_p95)
                if new is not None and bank.set_infer_size(new):
                    change = self.adaptive.changes[-1]
                    if change.to_size[0] < change.from_size[0]:
                        log.warning("quality: busy machine, styling at %dx%d instead of %dx%d to hold %g fps (%s)",
                                    *change.to_size, *change.from_size, self.fps, change.reason)
                    else:
                        log.warning("quality: the load eased, styling at %dx%d again (%s)", *change.to_size,
                                    change.reason)
                    self.infer_size = new
                    if self._temporal is not None:
                        self._temporal.reset()

    def _filter_wanted(self, weights: dict[str, float]) -> bool:
        """Whether the temporal filter should run for a frame styled with ``weights``."""
        if self.cfg.temporal_mode == "on":
            return True
        key = tuple(sorted(k for k, v in weights.items() if v > 0))
        wanted = self._filter_for.get(key)
        if wanted is None:
            wanted = self._filter_for[key] = not self.bank.pointwise(dict.fromkeys(key, 1.0))
        return wanted

    def remember_quality(self) -> bool:
        """After the run: store the inference size it settled at for the next run like it (runs of 20 s or more)."""
        if (self.adaptive is None or self.quality_key is None or self.stats.t_last_out is None
                or not self.cfg.remember_quality):
            return False
        from livestyle.adaptive import remember

        t_run = self.stats.t_last_out - self.stats.t_start
        return remember(self.quality_key, self.adaptive.settled_size(t_run), t_run)

    def status_line(self) -> str:
        """The preview's status strip; rebuilt at most 4 times a second (it costs a percentile over the window)."""
        now = time.perf_counter()
        if now - self._status_t < 0.25:
            return self._status
        rec = self.stats.recent(now)
        s = self.controls.snapshot()
        mode = "BYPASS" if s.bypass else f"{self.on_screen} x{s.strength:.1f}"
        extra = f" | loading {self.loading}" if self.loading else ""
        if self.look_error:
            extra += " | LOOK NOT CHANGED: " + self.look_error
        p50 = rec["p50_ms"] or 0.0
        self._status = f"{mode} | {rec['fps']:.1f} fps | {p50:.0f} ms | {self.backend}{extra}"
        self._status_t = now
        return self._status

    def _output_loop(self) -> None:
        st, sink, cfg = self.stats, self.sink, self.cfg
        repeat_after = 2.0 / self.fps
        last_image = None
        last_send = time.perf_counter()
        shown_version = self.controls.snapshot().version
        cpu_prev = time.process_time()
        while True:
            try:
                item = self._slot_out.get(timeout=repeat_after if self.live else 0.1)
            except Closed:
                break
            now = time.perf_counter()
            if item is None:
                # live source stalled or reconnecting: keep the virtual camera fed
                if self.live and last_image is not None and now - last_send >= repeat_after and not self.stop.is_set():
                    sink.send(Frame(image=last_image, index=-1, t_capture=now), status=self.status_line())
                    st.repeated += 1
                    last_send = time.perf_counter()
                self._poll(sink)
                if self.stop.is_set() and not self.live:
                    break
                continue
            frame = item.frame
            t0 = time.perf_counter()
            out = (upsample(cfg.upsample, frame.image, item.small, item.styled, item.strength)
                   if item.strength > 0 else frame.image)
            t1 = time.perf_counter()
            frame.stages["postprocess"] = frame.stages.get("postprocess", 0.0) + (t1 - t0)
            sink.send(frame.with_image(out), original=frame.image, status=self.status_line())
            t2 = time.perf_counter()
            frame.stages["output"] = t2 - t1
            st.record_frame(t2, frame.t_capture, frame.stages)
            if item.state.version != shown_version and item.look == item.state.label:
                if item.state.version > shown_version:
                    self.control_latency.add(t2 - item.state.t_changed)
                shown_version = item.state.version
            self.latest = (out, frame.image)
            cpu_now = time.process_time()
            st.cpu_per_frame.add(cpu_now - cpu_prev)
            if self.on_frame is not None:
                self.on_frame(FrameRecord(frame.index, frame.t_capture, t2, dict(frame.stages), item.look,
                                          item.strength, item.state.bypass, self.infer_size, self.dropped_total,
                                          cpu_now - cpu_prev))
            cpu_prev = cpu_now
            last_image, last_send = out, t2
            self._poll(sink)
            if cfg.max_frames is not None and st.frames_out >= cfg.max_frames:
                self.request_stop("max-frames reached")
                break

    def _poll(self, sink) -> None:
        c = self.controls
        for cmd in sink.poll():
            if cmd.kind == "strength":
                c.nudge_strength(cmd.value)
            elif cmd.kind == "bypass":
                c.toggle_bypass()
            elif cmd.kind == "style":
                i = int(cmd.value)
                if 0 <= i < len(c.looks):
                    c.set_look(c.looks[i], fade=True)
            elif cmd.kind == "quit":
                c.request_quit()
        if c.quit_requested:
            self.request_stop("quit key")

    # -- control ---------------------------------------------------------------------------
    @property
    def dropped_total(self) -> int:
        return self._slot_in.dropped + self._slot_out.dropped + int(getattr(self.source, "skipped", 0) or 0)

    def request_stop(self, reason: str) -> None:
        """Stop the run soon (from any thread): the threads drain, the sink is finalised by the caller."""
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def _on_signal(self, signum, _frame) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        self.request_stop(signal.Signals(signum).name)

    def cpu_percent(self) -> float | None:
        """Process CPU use over the last few seconds, in % of one core."""
        if len(self._cpu) < 2:
            return None
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        return round(100.0 * (c1 - c0) / max(1e-6, t1 - t0), 1)

    def run(self, *, tick: Callable[[], None] | None = None) -> None:
        """Run until the source ends, --max-frames, a quit key, a signal or an error.

        SIGINT, SIGTERM and SIGHUP stop the run cleanly (the sink is finalised by
        the caller); :attr:`stop_signal` says which one came.  ``tick`` is called
        about 20 times a second from this (the main) thread.
        """
        threads = [threading.Thread(target=self._guard(fn), name=name, daemon=True)
                   for name, fn in (("capture", self._capture_loop), ("inference", self._infer_loop),
                                    ("output", self._output_loop))]
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self.stats.t_start = time.perf_counter()
            for t in threads:
                t.start()
            last_cpu = 0.0
            while any(t.is_alive() for t in threads):
                if self.stop.wait(0.05):
                    break
                now = time.perf_counter()
                if now - last_cpu >= 0.25:
                    self._cpu.append((now, time.process_time()))
                    while len(self._cpu) > 2 and now - self._cpu[0][0] > 5.0:
                        self._cpu.popleft()
                    last_cpu = now
                if tick is not None:
                    tick()
            self.stop.set()
            # unblock everything: a blocked read(), waiting slots
            self.source.close()
            self._slot_in.close()
            self._slot_out.close()
            for t in threads:
                t.join(timeout=5.0)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not self.stop_reason:
            self.stop_reason = "end of input"
        if self.error is not None:
            raise self.error

    # -- views -----------------------------------------------------------------------------
    def state(self) -> dict:
        """The live state the control API serves (cheap: fixed-size windows only)."""
        s = self.controls.snapshot()
        rec = self.stats.recent()
        return {
            "look": self.on_screen,
            "weights": {k: round(v, 4) for k, v in self._shown.weights.items()},
            "requested": s.label,
            "loading": self.loading,
            "error": self.look_error,
            "strength": s.strength,
            "bypass": s.bypass,
            "fps_out": rec["fps"],
            "fps_target": self.fps,
            "latency_ms": {"p50": rec["p50_ms"], "p95": rec["p95_ms"], "window_s": self.stats.recent_latency.seconds},
            "added_delay_ms": rec["p50_ms"],
            "dropped": self.dropped_total,
            "frames_out": self.stats.frames_out,
            "backend": self.backend,
            "size": list(self.out_size),
            "infer_size": list(self.infer_size),
            "cpu_percent": self.cpu_percent(),
            "looks": list(self.controls.looks),
            "version": s.version,
            "obs": self.obs.state() if self.obs is not None else None,
        }

    def report(self, *, backend_choice=None) -> dict:
        st = self.stats
        dur = max(1e-6, (st.t_last_out or time.perf_counter()) - st.t_start)
        out_span = (st.t_last_out - st.t_first_out) if (st.t_first_out and st.frames_out > 1) else None
        skipped = int(getattr(self.source, "skipped", 0) or 0)
        s = self.controls.snapshot()
        written = getattr(self.sink, "written_size", None)
        cpu_ms = st.cpu_per_frame.percentiles_ms((50, 95))
        rep = {
            "frames_in": st.frames_in,
            "frames_out": st.frames_out,
            "dropped": self.dropped_total,
            "dropped_at": {"capture_slot": self._slot_in.dropped, "output_slot": self._slot_out.dropped,
                           "source_skipped": skipped},
            "dropped_steady": st.dropped_steady,
            "capped_by_max_fps": self.capped,
            "repeated": st.repeated,
            "fps_in": round(st.frames_in / dur, 2),
            "fps_out": round((st.frames_out - 1) / out_span, 2) if out_span else 0.0,
            "fps_target": self.fps,
            "duration_s": round(dur, 3),
            "size": list(written) if written else list(self.out_size),
            "infer_size": list(self.infer_size),
            "input": getattr(self.source, "description", "") or self.cfg.input,
            "output": getattr(self.sink, "description", "") or self.cfg.output,
            "live": self.live,
            "style": self.on_screen,
            "weights": {k: round(v, 4) for k, v in self._shown.weights.items()},
            "look_error": self.look_error,
            "strength": s.strength,
            "bypass": s.bypass,
            "upsample": self.cfg.upsample,
            "temporal_filter": self.cfg.temporal_mode,
            "temporal_filtered_frames": self.temporal_frames,
            "latency_ms": {
                "capture_to_send": st.latency.percentiles_ms(),
                "stages": {k: h.percentiles_ms((50, 95)) for k, h in st.stages.items()},
                "control_to_frame": {**self.control_latency.percentiles_ms((50, 95)),
                                     "count": self.control_latency.count},
            },
            "cpu_ms_per_frame": cpu_ms,
            "quality": {
                "mode": "auto" if self.adaptive is not None else "fixed",
                "changes": [c.to_json() for c in self.adaptive.changes] if self.adaptive else [],
                "n_changes": self.adaptive.n_changes if self.adaptive else 0,
                "started_at_remembered": self.quality_start,
            },
            "reconnects": int(getattr(self.source, "reconnects", 0) or 0),
            "stopped_by": self.stop_reason,
        }
        for attr in ("frames_promised", "frames_read"):
            v = getattr(self.source, attr, None)
            if v is not None:
                rep.setdefault("source", {})[attr] = v
        for attr in ("errors", "recoveries"):
            v = getattr(self.sink, attr, None)
            if isinstance(v, int):
                rep.setdefault("sink", {})[attr] = v
        if backend_choice is not None:
            rep["backend"] = backend_choice.backend
            rep["device"] = backend_choice.device
            rep["backend_reason"] = backend_choice.reason
            rep["backends_not_used"] = backend_choice.skipped
        return rep


def _resolve_style(spec: str | None, styles) -> tuple[dict[str, float], object]:
    """``--style`` -> (look weights, the pack to build the first runner from)."""
    from livestyle.styles import find_style, parse_blend

    if spec and ("," in spec or (":" in spec and not Path(spec).exists())):
        weights = parse_blend(spec, packs=styles)
        first = next(s for s in styles if s.name == max(weights, key=weights.get))
        return weights, first
    style = find_style(spec)  # unknown style: fail before opening devices
    return {style.name: 1.0}, style


def _check_paths(cfg: RunConfig) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other."""
    from livestyle.sinks.registry import VIDEO_SUFFIXES

    inputs = [("--input", cfg.input)] if "://" not in cfg.input else []
    if Path(cfg.output).suffix.lower() in VIDEO_SUFFIXES:
        check_output_path(cfg.output, flag="--output", inputs=inputs)
        inputs = inputs + [("--output", cfg.output)]
    if cfg.report:
        check_output_path(cfg.report, flag="--report", inputs=inputs)


def run(cfg: RunConfig, *, on_frame: Callable[[FrameRecord], None] | None = None,
        on_ready: Callable[[Pipeline], None] | None = None) -> dict:
    """Open everything ``cfg`` names, run the pipeline, close everything, return (and write) the report.

    ``on_frame`` gets a :class:`FrameRecord` per sent frame (output thread);
    ``on_ready`` gets the :class:`Pipeline` just before it starts.  The
    report's ``stop_signal`` holds the number of the signal that stopped the
    run (SIGINT, SIGTERM, SIGHUP), else None.
    """
    from livestyle.runners.bank import RunnerBank
    from livestyle.runners.registry import create_runner
    from livestyle.sinks import open_sink
    from livestyle.sources import open_source
    from livestyle.styles import discover

    cfg.validate()
    _check_paths(cfg)
    styles = discover()
    weights, first = _resolve_style(cfg.style, styles)
    if first not in styles:
        styles = [first] + styles
    packs = {s.name: s for s in styles}

    source = open_source(cfg.input, size=cfg.size, fps=cfg.fps, realtime=cfg.realtime)
    sink = open_sink(cfg.output, device=cfg.vcam_device)
    choice = bank = server = obs = pipe = None
    try:
        source.open()
        out_size = cfg.size or tuple(source.size)
        if min(out_size) < MIN_SIDE:
            raise UsageError(f"The input is {out_size[0]}x{out_size[1]}, too small: livestyle needs at least "
                             f"{MIN_SIDE} pixels on each side.", fix=f"Add --size {max(out_size[0], MIN_SIDE)}x"
                                                                  f"{max(out_size[1], MIN_SIDE)} to scale it up.")
        # the size every installed look accepts (a blend or a switch may reach any of them)
        multiple = math.lcm(*(int(getattr(s, "size_multiple", 4)) for s in styles))
        infer_size = align_infer_size(cfg.infer_size or default_infer_size(out_size), multiple)
        fps = float(cfg.fps or source.fps or 30.0)
        # a GPU runs the student at full resolution in a few ms: no need to trade detail for speed
        cuda_size = align_infer_size(out_size, multiple) if cfg.infer_size is None else None
        choice = create_runner(cfg.backend, first, infer_size=infer_size, cuda_infer_size=cuda_size)
        infer_size = choice.runner.infer_size

        def make_runner(pack):  # later looks: same backend, the inference size of the moment
            size = pipe.infer_size if pipe is not None else infer_size
            return create_runner(choice.backend, pack, infer_size=size).runner

        from livestyle.styles import expand

        # ONNX Runtime runs a multi-look engine with its weight vector; the torch runner builds one look's network
        engines = choice.backend == "onnxruntime"
        bank = RunnerBank(packs, make_runner, expand=lambda name: expand(name, packs=styles), engines=engines)
        bank.add(first, choice.runner)
        controls = Controls([s.name for s in styles], weights=weights, strength=cfg.strength)
        sink.open(out_size, fps)
        if getattr(sink, "url", None):  # a network output: say where to point OBS or a browser
            print(f"livestyle: network output {sink.url}", flush=True)
        pipe = Pipeline(cfg, source=source, sink=sink, bank=bank, controls=controls, out_size=out_size,
                        infer_size=infer_size, fps=fps, backend=choice.backend, on_frame=on_frame)
        bank.load(weights)  # every look of the start blend is loaded before the first frame
        if source.live:  # the other looks load in the background, so switching on air is instant
            bank.preload([s.name for s in styles])
        tick = None
        if cfg.control is not None:
            from livestyle.control.server import ControlServer

            server = ControlServer(pipe, host=cfg.control[0], port=cfg.control[1], token=cfg.control_token,
                                   styles=styles)
            server.start()
            pipe.server = server
            print(f"livestyle: control panel {server.panel_url}", flush=True)
        if cfg.obs is not None:
            from livestyle.obs.link import ObsLink

            obs = ObsLink(cfg.obs, cfg.obs_password, cfg.obs_mic, frame_interval_s=1.0 / fps)
            obs.start()
            pipe.obs = obs
            last = [0.0]

            def tick():
                now = time.perf_counter()
                if now - last[0] >= 0.5:
                    last[0] = now
                    rec = pipe.stats.recent(now)
                    if rec["p50_ms"] is not None:
                        obs.update_delay(rec["p50_ms"] / 1000.0 + float(getattr(sink, "extra_delay_s", 0.0)))
        log.info("running %s -> %s with %s on %s at %s (infer %s)", source.description, sink.description,
                 format_weights(weights), choice.backend, out_size, infer_size)
        if on_ready is not None:
            on_ready(pipe)
        pipe.run(tick=tick)
        pipe.remember_quality()
    finally:
        source.close()
        try:
            sink.close()
        finally:
            if obs is not None:
                obs.close()
            if server is not None:
                server.stop()
            if bank is not None:
                bank.close()
            elif choice is not None:
                choice.runner.deactivate()
    rep = pipe.report(backend_choice=choice)
    rep["stop_signal"] = pipe.stop_signal
    if obs is not None:
        rep["obs"] = obs.state()
    if server is not None:
        n = max(1, rep["frames_out"])
        rep["control"] = {"url": server.base_url, "requests": server.requests, "cpu_s": round(server.cpu_s, 4),
                          "cpu_ms_per_frame": round(1000.0 * server.cpu_s / n, 4)}
    if cfg.report:
        write_json_atomic(cfg.report, rep)
    return rep
