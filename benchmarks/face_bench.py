"""Per-frame cost of the face tracker and the four beauty operations at 720p, and landmark jitter raw vs
One Euro smoothed, on real portraits (the astronaut and Grace Hopper).

    .venv/bin/python benchmarks/face_bench.py [--frames 90] [--noise 3]

For each portrait: a clip of ``--frames`` 1280x720 frames (``still`` with camera noise, then ``pan``);
the tracker runs on every frame (detection every 30 frames), then the skin mask, smoothing, tone, slim
and eyes (each at 0.6) on the tracked face.  Prints the median, 90th percentile and minimum ms of each step
(the minimum is the least disturbed by other processes on a shared machine) and the
landmark jitter on the still clip (the std of each landmark coordinate over the frames after the first
15, averaged over the 936 coordinates) raw and smoothed, and the mean |smoothed - raw| on the pan clip
(the filter's lag).  One thread for the models.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livestyle.ops import beauty as B  # noqa: E402
from livestyle.people.face import FaceDetector, FaceLandmarker, FaceTracker  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

SETTLE = 15


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _q(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def run(name: str, img: np.ndarray, frames: int, noise: float, nets) -> None:
    still = clip(img, (1280, 720), frames, motion="still", noise=noise)
    tr = FaceTracker((1280, 720), detector=nets[0], landmarker=nets[1])
    times: dict[str, list[float]] = {k: [] for k in ("tracker", "detect (when run)", "landmarks", "skin_mask",
                                                     "smooth_skin", "tone_skin", "slim_face", "enlarge_eyes",
                                                     "all four ops", "tracker + ops")}
    raw, smooth = [], []
    for frame in still:
        faces = tr.update(frame)
        if not faces:
            continue
        times["tracker"].append(tr.last_ms["total"])
        times["landmarks"].append(tr.last_ms["landmarks"])
        if tr.detected:
            times["detect (when run)"].append(tr.last_ms["detect"])
        raw.append(faces[0].raw)
        smooth.append(faces[0].landmarks)
        pts = faces[0].landmarks
        t0 = time.perf_counter()
        mask = B.skin_mask(frame, faces)
        t1 = time.perf_counter()
        out = B.smooth_skin(frame, mask, 0.6)
        t2 = time.perf_counter()
        out = B.tone_skin(out, mask, 0.6)
        t3 = time.perf_counter()
        out = B.slim_face(out, pts, 0.6)
        t4 = time.perf_counter()
        out = B.enlarge_eyes(out, pts, 0.6)
        t5 = time.perf_counter()
        for k, a, b in (("skin_mask", t0, t1), ("smooth_skin", t1, t2), ("tone_skin", t2, t3),
                        ("slim_face", t3, t4), ("enlarge_eyes", t4, t5)):
            times[k].append((b - a) * 1000)
        times["all four ops"].append((t5 - t0) * 1000)
        times["tracker + ops"].append((t5 - t0) * 1000 + tr.last_ms["total"])
    print(f"\n## {name}: {len(still)} still frames at 1280x720, noise {noise} levels, face "
          f"{faces[0].size:.0f} px" if raw else f"\n## {name}: no face found")
    if not raw:
        return
    print("| step | median ms | p90 ms | min ms | n |\n|---|---|---|---|---|")
    for k, xs in times.items():
        if xs:
            print(f"| {k} | {statistics.median(xs):.2f} | {_q(xs, 90):.2f} | {min(xs):.2f} | {len(xs)} |")
    r, s = np.array(raw[SETTLE:]), np.array(smooth[SETTLE:])
    jr, js = float(r.std(axis=0).mean()), float(s.std(axis=0).mean())
    print(f"jitter on the still clip (std px, mean of 936 coordinates, frames {SETTLE}+): raw {jr:.3f}, "
          f"One Euro {js:.3f} ({js / jr:.2f}x); worst coordinate raw {r.std(axis=0).max():.3f}, "
          f"smoothed {s.std(axis=0).max():.3f}")
    pan = clip(img, (1280, 720), frames, motion="pan", noise=noise)
    tr = FaceTracker((1280, 720), detector=nets[0], landmarker=nets[1])
    lag = []
    for frame in pan:
        faces = tr.update(frame)
        if faces:
            lag.append(float(np.abs(faces[0].landmarks - faces[0].raw).mean()))
    print(f"pan clip (up to ~16 px/frame): mean |smoothed - raw| {np.mean(lag[5:]):.2f} px, "
          f"max {np.max(lag[5:]):.2f} px; face found in {len(lag)}/{len(pan)} frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--noise", type=float, default=3.0)
    args = ap.parse_args()
    print(f"CPU: {cpu_name()}; Python {platform.python_version()}; one model thread")
    nets = (FaceDetector(), FaceLandmarker())
    for name, img in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        if img is None:
            print(f"\n## {name}: not available")
            continue
        run(name, img, args.frames, args.noise, nets)


if __name__ == "__main__":
    main()
