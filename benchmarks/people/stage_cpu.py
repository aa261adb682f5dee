"""CPU per frame of the person and background stages alone, this tree against another commit, same clip.

    .venv/bin/python benchmarks/people/stage_cpu.py [--baseline REV] [--size 1280x720] [--frames 150]
                                                    [--repeats 5] [--mode blur] [--every 1]

Writes a talking-head clip (Grace Hopper, or the astronaut offline, swaying over scikit-image's coffee
photo with camera noise 3 levels) and runs it frame by frame through the stages as ``livestyle run``
calls them: ``PersonStage.process`` and ``BackgroundStage.process`` (the inference thread), then
``BackgroundStage.finish`` (the output thread), here all on one thread, with the last three frames'
work and output held (as frames in flight are held by the pipeline's slots and sinks).  Each run is a fresh
subprocess; with ``--baseline`` the runs of this tree and of ``REV`` (its ``livestyle/`` extracted with
``git archive``) alternate.  For each part it prints the median over the runs of the per-frame medians
(after 10 warm-up frames) of two clocks: the calling thread's CPU time (``time.thread_time``) and the
whole process's (``time.process_time``, which also counts OpenCV's worker threads).  The machine's
load average is printed with the table: on a shared machine the process clock picks up less noise
than wall time, but compare only rows from the same run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("person", "background", "finish", "total")


def worker(clip_path: str, mode: str, every: int) -> dict:
    """Runs in a subprocess whose ``sys.path`` starts with the tree to measure."""
    from livestyle.controls import ControlState
    from livestyle.frame import Frame
    from livestyle.stages import Work
    from livestyle.stages.background import BackgroundStage
    from livestyle.stages.person import PersonStage

    frames = np.load(clip_path, allow_pickle=False)
    size = (frames.shape[2], frames.shape[1])
    person = PersonStage(size, every=every)
    image = np.full_like(frames[0], 90) if mode == "image" else None
    background = BackgroundStage(size, image=image)
    state = ControlState(weights=(("none", 1.0),), strength=0.0, bypass=False, version=0, t_changed=0.0,
                         background=mode, blur=0.5)
    times = {p: {"thread": [], "process": []} for p in PARTS}
    in_flight = collections.deque(maxlen=3)  # frames held downstream a while, as the pipeline's slots and sinks do
    for i, img in enumerate(frames):
        work = Work(frame=Frame(image=img, index=i), state=state)
        marks = [(time.thread_time(), time.process_time())]
        person.process(work)
        marks.append((time.thread_time(), time.process_time()))
        background.process(work)
        marks.append((time.thread_time(), time.process_time()))
        out = background.finish(work, work.frame.image)
        marks.append((time.thread_time(), time.process_time()))
        assert out.shape[:2] == img.shape[:2]
        in_flight.append((work, out))
        if i < 10:
            continue
        for k, part in enumerate(PARTS[:3]):
            times[part]["thread"].append(marks[k + 1][0] - marks[k][0])
            times[part]["process"].append(marks[k + 1][1] - marks[k][1])
        times["total"]["thread"].append(marks[-1][0] - marks[0][0])
        times["total"]["process"].append(marks[-1][1] - marks[0][1])
    return {p: {c: statistics.median(v) * 1000.0 for c, v in d.items()} for p, d in times.items()}


def write_clip(path: Path, size: tuple[int, int], n: int) -> None:
    sys.path.insert(0, str(ROOT))
    import cv2
    import skimage.data

    from tests.support.portraits import astronaut, clip, grace_hopper

    por = grace_hopper()
    por = por if por is not None else astronaut()
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), size)
    frames = clip(por, size, min(n, 60), motion="pan", noise=3, background=wall)
    frames = (frames + frames[::-1]) * (n // (2 * len(frames)) + 1)
    np.save(path, np.stack(frames[:n]))


def run_tree(tree: Path, clip: Path, mode: str, every: int) -> dict:
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
            "from benchmarks.people.stage_cpu import worker; "
            "print(json.dumps(worker(sys.argv[3], sys.argv[4], int(sys.argv[5]))))")
    env = dict(os.environ, PYTHONPATH=str(tree))
    r = subprocess.run([sys.executable, "-c", code, str(tree), str(ROOT), str(clip), mode, str(every)],
                       capture_output=True, text=True, env=env, cwd=str(tree))
    if r.returncode != 0:
        raise SystemExit(f"the run in {tree} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def extract(rev: str, dest: Path) -> Path:
    archive = dest / "tree.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "livestyle"], stdout=f, check=True)
    with tarfile.open(archive) as tf:
        tf.extractall(dest / "tree", filter="data")
    return dest / "tree"


def interleaved(baseline: str | None, size: tuple[int, int], frames: int, repeats: int,
                run: Callable[[Path, Path], dict]) -> dict[str, list[dict]]:
    """``run(tree, clip)`` ``repeats`` times for this tree and (with ``baseline``) that revision's ``livestyle/``,
    alternating, on one clip of ``frames`` frames at ``size``: each tree's results, keyed by its name."""
    with tempfile.TemporaryDirectory() as td:
        clip = Path(td) / "clip.npy"
        write_clip(clip, size, frames)
        trees = {"this tree": ROOT}
        if baseline:
            trees[baseline] = extract(baseline, Path(td))
        runs: dict[str, list[dict]] = {k: [] for k in trees}
        for _ in range(repeats):
            for name, tree in trees.items():
                runs[name].append(run(tree, clip))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", help="a git revision to measure side by side with this tree")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mode", default="blur", choices=("blur", "color", "image", "transparent"))
    ap.add_argument("--every", type=int, default=1)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipeline_bench import cpu_name

    runs = interleaved(args.baseline, (w, h), args.frames, args.repeats,
                       lambda tree, clip: run_tree(tree, clip, args.mode, args.every))
    load = os.getloadavg()
    print(f"CPU: {cpu_name()}; {w}x{h}, --background {args.mode}, person every {args.every}, {args.frames} frames, "
          f"{args.repeats} runs each interleaved; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("ms per frame, median of runs (thread CPU / process CPU):")
    print("| tree | " + " | ".join(PARTS) + " |")
    print("|---" * (len(PARTS) + 1) + "|")
    for name, rs in runs.items():
        cells = [f"{statistics.median(r[p]['thread'] for r in rs):.2f} / "
                 f"{statistics.median(r[p]['process'] for r in rs):.2f}" for p in PARTS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
