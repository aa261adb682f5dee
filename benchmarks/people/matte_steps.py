"""CPU per frame of each step of the person matte and the background blur, this tree against another commit.

    .venv/bin/python benchmarks/people/matte_steps.py [--baseline REV] [--size 1280x720] [--frames 150]
                                                      [--repeats 3]

The same clip as ``stage_cpu.py`` (Grace Hopper, or the astronaut offline, swaying over scikit-image's
coffee photo with camera noise 3 levels), run frame by frame through the steps of ``PersonMatte.update``
(the work frame, the model's input, the model, ``SteadyMask.update``, ``frame_alpha``), then
``blurred_background`` at strength 0.5 and ``composite`` into it, each timed with the calling thread's
CPU clock (``time.thread_time``), OpenCV on one thread.  Each run is a fresh subprocess (with
``OPENCV_FOR_THREADS_NUM=1``); with ``--baseline`` the runs of this tree and of ``REV`` alternate.  It
prints, per step, the median over the runs of the per-frame medians (after 20 warm-up frames).  The
steps are timed apart, so their sum is a little below ``stage_cpu.py``'s total.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker(clip_path: str) -> dict:
    """Runs in a subprocess whose ``sys.path`` starts with the tree to measure."""
    import inspect
    import time

    import cv2
    import numpy as np

    from livestyle.ops import matte
    from livestyle.people import person
    from livestyle.people.person import PersonMatte

    cv2.setNumThreads(1)
    frames = np.load(clip_path, allow_pickle=False)
    size = (frames.shape[2], frames.shape[1])
    pm = PersonMatte(size)
    src = inspect.getsource(person.PersonMatte.update)
    # the work frame as this tree's PersonMatte.update makes it
    to_work = ((lambda f: matte.shrink(f, pm.work_size)) if "matte.shrink(frame" in src
               else (lambda f: cv2.resize(f, pm.work_size, interpolation=cv2.INTER_AREA)))
    times: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kw):
        t = time.thread_time()
        r = fn(*args, **kw)
        times.setdefault(name, []).append((time.thread_time() - t) * 1000.0)
        return r

    held = []  # the last outputs stay alive, as frames in flight do in the pipeline
    for i in range(len(frames)):
        frame = frames[i]
        work = timed("work frame", to_work, frame)
        small = timed("model input", cv2.resize, work, pm.segmenter.size, interpolation=cv2.INTER_AREA)
        raw = timed("model", pm.segmenter.segment, small)
        mask = timed("SteadyMask.update", pm.steady.update, raw, small)
        alpha, box = timed("frame_alpha", matte.frame_alpha, mask, work, size)
        bg = timed("blurred_background", matte.blurred_background, work, mask, 0.5, size)
        out = timed("composite", matte.composite, frame, alpha, bg, box=box, out=bg)
        held = (held + [out])[-3:]
    return {k: statistics.median(v[20:]) for k, v in times.items()}


def run_tree(tree: Path, clip: Path) -> dict:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
            "from benchmarks.people.matte_steps import worker; print(json.dumps(worker(sys.argv[3])))")
    env = dict(os.environ, PYTHONPATH=str(tree), OPENCV_FOR_THREADS_NUM="1")
    r = subprocess.run([sys.executable, "-c", code, str(tree), str(ROOT), str(clip)],
                       capture_output=True, text=True, env=env, cwd=str(tree))
    if r.returncode != 0:
        raise SystemExit(f"the run in {tree} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", help="a git revision to measure side by side with this tree")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from benchmarks.people.stage_cpu import interleaved
    from pipeline_bench import cpu_name

    runs = interleaved(args.baseline, (w, h), args.frames, args.repeats, run_tree)
    names = list(runs)
    load = os.getloadavg()
    print(f"CPU: {cpu_name()}; {w}x{h}, blur 0.5, {args.frames} frames, {args.repeats} runs each interleaved; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("ms per frame (thread CPU), median of runs:")
    print("| step | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    steps = list(next(iter(runs.values()))[0])
    sums = dict.fromkeys(names, 0.0)
    for step in steps:
        cells = []
        for name in names:
            v = statistics.median(r[step] for r in runs[name])
            sums[name] += v
            cells.append(f"{v:.2f}")
        print(f"| {step} | " + " | ".join(cells) + " |")
    print("| sum | " + " | ".join(f"{sums[n]:.2f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
