"""CPU per frame of the beauty stage's two parts, the face tracker and the retouch, on the talking-head clip
of ``benchmarks/people/cost.py`` (Grace Hopper swaying over scikit-image's coffee photo, camera noise 3
levels, 1280x720), optionally side by side with another version of ``livestyle/ops/beauty.py``.

    .venv/bin/python benchmarks/beauty_cpu.py [--frames 300] [--beauty smooth=0.5,tone=0.3,slim=0.3,eyes=0.3]
        [--baseline path/to/old/beauty.py]

Every frame goes through the tracker (as the stage runs it) and then through ``apply`` of each version in
turn (the order alternating frame by frame), each on a fresh frame object taken from a clip longer than the
caches hold, as a live frame arrives.  For each part: the calling thread's CPU time (``time.thread_time``)
and the process's (``time.process_time``: OpenCV's worker threads too), median and 90th percentile ms.
The load average is printed: on a shared machine compare the columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from face_bench import cpu_name  # noqa: E402
from livestyle.controls import parse_beauty_items  # noqa: E402
from livestyle.ops import beauty as B  # noqa: E402
from livestyle.people.face import FaceTracker  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

SIZE = (1280, 720)


def _load(path: str):
    spec = importlib.util.spec_from_file_location("beauty_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _frames(n: int) -> list[np.ndarray]:
    import skimage.data

    por = grace_hopper()
    por = por if por is not None else astronaut()
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)
    frames = clip(por, SIZE, min(n, 90), motion="pan", noise=3, background=wall)
    frames = frames + frames[::-1]
    return [frames[i % len(frames)] for i in range(n)]


def _timed(fn):
    p, t = time.process_time(), time.thread_time()
    out = fn()
    return out, (time.thread_time() - t) * 1e3, (time.process_time() - p) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--beauty", default="smooth=0.5,tone=0.3,slim=0.3,eyes=0.3")
    ap.add_argument("--baseline", help="another beauty.py to time side by side")
    args = ap.parse_args()
    amounts = parse_beauty_items(args.beauty)
    versions = {"this tree": B}
    if args.baseline:
        versions["baseline"] = _load(args.baseline)
    frames = _frames(args.frames)
    tracker = FaceTracker(SIZE)
    rows: dict[str, list[tuple[float, float]]] = {"face (tracker)": []}
    rows.update({f"retouch, {v}": [] for v in versions})
    names = list(versions)
    load0 = os.getloadavg()[0]
    for i, src in enumerate(frames):
        frame = src.copy()  # a fresh frame, as from the camera
        faces, tt, pt = _timed(lambda: tracker.update(frame, t=i / 30.0))
        rows["face (tracker)"].append((tt, pt))
        if not faces:
            continue
        order = names if i % 2 == 0 else names[::-1]
        for v in order:
            mod = versions[v]
            beauty = mod.Beauty(**amounts)
            _, tt, pt = _timed(lambda: mod.apply(frame, faces, beauty))
            rows[f"retouch, {v}"].append((tt, pt))
    load1 = os.getloadavg()[0]
    print(f"CPU: {cpu_name()}; {SIZE[0]}x{SIZE[1]}, {len(frames)} frames, --beauty {args.beauty}; "
          f"cv2 threads {cv2.getNumThreads()}; load average {load0:.1f} -> {load1:.1f}")
    print("| part | thread CPU ms p50 | p90 | process CPU ms p50 | p90 | frames |\n|---|---|---|---|---|---|")
    for k, xs in rows.items():
        if not xs:
            continue
        t, p = np.array([x[0] for x in xs]), np.array([x[1] for x in xs])
        print(f"| {k} | {statistics.median(t):.2f} | {np.percentile(t, 90):.2f} | {statistics.median(p):.2f} | "
              f"{np.percentile(p, 90):.2f} | {len(xs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
