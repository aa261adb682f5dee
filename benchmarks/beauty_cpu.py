"""CPU per frame of the beauty stage's two parts, the face tracker and the retouch, on the talking-head clip
of ``benchmarks/people/cost.py`` (Grace Hopper swaying over scikit-image's coffee photo, camera noise 3
levels, 1280x720), optionally side by side with another version of ``livestyle/ops/beauty.py``.

    .venv/bin/python benchmarks/beauty_cpu.py [--frames 300] [--beauty smooth=0.5,tone=0.3,slim=0.3,eyes=0.3]
        [--baseline path/to/old/beauty.py] [--motion pan|still|zoom] [--afresh]

Every frame goes through the tracker (as the stage runs it; beside it, in alternating order, the same
tracker with the landmark model on every frame, ``hold=0``) and then through ``apply`` of each version in
turn (the order alternating frame by frame; a version with a ``Retoucher`` runs it, as the stage does),
each on a fresh frame object taken from a clip longer than the
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


def _frames(n: int, motion: str = "pan") -> list[np.ndarray]:
    import skimage.data

    por = grace_hopper()
    por = por if por is not None else astronaut()
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)
    frames = clip(por, SIZE, min(n, 90), motion=motion, noise=3, background=wall)
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
    ap.add_argument("--motion", default="pan", choices=("pan", "still", "zoom"),
                    help="the clip: Grace Hopper swaying (the default), still, or leaning in and out")
    ap.add_argument("--afresh", action="store_true",
                    help="also time this tree's stateless apply (everything made afresh on every frame)")
    args = ap.parse_args()
    amounts = parse_beauty_items(args.beauty)
    # a version is (module, the call that retouches a frame): a module with a Retoucher runs it as the
    # stage does (the faces' skin cells and warps kept between frames), an older one its apply
    versions = {"this tree": (B, B.Retoucher().apply if hasattr(B, "Retoucher") else B.apply)}
    if args.afresh:
        versions["this tree, afresh"] = (B, B.apply)
    if args.baseline:
        base = _load(args.baseline)
        versions["baseline"] = (base, base.Retoucher().apply if hasattr(base, "Retoucher") else base.apply)
    frames = _frames(args.frames, args.motion)
    tracker = FaceTracker(SIZE)
    # the same tracker with the landmark model on every frame (hold=0), where this tree's has the option
    every = FaceTracker(SIZE, hold=0, detector=tracker.detector, landmarker=tracker.landmarker) \
        if hasattr(tracker, "hold") else None
    rows: dict[str, list[tuple[float, float]]] = {"face (tracker)": []}
    if every is not None:
        rows["face (tracker, model every frame)"] = []
    rows.update({f"retouch, {v}": [] for v in versions})
    names = list(versions)
    load0 = os.getloadavg()[0]
    for i, src in enumerate(frames):
        frame = src.copy()  # a fresh frame, as from the camera
        if every is not None and i % 2:
            _, tt, pt = _timed(lambda: every.update(frame, t=i / 30.0))
            rows["face (tracker, model every frame)"].append((tt, pt))
        faces, tt, pt = _timed(lambda: tracker.update(frame, t=i / 30.0))
        rows["face (tracker)"].append((tt, pt))
        if every is not None and not i % 2:
            _, tt, pt = _timed(lambda: every.update(frame, t=i / 30.0))
            rows["face (tracker, model every frame)"].append((tt, pt))
        if not faces:
            continue
        order = names if i % 2 == 0 else names[::-1]
        for v in order:
            mod, fn = versions[v]
            beauty = mod.Beauty(**amounts)
            _, tt, pt = _timed(lambda: fn(frame, faces, beauty))
            rows[f"retouch, {v}"].append((tt, pt))
    load1 = os.getloadavg()[0]
    print(f"CPU: {cpu_name()}; {SIZE[0]}x{SIZE[1]}, {len(frames)} frames ({args.motion}), --beauty {args.beauty}; "
          f"cv2 threads {cv2.getNumThreads()}; load average {load0:.1f} -> {load1:.1f}")
    print("| part | thread CPU ms p50 | p90 | process CPU ms p50 | p90 | frames |\n|---|---|---|---|---|---|")
    for k, xs in rows.items():
        if not xs:
            continue
        t, p = np.array([x[0] for x in xs]), np.array([x[1] for x in xs])
        print(f"| {k} | {statistics.median(t):.2f} | {np.percentile(t, 90):.2f} | {statistics.median(p):.2f} | "
              f"{np.percentile(p, 90):.2f} | {len(xs)} |")
    for v, (mod, fn) in versions.items():
        keeper = getattr(fn, "__self__", None)
        if keeper is not None and hasattr(keeper, "moved"):
            print(f"{v}: skin cells made {keeper.made['mask']}, moved {keeper.moved['mask']}; "
                  f"warps made {keeper.made['warp']}, moved {keeper.moved['warp']}")
    if hasattr(tracker, "model_runs"):
        moved = getattr(tracker, "moved", None)
        print(f"tracker: landmark model on {tracker.model_runs} of {len(frames)} frames"
              + ("" if moved is None else f"; its points moved with the face on {moved}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
