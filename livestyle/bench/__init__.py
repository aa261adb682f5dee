"""``livestyle bench``: measure the real pipeline and draw it.

Runs :func:`livestyle.session.run` in this process with an ``on_frame``
observer that keeps every :class:`~livestyle.stats.FrameRecord`, optionally
beside a competing load it starts and stops itself
(:mod:`livestyle.bench.load`), and writes into ``--out``:

* ``frames.csv`` — one row per sent frame (times, latency, every stage, look,
  inference size, drops so far, process CPU);
* ``latency_hist.png`` — capture->send latency histogram with p50/p95/p99;
* ``timeline.png`` — every frame's stages over time, fps and drops per
  second, CPU, and the inference size with the adaptive controller's steps;
* ``summary.md`` and ``summary.html`` — one page: machine, CPU model,
  versions, the exact command, the numbers, the controller's decisions;
* ``report.json`` (the pipeline's report) and ``bench.json`` (the headline numbers).

The folder is written atomically (:func:`livestyle.fsutil.atomic_dir`): it
appears complete or not at all.  An existing ``--out`` is replaced only when
it is empty or an earlier bench result (holds ``bench.json``).

Input: the demo scene at 1280x720, 30 fps, paced in real time like a camera,
unless ``--input`` says otherwise; files are paced too (a benchmark of live
latency).  Ctrl+C ends the run early; the results so far are still written
and the load is stopped (exit status 130).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from livestyle.errors import UsageError

log = logging.getLogger(__name__)

__all__ = ["add_parsers", "cmd_bench"]


def add_parsers(sub) -> None:
    """Register ``livestyle bench`` on an argparse subparsers object."""
    p = sub.add_parser("bench", help="benchmark the live pipeline (CSV, plots, one-page summary)",
                       description="Run the real pipeline for a while, optionally beside a competing load, and "
                                   "write per-frame records, a latency histogram, a per-stage timeline and a "
                                   "summary into a folder.")
    p.add_argument("--input", default="demo", help="demo (default), a video file, a camera index or a URL; "
                                                     "files and the demo are paced in real time")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to measure (default 30)")
    p.add_argument("--load", default=None, metavar="busy:N|encode",
                   help="start a competing load: busy:N = N CPU-bound processes pinned to one core each; "
                        "encode = a 720p30 H.264 encode (libx264, like OBS) in a second process")
    p.add_argument("--quality", default="auto", choices=("auto", "fixed"), help="adaptive quality (default auto)")
    p.add_argument("--size", default=None, help="frame size WxH (default 1280x720 for the demo, else the input's)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default 30 for the demo, else the input's)")
    p.add_argument("--style", default=None, help="look name or blend (default: the default look)")
    p.add_argument("--backend", default="auto", help="inference backend (default auto)")
    p.add_argument("--infer-size", default=None, help="inference size WxH (default: as `livestyle run`)")
    p.add_argument("--output", default="null", help="where frames go (default null: nothing but the pipeline is measured)")
    p.add_argument("--background", default="keep", metavar="MODE",
                   help="as `livestyle run`: keep (default), blur, image:PATH, color:#RRGGBB, transparent")
    p.add_argument("--blur", type=float, default=0.5, help="the blur mode's strength, 0..1 (default 0.5)")
    p.add_argument("--look-on", default="both", choices=("both", "person", "background"),
                   help="where the look is applied (default both)")
    p.add_argument("--beauty", default=None, metavar="KEY=V,...", help="as `livestyle run`: smooth=..,tone=..,slim=..,eyes=..")
    p.add_argument("--out", required=True, help="folder for the results (created; replaced only if empty or an earlier bench result)")
    p.set_defaults(func=cmd_bench)


def _check_out(out: Path, input_spec: str) -> None:
    from livestyle.fsutil import check_output_path

    check_output_path(out, flag="--out", inputs=[("--input", input_spec)] if "://" not in input_spec else [],
                      allow_dir=True)
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"--out {str(out)!r} is a file; bench writes a folder.", fix="Give a folder path.")
        entries = [e.name for e in out.iterdir()]
        if entries and "bench.json" not in entries:
            raise UsageError(f"--out {str(out)!r} already holds other files ({', '.join(sorted(entries)[:3])}...); "
                             "bench would replace the whole folder.",
                             fix="Give a new or empty folder, or an earlier bench result folder.")


class _Recorder:
    """The ``on_frame`` observer: keeps records, stops the run after ``seconds``, shows progress."""

    def __init__(self, seconds: float, *, stream=sys.stderr, interval_s: float = 1.0):
        self.seconds = seconds
        self.records: list = []
        self.pipe = None
        self.t_first: float | None = None
        self.stream = stream
        self.interval_s = interval_s
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._done = threading.Event()
        self._lock = threading.Lock()

    def on_ready(self, pipe) -> None:
        self.pipe = pipe

    def on_frame(self, record) -> None:
        with self._lock:
            self.records.append(record)
        if self.t_first is None:
            self.t_first = record.t_send
        if record.t_send - self.t_first >= self.seconds and not self._done.is_set():
            self._done.set()
            self._stop(f"bench: {self.seconds:g} s measured")

    def _stop(self, reason: str) -> None:
        pipe = self.pipe
        if pipe is None:
            return
        request = pipe.request_stop
        request(reason)

    def progress_loop(self, finished: threading.Event) -> None:
        last_line = 0.0
        while not finished.wait(self.interval_s):
            with self._lock:
                recent = self.records[-90:]
                n = len(self.records)
            if not recent or self.t_first is None:
                self._print("bench: waiting for the first frame...")
                continue
            elapsed = recent[-1].t_send - self.t_first
            span = recent[-1].t_send - recent[0].t_send
            fps = (len(recent) - 1) / span if span > 0 else 0.0
            lats = sorted(r.t_send - r.t_capture for r in recent)
            p95 = lats[min(len(lats) - 1, int(0.95 * len(lats)))] * 1000.0
            w, h = recent[-1].infer_size
            line = (f"bench: {min(elapsed, self.seconds):5.1f}/{self.seconds:g} s  {n} frames  {fps:5.1f} fps  "
                    f"p95 {p95:5.1f} ms  dropped {recent[-1].dropped}  infer {w}x{h}")
            now = time.monotonic()
            if self._tty or now - last_line >= 5.0:
                self._print(line)
                last_line = now
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _print(self, line: str) -> None:
        if self._tty:
            self.stream.write("\r" + line.ljust(100))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def cmd_bench(args: argparse.Namespace, *, argv: list[str] | None = None) -> int:
    """Run the benchmark; 0, or 128 + signal number when SIGINT/SIGTERM ended it early (results still written)."""
    from livestyle.bench.load import Load, parse_load
    from livestyle.fsutil import atomic_dir, write_json_atomic, write_text_atomic
    from livestyle.session import RunConfig, parse_size, run

    from livestyle.extras import require

    require("bench", "bench")  # the plots need matplotlib: say so now, not after the whole measurement
    if not (args.seconds > 0 and math.isfinite(args.seconds)):
        raise UsageError(f"--seconds {args.seconds} must be a finite number above 0.", fix="Use --seconds 30.")
    if args.fps is not None and not (args.fps > 0 and math.isfinite(args.fps)):
        raise UsageError(f"--fps {args.fps} must be a finite number above 0.", fix="Use --fps 30, or leave it out.")
    out = Path(args.out)
    _check_out(out, args.input)
    load_spec = parse_load(args.load)
    demo = args.input.strip() == "demo"
    size = parse_size(args.size) if args.size else ((1280, 720) if demo else None)
    fps = args.fps if args.fps else (30.0 if demo else None)
    cfg = RunConfig(input=args.input, output=args.output, style=args.style, size=size, fps=fps,
                    backend=args.backend, realtime=True, quality=args.quality, remember_quality=False,
                    infer_size=parse_size(args.infer_size, "--infer-size") if args.infer_size else None,
                    background=args.background, blur=args.blur, look_on=args.look_on, beauty=args.beauty)
    command = shlex.join(["livestyle", *(argv if argv is not None else sys.argv[1:])])
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    recorder = _Recorder(args.seconds)
    finished = threading.Event()
    progress = threading.Thread(target=recorder.progress_loop, args=(finished,), daemon=True, name="bench-progress")
    load = Load(*load_spec) if load_spec else None
    loadavg_before = _loadavg()
    report: dict = {}
    try:
        if load is not None:
            load.start()
            time.sleep(0.5)  # let the load reach full speed before the first frame
        progress.start()
        report = run(cfg, on_frame=recorder.on_frame, on_ready=recorder.on_ready)
    finally:
        finished.set()
        if load is not None:
            load_alive = load.alive()
            load.stop()
        progress.join(timeout=2.0)
    loadavg_after = _loadavg()
    if load is not None and not load_alive:
        log.warning("the competing load had exited before the end of the run; the numbers are partly without it")
    records = list(recorder.records)
    if not records:
        raise UsageError("The pipeline sent no frame, so there is nothing to plot.",
                         fix="Check the input with `livestyle run --input ... --output null --max-frames 10`.")
    t0 = recorder.pipe.stats.t_start if recorder.pipe is not None else records[0].t_capture
    _write_results(out, records, t0, report, cfg=cfg, command=command, started=started,
                   load=load.description if load is not None else "none", atomic_dir=atomic_dir,
                   loadavg=(loadavg_before, loadavg_after),
                   write_json=write_json_atomic, write_text=write_text_atomic)
    summary = json.loads((out / "bench.json").read_text())["summary"]
    lat = summary["latency_ms"]
    print(f"bench: {summary['frames_out']} frames, {summary['fps_out']} fps out, dropped {summary['dropped']}, "
          f"capture->send p50 {lat['p50']} ms p95 {lat['p95']} ms; results in {out}/ (summary.html)")
    sig = report.get("stop_signal")
    return 128 + int(sig) if sig else 0


def _loadavg() -> list[float] | None:
    """The machine's 1/5/15-minute load averages (what else was running), or None where unknown."""
    try:
        import os

        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _write_results(out: Path, records, t0: float, report: dict, *, cfg, command: str, started: str, load: str,
                   atomic_dir, write_json, write_text, loadavg=(None, None)) -> None:
    from livestyle.bench import report as rpt

    cols = rpt.frames_table(records, t0)
    duration = float(cols["t_send_s"][-1]) if len(records) else 0.0
    summary = rpt.summarize(cols, report, duration)
    info = {
        "command": command, "started": started, "machine": rpt.machine(), "versions": rpt.versions(),
        "input": report.get("input", cfg.input), "output": report.get("output", cfg.output),
        "style": report.get("style", cfg.style), "backend": f"{report.get('backend', cfg.backend)} "
                                                             f"[{report.get('device', '?')}]",
        "load": load, "loadavg_before": loadavg[0], "loadavg_after": loadavg[1], "summary": summary,
    }
    title = (f"{info['input']} | load: {load} | quality {summary['quality'].get('mode', '?')} | "
             f"{summary['fps_out']} fps, p95 {summary['latency_ms']['p95']} ms")
    markdown = rpt.summary_markdown(info)
    with atomic_dir(out, replace=True) as tmp:
        rpt.write_frames_csv(tmp / "frames.csv", records, t0)
        rpt.plot_latency_histogram(tmp / "latency_hist.png", cols, title)
        rpt.plot_timeline(tmp / "timeline.png", cols, summary["quality"], duration, title)
        write_text(tmp / "summary.md", markdown)
        write_text(tmp / "summary.html", rpt.summary_html(markdown))
        write_json(tmp / "report.json", report)
        write_json(tmp / "bench.json", {**info, "summary": summary})
