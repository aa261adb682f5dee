"""Source -> runner -> sink, on three threads; the only module that knows all three.

::

    capture thread ──► [newest slot] ──► inference thread ──► [newest slot] ──► output thread
    source.read()                        downscale, infer,                      upsample + blend,
                                         temporal filter                         sink.send, keys

Frames are dropped only at the two slots (live sources) and counted; offline
files use blocking slots so every frame is processed.  Every frame carries
its capture time, so capture->send latency is measured per frame.  While a
live source reconnects, the output thread keeps re-sending the last good
frame so a virtual camera never freezes on its consumers.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livestyle.errors import LivestyleError, UsageError
from livestyle.frame import Frame
from livestyle.ops.upsample import METHODS, downscale, upsample
from livestyle.slot import Closed, NewestSlot

log = logging.getLogger(__name__)

STAGES = ("capture", "preprocess", "infer", "postprocess", "output")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``livestyle run`` needs; sizes are (width, height)."""

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
    temporal: bool = True
    vcam_device: str | None = None
    warmup_s: float = 1.0  # drops in the first second (caches, first inference) are not "steady state"

    def validate(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise UsageError(f"--strength {self.strength} is outside 0..1.", fix="Use a value such as 0.8.")
        if self.upsample not in METHODS:
            raise UsageError(f"--upsample {self.upsample!r} is not one of {', '.join(METHODS)}.")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"--max-frames {self.max_frames} must be at least 1.")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise UsageError(f"--fps {self.fps} is outside 1..240.")


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """'1280x720' -> (1280, 720); anything else is a UsageError."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        w, h = int(parts[0]), int(parts[1])
        if 16 <= w <= 7680 and 16 <= h <= 4320:
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


def align_infer_size(size: tuple[int, int]) -> tuple[int, int]:
    """Round to multiples of 4 (the generator halves the frame twice)."""
    return max(4, size[0] // 4 * 4), max(4, size[1] // 4 * 4)


class Controls:
    """Live settings the preview keys change while the stream runs (thread-safe enough: plain attributes)."""

    def __init__(self, strength: float, style_index: int, n_styles: int):
        self.strength = strength
        self.bypass = False
        self.style_index = style_index
        self.n_styles = n_styles
        self.quit = False

    def apply(self, cmd) -> None:
        if cmd.kind == "strength":
            self.strength = float(min(1.0, max(0.0, round(self.strength + cmd.value, 2))))
        elif cmd.kind == "bypass":
            self.bypass = not self.bypass
        elif cmd.kind == "style" and 0 <= int(cmd.value) < self.n_styles:
            self.style_index = int(cmd.value)
        elif cmd.kind == "quit":
            self.quit = True


def _pcts(values: list[float], ps=(50, 95, 99)) -> dict[str, float]:
    if not values:
        return {f"p{p}": None for p in ps}
    arr = np.asarray(values) * 1000.0
    return {f"p{p}": round(float(np.percentile(arr, p)), 3) for p in ps}


@dataclass
class Stats:
    frames_in: int = 0
    frames_out: int = 0
    repeated: int = 0
    dropped_steady: int = 0
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    t_first_out: float | None = None
    t_last_out: float | None = None
    t_start: float = field(default_factory=time.perf_counter)


class Pipeline:
    """Wires an opened source, a style list with runner factory, and an opened sink; see module doc."""

    def __init__(self, cfg: RunConfig, *, source, sink, runner, styles, style_index: int,
                 make_runner, out_size: tuple[int, int], infer_size: tuple[int, int], fps: float):
        self.cfg = cfg
        self.source, self.sink, self.runner = source, sink, runner
        self.styles, self.make_runner = styles, make_runner
        self.out_size, self.infer_size, self.fps = out_size, infer_size, fps
        self.live = bool(source.live)
        self.controls = Controls(cfg.strength, style_index, len(styles))
        self.stats = Stats()
        self.stop = threading.Event()
        self.stop_reason = ""
        self.error: BaseException | None = None
        self._slot_in: NewestSlot = NewestSlot(block=not self.live)
        self._slot_out: NewestSlot = NewestSlot(block=not self.live)
        self._pending_runner = None
        self._runners = {style_index: runner}
        self._switching = False
        self._temporal = None
        if cfg.temporal:
            from livestyle.ops.temporal import TemporalFilter
            self._temporal = TemporalFilter()

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

    def _capture_loop(self) -> None:
        try:
            self._capture_frames()
        finally:
            self._slot_in.close()

    def _capture_frames(self) -> None:
        src, out_w, out_h = self.source, *self.out_size
        index = 0
        while not self.stop.is_set():
            skipped_before = getattr(src, "skipped", 0)
            t0 = time.perf_counter()
            img = src.read()
            t1 = time.perf_counter()
            if img is None:
                break
            if t1 - self.stats.t_start > self.cfg.warmup_s:  # frames a paced source skipped are drops too
                self.stats.dropped_steady += getattr(src, "skipped", 0) - skipped_before
            ready = src.frame_ready_time
            t_cap = ready if (ready is not None and ready <= t1) else (t1 if self.live else t0)
            if img.shape[1] != out_w or img.shape[0] != out_h:
                img = downscale(img, (out_w, out_h))
            t2 = time.perf_counter()
            self.stats.frames_in += 1
            frame = Frame(image=img, index=index, t_capture=t_cap, stages={"capture": t2 - t_cap})
            index += 1
            before = self._slot_in.dropped
            self._slot_in.put(frame)
            if self._slot_in.dropped > before and t2 - self.stats.t_start > self.cfg.warmup_s:
                self.stats.dropped_steady += 1

    def _switch_style(self, idx: int) -> None:
        """Load another style's runner off the hot path; the inference thread swaps it in."""
        def load():
            try:
                runner = self._runners.get(idx) or self.make_runner(self.styles[idx])
                self._runners[idx] = runner
                self._pending_runner = (idx, runner)
            except LivestyleError as e:
                log.warning("cannot switch to style %s: %s", self.styles[idx].name, e)
            finally:
                self._switching = False
        self._switching = True
        threading.Thread(target=load, name="style-loader", daemon=True).start()

    def _infer_loop(self) -> None:
        try:
            self._infer_frames()
        finally:
            self._slot_out.close()

    def _infer_frames(self) -> None:
        current = self.controls.style_index
        while True:
            try:
                frame = self._slot_in.get(timeout=0.1)
            except Closed:
                return
            if frame is None:
                if self.stop.is_set():
                    break
                continue
            if self.controls.style_index != current and not self._switching:
                self._switch_style(self.controls.style_index)
                current = self.controls.style_index
            if self._pending_runner is not None:
                idx, self.runner = self._pending_runner
                self._pending_runner = None
                if self._temporal is not None:
                    self._temporal.reset()
            t0 = time.perf_counter()
            small = downscale(frame.image, self.infer_size)
            t1 = time.perf_counter()
            if self.controls.bypass:
                styled = small
            else:
                styled = self.runner.infer(small).copy()  # the runner reuses its buffer
            t2 = time.perf_counter()
            if self._temporal is not None and not self.controls.bypass:
                styled = self._temporal.apply(small, styled)
            t3 = time.perf_counter()
            frame.stages["preprocess"] = t1 - t0
            frame.stages["infer"] = t2 - t1
            frame.stages["postprocess"] = t3 - t2
            before = self._slot_out.dropped
            self._slot_out.put((frame, small, styled))
            if self._slot_out.dropped > before and t3 - self.stats.t_start > self.cfg.warmup_s:
                self.stats.dropped_steady += 1

    def _status(self) -> str:
        st = self.stats
        recent = st.latencies[-30:]
        fps = 0.0
        if st.t_first_out is not None and st.frames_out > 1:
            fps = (st.frames_out - 1) / max(1e-6, st.t_last_out - st.t_first_out)
        lat = (np.median(recent) * 1000) if recent else 0.0
        c = self.controls
        name = self.styles[c.style_index].name
        mode = "BYPASS" if c.bypass else f"{name} x{c.strength:.1f}"
        return f"{mode} | {fps:.1f} fps | {lat:.0f} ms | {self.runner.name}"

    def _output_loop(self) -> None:
        st, sink, cfg = self.stats, self.sink, self.cfg
        repeat_after = 2.0 / self.fps
        last_image = None
        last_send = time.perf_counter()
        while True:
            try:
                item = self._slot_out.get(timeout=repeat_after if self.live else 0.1)
            except Closed:
                break
            now = time.perf_counter()
            if item is None:
                # live source stalled or reconnecting: keep the virtual camera fed
                if self.live and last_image is not None and now - last_send >= repeat_after and not self.stop.is_set():
                    sink.send(Frame(image=last_image, index=-1, t_capture=now), status=self._status())
                    st.repeated += 1
                    last_send = time.perf_counter()
                self._poll(sink)
                if self.stop.is_set() and not self.live:
                    break
                continue
            frame, small, styled = item
            c = self.controls
            t0 = time.perf_counter()
            strength = 0.0 if c.bypass else c.strength
            out = upsample(cfg.upsample, frame.image, small, styled, strength) if strength > 0 else frame.image
            t1 = time.perf_counter()
            frame.stages["postprocess"] = frame.stages.get("postprocess", 0.0) + (t1 - t0)
            sink.send(frame.with_image(out), original=frame.image, status=self._status())
            t2 = time.perf_counter()
            frame.stages["output"] = t2 - t1
            st.latencies.append(t2 - frame.t_capture)
            for s in STAGES:
                st.stages[s].append(frame.stages.get(s, 0.0))
            st.frames_out += 1
            if st.t_first_out is None:
                st.t_first_out = t2
            st.t_last_out = t2
            last_image, last_send = out, t2
            self._poll(sink)
            if cfg.max_frames is not None and st.frames_out >= cfg.max_frames:
                self._request_stop("max-frames reached")
                break

    def _poll(self, sink) -> None:
        for cmd in sink.poll():
            self.controls.apply(cmd)
            if self.controls.quit:
                self._request_stop("quit key")

    # -- control ---------------------------------------------------------------------------
    def _request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def run(self) -> None:
        """Run until the source ends, --max-frames, a quit key, SIGINT/SIGTERM or an error."""
        threads = [threading.Thread(target=self._guard(fn), name=name, daemon=True)
                   for name, fn in (("capture", self._capture_loop), ("inference", self._infer_loop),
                                    ("output", self._output_loop))]
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda s, f: self._request_stop(signal.Signals(s).name))
        try:
            self.stats.t_start = time.perf_counter()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                if self.stop.wait(0.05):
                    break
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

    def report(self, *, backend_choice=None, style=None) -> dict:
        st = self.stats
        dur = max(1e-6, (st.t_last_out or time.perf_counter()) - st.t_start)
        out_span = (st.t_last_out - st.t_first_out) if (st.t_first_out and st.frames_out > 1) else None
        skipped = int(getattr(self.source, "skipped", 0) or 0)
        rep = {
            "frames_in": st.frames_in,
            "frames_out": st.frames_out,
            "dropped": self._slot_in.dropped + self._slot_out.dropped + skipped,
            "dropped_at": {"capture_slot": self._slot_in.dropped, "output_slot": self._slot_out.dropped,
                           "source_skipped": skipped},
            "dropped_steady": st.dropped_steady,
            "repeated": st.repeated,
            "fps_in": round(st.frames_in / dur, 2),
            "fps_out": round((st.frames_out - 1) / out_span, 2) if out_span else 0.0,
            "fps_target": self.fps,
            "duration_s": round(dur, 3),
            "size": list(self.out_size),
            "infer_size": list(self.infer_size),
            "input": getattr(self.source, "description", "") or self.cfg.input,
            "output": getattr(self.sink, "description", "") or self.cfg.output,
            "live": self.live,
            "style": style.name if style is not None else None,
            "strength": self.controls.strength,
            "upsample": self.cfg.upsample,
            "temporal_filter": self._temporal is not None,
            "latency_ms": {
                "capture_to_send": _pcts(st.latencies),
                "stages": {s: _pcts(v, (50, 95)) for s, v in st.stages.items()},
            },
            "reconnects": int(getattr(self.source, "reconnects", 0) or 0),
            "stopped_by": self.stop_reason,
        }
        if backend_choice is not None:
            rep["backend"] = backend_choice.backend
            rep["device"] = backend_choice.device
            rep["backend_reason"] = backend_choice.reason
            rep["backends_not_used"] = backend_choice.skipped
        return rep


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, p)


def run(cfg: RunConfig) -> dict:
    """Open everything ``cfg`` names, run the pipeline, close everything, return (and write) the report."""
    from livestyle.runners.registry import create_runner
    from livestyle.sinks import open_sink
    from livestyle.sources import open_source
    from livestyle.styles import discover, find_style

    cfg.validate()
    style = find_style(cfg.style)  # unknown style: fail before opening devices
    styles = discover()
    if style not in styles:
        styles = [style] + styles
    style_index = styles.index(style)

    source = open_source(cfg.input, size=cfg.size, fps=cfg.fps, realtime=cfg.realtime)
    sink = open_sink(cfg.output, device=cfg.vcam_device)
    choice = None
    runners = []
    try:
        source.open()
        out_size = cfg.size or tuple(source.size)
        infer_size = align_infer_size(cfg.infer_size or default_infer_size(out_size))
        fps = float(cfg.fps or source.fps or 30.0)
        # a GPU runs the student at full resolution in a few ms: no need to trade detail for speed
        cuda_size = align_infer_size(out_size) if cfg.infer_size is None else None
        choice = create_runner(cfg.backend, style, infer_size=infer_size, cuda_infer_size=cuda_size)
        infer_size = choice.runner.infer_size
        runners.append(choice.runner)

        def make_runner(st):
            r = create_runner(choice.backend, st, infer_size=infer_size).runner
            runners.append(r)
            return r

        sink.open(out_size, fps)
        pipe = Pipeline(cfg, source=source, sink=sink, runner=choice.runner, styles=styles,
                        style_index=style_index, make_runner=make_runner, out_size=out_size,
                        infer_size=infer_size, fps=fps)
        log.info("running %s -> %s with %s on %s at %s (infer %s)", source.description, sink.description,
                 style.name, choice.backend, out_size, infer_size)
        pipe.run()
    finally:
        source.close()
        sink.close()
        for r in runners:
            r.deactivate()
    rep = pipe.report(backend_choice=choice, style=styles[pipe.controls.style_index])
    if cfg.report:
        write_json_atomic(cfg.report, rep)
    return rep
