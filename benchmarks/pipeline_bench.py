"""End-to-end speed of `livestyle run` on this machine, paced like a live camera.

Writes realistic test videos (the built-in demo scene: textured room + a moving
figure) at 1280x720 and 1920x1080, 30 fps, then runs the real CLI on them
with ``--realtime`` (frames delivered at 30 fps whether or not the pipeline
keeps up, as a webcam would) and reads each run's JSON report.

    .venv/bin/python benchmarks/pipeline_bench.py               # main figures
    .venv/bin/python benchmarks/pipeline_bench.py --sweep       # also the --infer-size sweep
    .venv/bin/python benchmarks/pipeline_bench.py --style NAME  # a trained style instead of a random student

Results: benchmarks/results/pipeline-*.json and a Markdown table on stdout
(pasted into benchmarks/RESULTS.md).  The runs are interleaved and repeated
(``--repeats``) so machine noise hits every configuration alike; the table
quotes medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def write_demo_video(path: Path, size: tuple[int, int], frames: int, fps: float = 30.0) -> Path:
    if path.exists():
        return path
    from livestyle.sources.demo import DemoSource

    src = DemoSource(size=size, fps=fps)
    src.open()
    tmp = path.with_suffix(".tmp" + path.suffix)
    w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(frames):
        w.write(src.read())
    w.release()
    src.close()
    os.replace(tmp, path)
    return path


def run_once(video: Path, style: str, home: str | None, extra: list[str], output: str,
             code: str | None = None) -> dict:
    """One ``livestyle run``; ``code`` is another checkout's root to run instead of this one (a baseline)."""
    with tempfile.TemporaryDirectory() as td:
        rep = Path(td) / "r.json"
        env = dict(os.environ)
        if home:
            env["LIVESTYLE_HOME"] = home
        if code:
            env["PYTHONPATH"] = code
        cmd = [sys.executable, "-m", "livestyle", "run", "--input", str(video), "--realtime", "--output", output,
               "--style", style, "--report", str(rep), "--quiet", *extra]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=code or None)
        if r.returncode != 0:
            raise SystemExit(f"run failed: {' '.join(cmd)}\n{r.stderr}")
        return json.loads(rep.read_text())


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--style", default=None, help="style name; default: a random student of the shipped architecture")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each test video")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweep", action="store_true", help="also sweep --infer-size at 720p")
    ap.add_argument("--output", default="null", help="sink for the runs (null, or vcam with a device)")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="another checkout (e.g. `git worktree add /tmp/base REV`): run it interleaved with this one "
                         "on the same videos, as '(baseline)' rows")
    args = ap.parse_args()

    cache = ROOT / "benchmarks" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    home = None
    style = args.style
    if style is None:
        from livestyle.export.onnx import random_student_pack

        home = str(cache / "home")
        if not (Path(home) / "styles" / "random" / "student.onnx").exists():
            random_student_pack(Path(home) / "styles" / "random", name="random")
        style = "random"
    frames = int(args.seconds * 30)
    v720 = write_demo_video(cache / f"demo720-{frames}.avi", (1280, 720), frames)
    v1080 = write_demo_video(cache / f"demo1080-{frames}.avi", (1920, 1080), frames)

    # this checkout at a fixed inference size (the adaptive controller would trade detail for speed)
    fixed = ["--quality", "fixed"]
    configs = [("720p30", v720, fixed, None), ("1080p30", v1080, fixed, None)]
    if args.baseline:
        configs = [("720p30", v720, fixed, None), ("720p30 (baseline)", v720, fixed, args.baseline),
                   ("1080p30", v1080, fixed, None), ("1080p30 (baseline)", v1080, fixed, args.baseline)]
    if args.sweep:
        for s in ("384x216", "448x256", "576x324", "640x360"):
            configs.append((f"720p30 infer {s}", v720, ["--infer-size", s], None))
        configs.append(("720p30 guided upsample", v720, ["--upsample", "guided"] + fixed, None))
        configs.append(("720p30 no temporal filter", v720, ["--no-temporal"] + fixed, None))
    results: dict[str, list[dict]] = {name: [] for name, *_ in configs}
    for rep_i in range(args.repeats):
        for name, video, extra, code in configs:
            r = run_once(video, style, home, extra, args.output, code)
            results[name].append(r)
            lat = r["latency_ms"]["capture_to_send"]
            print(f"[{rep_i + 1}/{args.repeats}] {name}: {r['fps_out']:.2f} fps out, {r['dropped_steady']} steady "
                  f"drops, p95 {lat['p95']:.1f} ms", file=sys.stderr)

    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    from livestyle.fsutil import write_json_atomic

    write_json_atomic(OUT / f"pipeline-{stamp}.json",
                      {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
                       "style": style, "seconds": args.seconds, "results": results}, indent=1)

    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores. Style: {style}. {args.repeats} runs each, medians.\n")
    print("| config | infer size | fps out | steady drops | drops (all) | capture->send p50 / p95 / p99 ms |"
          " capture | preprocess | infer | postprocess | output (p50/p95 ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, reps in results.items():
        lat = [r["latency_ms"]["capture_to_send"] for r in reps]
        st = lambda k, p: med([r["latency_ms"]["stages"][k][p] for r in reps])  # noqa: E731
        stages = " | ".join(f"{st(k, 'p50'):.1f} / {st(k, 'p95'):.1f}"
                            for k in ("capture", "preprocess", "infer", "postprocess", "output"))
        print(f"| {name} | {'x'.join(map(str, reps[0]['infer_size']))} | {med([r['fps_out'] for r in reps]):.2f} | "
              f"{med([r['dropped_steady'] for r in reps])} | {med([r['dropped'] for r in reps])} | "
              f"{med([x['p50'] for x in lat]):.1f} / {med([x['p95'] for x in lat]):.1f} / "
              f"{med([x['p99'] for x in lat]):.1f} | {stages} |")


if __name__ == "__main__":
    main()
