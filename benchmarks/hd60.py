#!/usr/bin/env python3
"""`livestyle run` on a paced 1920x1080 60 fps file: fps out, drops and capture->send latency, whole run and settled.

    .venv/bin/python benchmarks/hd60.py [--style pastel] [--seconds 30] [--repeats 2] [--baseline DIR]
        [--extra "--quality fixed"] [--size 1920x1080] [--fps 60]

Writes the built-in demo scene (textured room and a moving figure) as an MJPEG
file, as a 1080p webcam delivers it, then runs the pipeline on it with
``--realtime`` (frames arrive at 60 fps whether or not it keeps up) and
``--output null``, one process per run.  Each run records every sent frame
(capture and send times, drops so far, the inference size), so the table
gives the whole run and the *settled* part: from 5 s on, when the adaptive
quality controller's first walk down to a size the machine holds is over
(later steps, up to try a bigger size and back, count as settled).
A stream runs for hours; the settled numbers are what it holds, the whole
run includes the first seconds while the controller finds its size.

Each run gets a fresh LIVESTYLE_HOME, so it starts as a first run does.
``--remembered`` instead gives each checkout one home and primes it with an
unmeasured run first, so the measured runs start at the inference size the
previous run settled at (what every run after the first does).

``--baseline DIR`` runs another checkout (``git worktree add /tmp/base REV``)
interleaved with this one on the same file.  Medians over ``--repeats``;
the CPU model is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


SETTLE_S = 5.0  # the adaptive controller's first walk down (from 1.5 s, a size every 0.5 s) is over by then


def child(video: str, style: str, extra: list[str], out: str) -> None:
    """One run in this process (the checkout on sys.path), every sent frame recorded."""
    from livestyle.session import RunConfig, parse_size, run

    ap = argparse.ArgumentParser()
    ap.add_argument("--quality", default="auto")
    ap.add_argument("--temporal", default="auto", choices=("auto", "on", "off"))
    ap.add_argument("--infer-size", default=None)
    ap.add_argument("--upsample", default="detail")
    a = ap.parse_args(extra)
    frames: list[tuple[float, float, int, int, dict]] = []

    def on_frame(rec) -> None:
        frames.append((rec.t_capture, rec.t_send, rec.dropped, rec.infer_size[0], rec.stages))

    # on/off as True/False, which older checkouts (temporal: bool) read the same way; auto is the default
    temporal = {} if a.temporal == "auto" else {"temporal": a.temporal == "on"}
    cfg = RunConfig(input=video, output="null", style=style, realtime=True, quality=a.quality, upsample=a.upsample,
                    infer_size=parse_size(a.infer_size, "--infer-size") if a.infer_size else None, **temporal)
    rep = run(cfg, on_frame=on_frame)
    Path(out).write_text(json.dumps({"report": rep, "frames": frames}))


def summarise(data: dict) -> dict:
    rep, frames = data["report"], data["frames"]
    t0 = frames[0][0]
    settle = SETTLE_S
    lat = sorted(1000 * (f[1] - f[0]) for f in frames)
    settled = [f for f in frames if f[0] - t0 >= settle]
    lat_s = sorted(1000 * (f[1] - f[0]) for f in settled)
    pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")  # noqa: E731
    span = settled[-1][1] - settled[0][1] if len(settled) > 1 else float("nan")
    return {"fps_out": rep["fps_out"], "dropped_steady": rep["dropped_steady"], "p50": pct(lat, 50),
            "p95": pct(lat, 95), "settle_s": settle, "settled_fps": (len(settled) - 1) / span if span else 0.0,
            "settled_drops": settled[-1][2] - settled[0][2] if settled else 0, "settled_p50": pct(lat_s, 50),
            "settled_p95": pct(lat_s, 95), "infer": rep["infer_size"][0],
            "start": (rep["quality"].get("started_at_remembered") or [frames[0][3]])[0],
            "cpu_ms": rep["cpu_ms_per_frame"]["p50"],
            "stages": {k: statistics.median(1000 * f[4].get(k, 0.0) for f in settled) if settled else float("nan")
                       for k in ("capture", "preprocess", "infer", "postprocess", "output")}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style", default="pastel")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--extra", default="", help="run options, e.g. \"--quality fixed\" or \"--temporal on\"")
    ap.add_argument("--baseline", default=None, metavar="DIR", help="another checkout to run interleaved")
    ap.add_argument("--remembered", action="store_true",
                    help="one home per checkout, primed by an unmeasured run: runs start where the last settled")
    ap.add_argument("--child", nargs=4, metavar=("VIDEO", "STYLE", "EXTRA", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        video, style, extra, out = args.child
        child(video, style, shlex.split(extra), out)
        return 0

    from pipeline_bench import cpu_name, write_demo_video

    w, h = (int(v) for v in args.size.lower().split("x"))
    cache = ROOT / "benchmarks" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    frames = int(args.seconds * args.fps)
    video = write_demo_video(cache / f"demo{w}x{h}p{args.fps:g}-{frames}.avi", (w, h), frames, fps=args.fps)
    codes = [("this checkout", str(ROOT))] + ([("baseline", str(Path(args.baseline).resolve()))]
                                               if args.baseline else [])
    results: dict[str, list[dict]] = {name: [] for name, _ in codes}
    with tempfile.TemporaryDirectory() as td:
        def one(name: str, code: str, home: Path, out: Path) -> dict:
            home.mkdir(exist_ok=True)  # the bundled looks only (and, with --remembered, the settled size)
            env = dict(os.environ, LIVESTYLE_HOME=str(home), PYTHONPATH=code)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(video), args.style,
                   args.extra, str(out)]
            r = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"run failed ({name}):\n{r.stderr[-2000:]}")
            return json.loads(out.read_text())

        homes = {name: Path(td) / f"home-{n}" for n, (name, _) in enumerate(codes)}
        if args.remembered:
            for name, code in codes:
                print(f"priming {name}: one unmeasured run", file=sys.stderr)
                one(name, code, homes[name], Path(td) / "prime.json")
        for i in range(args.repeats):
            for n, (name, code) in enumerate(codes):
                out = Path(td) / f"{len(results[name])}-{n}.json"
                home = homes[name] if args.remembered else Path(td) / f"home-{n}-{i}"
                s = summarise(one(name, code, home, out))
                results[name].append(s)
                print(f"[{i + 1}/{args.repeats}] {name}: started {s['start']} px wide, {s['fps_out']:.1f} fps, {s['dropped_steady']} steady drops, "
                      f"p95 {s['p95']:.0f} ms; from {s['settle_s']:.0f} s: {s['settled_fps']:.1f} fps, "
                      f"{s['settled_drops']} drops, p95 {s['settled_p95']:.0f} ms at {s['infer']} px wide; settled "
                      "stage p50 ms " + ", ".join(f"{k} {v:.1f}" for k, v in s["stages"].items()),
                      file=sys.stderr)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    start = "each started where the previous run settled" if args.remembered else "each a first run"
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores. {w}x{h} at {args.fps:g} fps, {args.seconds:g} s, "
          f"style {args.style}, options {args.extra or '(defaults)'}; medians of {args.repeats} interleaved runs, "
          f"{start}.\n")
    print("| code | fps out | steady drops | capture->send p50 / p95 ms | settled fps (from 5 s) | "
          "settled drops | settled p50 / p95 ms | final infer width | CPU ms / frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rs in results.items():
        m = {k: med([r[k] for r in rs]) for k in rs[0] if k != "stages"}
        print(f"| {name} | {m['fps_out']:.1f} | {m['dropped_steady']:g} | {m['p50']:.0f} / {m['p95']:.0f} | "
              f"{m['settled_fps']:.1f} | {m['settled_drops']:g} | "
              f"{m['settled_p50']:.0f} / {m['settled_p95']:.0f} | {m['infer']:g} | {m['cpu_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
