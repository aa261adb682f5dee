"""Source -> frame stages -> sink, on three threads joined by two newest-frame slots.

::

    capture thread ──► [newest slot] ──► inference thread ──► [newest slot] ──► output thread
    source.read(),                       controls snapshot,                    each stage's finish,
    scale to the output size             each stage in order                   sink.send, stats, keys

Frames are dropped only at the two slots (live sources) and counted; offline
files use blocking slots so every frame is processed.  Every frame carries
its capture time, so capture->send latency is measured per frame, and reads
one :class:`~livestyle.controls.ControlState` snapshot.  The work on a frame
is the ordered list of :mod:`livestyle.stages` (today the look stage); each
stage is timed into its own meter and switched on or off per frame by the
snapshot.  While a live source reconnects, the output thread keeps re-sending
the last good frame so a virtual camera never freezes on its consumers.
Statistics use fixed memory (:mod:`livestyle.stats`).  What a run opens and
closes around the pipeline is :mod:`livestyle.session`; the status line,
state and report are :mod:`livestyle.views`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from livestyle import views
from livestyle.frame import Frame
from livestyle.keys import apply_keys
from livestyle.runconfig import RunConfig, align_infer_size, default_infer_size, parse_size
from livestyle.slot import Closed, NewestSlot
from livestyle.capture import Capture
from livestyle.stages import Stage, Work, finish_all, process_all, record_all, timed_names
from livestyle.stats import ControlLatency, CpuMeter, FrameRecord, RunStats

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                                 getattr(signal, "SIGHUP", None)) if s is not None)

# RunConfig and the size helpers live in livestyle.runconfig; they are named here too for older imports
__all__ = ["Pipeline", "RunConfig", "align_infer_size", "default_infer_size", "parse_size"]


@contextmanager
def _stop_signals(handler):
    """SIGINT, SIGTERM and SIGHUP go to ``handler`` inside the block (in the main thread; elsewhere nothing)."""
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS} if main else {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Pipeline:
    """Runs ``stages`` between an opened source and an opened sink; see the module docstring.

    ``quality`` is the adaptive controller's :class:`~livestyle.adaptive.QualityRun` or None; ``on_frame``
    observers get a :class:`FrameRecord` per sent frame (from the output thread: keep them cheap).
    """

    def __init__(self, cfg: RunConfig, *, source, sink, controls, stages: list[Stage], out_size: tuple[int, int],
                 fps: float, backend: str = "", quality=None, on_frame: Callable[[FrameRecord], None] | None = None):
        self.cfg, self.source, self.sink, self.controls = cfg, source, sink, controls
        self.stages, self.timed = list(stages), timed_names(stages)
        self.out_size, self.fps, self.backend, self.quality, self.on_frame = out_size, fps, backend, quality, on_frame
        self.live = bool(source.live)
        self.stats, self.control_latency = RunStats(), ControlLatency(controls.snapshot().version)
        self.stop, self.stop_reason, self.stop_signal, self.error = threading.Event(), "", None, None
        self.slot_in, self.slot_out = NewestSlot(block=not self.live), NewestSlot(block=not self.live)
        self.latest = None  # (output, original) images of the last sent frame
        self.server = self.obs = None  # the ControlServer and the ObsLink, when the session opened them
        self.cpu = CpuMeter()
        self.capture = Capture(source, self.slot_in, self.stats, out_size=out_size, live=self.live,
                               max_fps=cfg.max_fps, steady=self._steady, stop=self.stop)
        self.status = views.StatusLine(self)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def _steady(self, t: float) -> bool:
        return t - self.stats.t_start > self.cfg.warmup_s

    def _guard(self, fn, slot):
        def run():
            try:
                fn()
            except Closed:
                pass
            except BaseException as e:  # surfaced by run() in the main thread
                self.error = self.error or e
                self.stop.set()
                self.slot_in.close()
                self.slot_out.close()
            finally:
                if slot is not None:  # the capture and inference threads close the slot they fill
                    slot.close()
        return run

    def _infer_loop(self) -> None:
        controls = self.controls
        while True:
            frame = self.slot_in.get(timeout=0.1)
            if frame is None:
                if self.stop.is_set():
                    break
                continue
            t0 = time.perf_counter()
            work = Work(frame, controls.snapshot(), infer_size=self.out_size)
            process_all(self.stages, work)
            t_end = time.perf_counter()
            before_in, before_out = self.slot_in.dropped, self.slot_out.dropped
            self.slot_out.put(work)
            if self.slot_out.dropped > before_out and self._steady(t_end):
                self.stats.dropped_steady += 1
            if self.quality is not None:
                dropped = (self.slot_in.dropped - before_in) + (self.slot_out.dropped - before_out)
                self.quality.observe(t0, t_end, dropped, self.stats)

    def _output_loop(self) -> None:
        st, sink, repeat_after = self.stats, self.sink, 2.0 / self.fps
        last_image, last_send = None, time.perf_counter()
        cpu_prev = time.process_time()
        while True:
            work = self.slot_out.get(timeout=repeat_after if self.live else 0.1)
            now = time.perf_counter()
            if work is None:  # live source stalled or reconnecting: keep the virtual camera fed
                if self.live and last_image is not None and now - last_send >= repeat_after and not self.stop.is_set():
                    sink.send(Frame(image=last_image, index=-1, t_capture=now), status=self.status_line())
                    st.repeated += 1
                    last_send = time.perf_counter()
                self._keys()
                if self.stop.is_set() and not self.live:
                    break
                continue
            frame, out, original = work.frame, finish_all(self.stages, work), work.extra.get("original", work.frame.image)
            t1 = time.perf_counter()
            sink.send(frame.with_image(out), original=original, status=self.status_line())
            t2 = time.perf_counter()
            frame.stages["output"] = t2 - t1
            st.record_frame(t2, frame.t_capture, frame.stages)
            record_all(self.stages, work)
            self.control_latency.sent(work.state, work.look or work.state.label, t2)
            self.latest = (out, original)
            cpu_now = time.process_time()
            st.cpu_per_frame.add(cpu_now - cpu_prev)
            if self.on_frame is not None:
                self.on_frame(FrameRecord(frame.index, frame.t_capture, t2, {n: frame.stages.get(n, 0.0) for n in
                              self.timed}, work.look, work.strength, work.state.bypass, work.infer_size,
                              self.dropped_total, cpu_now - cpu_prev))
            cpu_prev, last_image, last_send = cpu_now, out, t2
            self._keys()
            if self.cfg.max_frames is not None and st.frames_out >= self.cfg.max_frames:
                self.request_stop("max-frames reached")
                break

    def _keys(self) -> None:
        apply_keys(self.controls, self.sink.poll())
        if self.controls.quit_requested:
            self.request_stop("quit key")

    @property
    def dropped_total(self) -> int:
        return self.slot_in.dropped + self.slot_out.dropped + int(getattr(self.source, "skipped", 0) or 0)

    def request_stop(self, reason: str) -> None:
        """Stop the run soon (from any thread): the threads drain, the sink is finalised by the caller."""
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def _on_signal(self, signum, _frame) -> None:
        self.stop_signal = self.stop_signal or signum
        self.request_stop(signal.Signals(signum).name)

    def run(self, *, tick: Callable[[], None] | None = None) -> None:
        """Run until the source ends, --max-frames, a quit key, a signal or an error.

        SIGINT, SIGTERM and SIGHUP stop the run cleanly (the sink is finalised by the caller);
        :attr:`stop_signal` says which one came.  ``tick`` is called about 20 times a second from this thread.
        """
        threads = [threading.Thread(target=self._guard(fn, slot), name=name, daemon=True) for name, fn, slot in
                   (("capture", self.capture.loop, self.slot_in), ("inference", self._infer_loop, self.slot_out),
                    ("output", self._output_loop, None))]
        with _stop_signals(self._on_signal):
            self.stats.t_start = time.perf_counter()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads) and not self.stop.wait(0.05):
                self.cpu.sample(time.perf_counter())
                if tick is not None:
                    tick()
            self.stop.set()
            self.source.close()  # unblock everything: a blocked read(), waiting slots
            self.slot_in.close()
            self.slot_out.close()
            for t in threads:
                t.join(timeout=5.0)
        self.stop_reason = self.stop_reason or "end of input"
        if self.error is not None:
            raise self.error

    # the views (livestyle.views) under the names the control server, the sinks and the session call
    state, report, status_line = views.state, views.report, views.status_line
