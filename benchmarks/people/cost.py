"""What the person, background and beauty stages cost in `livestyle run`, side by side with the same run
without them (issues 20 and 21).

    .venv/bin/python benchmarks/people/cost.py [--seconds 20] [--repeats 3] [--size 1280x720] [--fps 30]

Writes a talking-head clip (Grace Hopper, or the astronaut offline, swaying gently over a textured wall
with camera noise) at the given size and rate, then runs the real CLI on it, paced like a camera
(``--realtime --output null --quality fixed``), interleaving: no people features; ``--background blur``;
``--beauty smooth=0.5,tone=0.3,slim=0.3,eyes=0.3``; and both.  Each row is the median over the repeats of
the run's report: fps out, capture->send p50/p95, CPU ms per frame (p50: the whole process, both cores)
and each stage's p50.  The difference in CPU per frame against the plain run is the stage's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline_bench import cpu_name  # noqa: E402
from livestyle.runconfig import parse_size  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

CONFIGS = {
    "plain": [],
    "person+blur": ["--background", "blur"],
    "beauty": ["--beauty", "smooth=0.5,tone=0.3,slim=0.3,eyes=0.3"],
    "person+blur+beauty": ["--background", "blur", "--beauty", "smooth=0.5,tone=0.3,slim=0.3,eyes=0.3"],
}


def write_clip(path: Path, size, fps: float, seconds: float) -> Path:
    import skimage.data

    por = grace_hopper()
    por = por if por is not None else astronaut()
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), size)
    n = int(round(seconds * fps))
    frames = clip(por, size, min(n, 90), motion="pan", noise=3, background=wall)
    frames = frames + frames[::-1]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        w.write(frames[i % len(frames)])
    w.release()
    return path


def run_once(video: Path, extra: list[str], fps: float, tree: Path = ROOT) -> dict:
    """One run of the CLI of the checkout at ``tree`` (run from there: ``-m livestyle`` imports the package
    from the current directory first)."""
    with tempfile.TemporaryDirectory() as td:
        rep = Path(td) / "r.json"
        cmd = [sys.executable, "-m", "livestyle", "run", "--input", str(video), "--realtime", "--output", "null",
               "--quality", "fixed", "--fps", str(fps), "--report", str(rep), "--quiet", *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tree), env=dict(os.environ, PYTHONPATH=str(tree)))
        if r.returncode != 0:
            raise SystemExit(f"run failed: {' '.join(cmd)}\n{r.stderr}")
        return json.loads(rep.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout: each config also runs there, interleaved (rows marked 'base')")
    args = ap.parse_args()
    size = parse_size(args.size)
    names = args.configs.split(",")
    if args.baseline is not None:
        names = [x for n in names for x in (n, f"{n} base")]
    with tempfile.TemporaryDirectory() as td:
        video = write_clip(Path(td) / "talk.avi", size, args.fps, args.seconds)
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for n in names:
                base_run = n.endswith(" base")
                runs[n].append(run_once(video, CONFIGS[n.removesuffix(" base")], args.fps,
                                        args.baseline.resolve() if base_run else ROOT))
    med = lambda xs: statistics.median([x for x in xs if x is not None]) if any(x is not None for x in xs) else None  # noqa: E731
    print(f"CPU: {cpu_name()}; {size[0]}x{size[1]} at {args.fps:g} fps, {args.seconds:g} s, {args.repeats} repeats "
          "interleaved, medians" + (f"; baseline {args.baseline}" if args.baseline else "")
          + f"; load average at the end {os.getloadavg()[0]:.1f}")
    stages = []
    for n in names:
        for k in runs[n][0]["latency_ms"]["stages"]:
            if k not in stages:
                stages.append(k)
    print("| config | fps out | drops | capture->send p50 / p95 ms | CPU ms/frame p50 | +CPU vs plain | "
          + " | ".join(f"{s} p50" for s in stages) + " |")
    print("|---" * (6 + len(stages)) + "|")
    plain: dict[bool, float] = {}
    for n in names:
        rs = runs[n]
        cpu = med([r["cpu_ms_per_frame"]["p50"] for r in rs])
        tag = n.endswith(" base")
        if n.removesuffix(" base") == "plain":
            plain[tag] = cpu
        base = plain.get(tag)
        cells = [f"{med([r['fps_out'] for r in rs]):.2f}", f"{med([r['dropped'] for r in rs]):g}",
                 f"{med([r['latency_ms']['capture_to_send']['p50'] for r in rs]):.1f} / "
                 f"{med([r['latency_ms']['capture_to_send']['p95'] for r in rs]):.1f}",
                 f"{cpu:.1f}", "-" if base is None or n.startswith("plain") else f"{cpu - base:+.1f}"]
        for s in stages:
            v = med([r["latency_ms"]["stages"].get(s, {}).get("p50") for r in rs])
            cells.append("-" if v is None else f"{v:.1f}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
