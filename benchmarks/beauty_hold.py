"""What holding costs in quality: the beauty stage's tracker (the landmark model skipped on a still face)
and :class:`~livestyle.ops.beauty.Retoucher` (skin cells and warps kept and moved with the face) side by
side with the model on every frame and everything made afresh (``beauty.apply``), on the same clips.

    .venv/bin/python benchmarks/beauty_hold.py [--frames 90] [--beauty smooth=0.5,tone=0.3,slim=0.3,eyes=0.3]

Clips at 1280x720 from the astronaut and Grace Hopper over scikit-image's coffee photo, camera noise 3
levels: still, a slow pan (a sway of up to ~11 px a frame) and a zoom (leaning in and out), as
``benchmarks/people/flicker.py`` makes them.  Columns, for each clip:

* model runs: frames the landmark model ran on (of all frames), and frames whose skin cells / warp were
  moved instead of made;
* warping ratio (Lai et al. 2018, the input's own flow; 1.0 = as steady as the input) of the old way
  (model every frame, made afresh) and of the new;
* lag: the mean and largest distance (px, over the frames after the 5th and all 468 points) between the
  new tracker's smoothed landmarks and those of the tracker with the model on every frame;
* jitter on the still clips (std of each coordinate over the frames after the 15th, averaged), smoothed
  and raw, old -> new;
* level difference of the new frames against the old (uint8 levels over the whole frame: max, 99.9th
  percentile and mean over the pixels either version changed), and the same for the retouch alone (both
  on the old tracker's landmarks: only the held skin cells and warps differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from face_bench import cpu_name  # noqa: E402
from livestyle.controls import parse_beauty_items  # noqa: E402
from livestyle.ops import beauty as B  # noqa: E402
from livestyle.people.face import FaceDetector, FaceLandmarker, FaceTracker  # noqa: E402
from livestyle.quality.metrics import clip_flows, warping_error_ratio  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

SIZE = (1280, 720)


def _diff(new: list[np.ndarray], old: list[np.ndarray], inputs: list[np.ndarray]) -> tuple[int, float, float]:
    """(max, 99.9th percentile, mean over the pixels either version changed) of |new - old|, all frames."""
    d = np.stack([cv2.absdiff(a, b).max(axis=2) for a, b in zip(new, old)])
    touched = np.stack([(cv2.absdiff(a, x).max(axis=2) > 0) | (cv2.absdiff(b, x).max(axis=2) > 0)
                        for a, b, x in zip(new, old, inputs)])
    vals = d[touched] if touched.any() else np.zeros(1, np.uint8)
    return int(d.max()), float(np.percentile(vals, 99.9)), float(vals.mean())


def _jitter(points: np.ndarray) -> float:
    return float(points[15:].std(axis=0).mean())


def main() -> int:
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--beauty", default="smooth=0.5,tone=0.3,slim=0.3,eyes=0.3")
    args = ap.parse_args()
    amounts = B.Beauty(**parse_beauty_items(args.beauty))
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)
    portraits = {"astronaut": astronaut()}
    gh = grace_hopper()
    if gh is not None:
        portraits["grace_hopper"] = gh
    nets = FaceDetector(), FaceLandmarker()
    print(f"CPU: {cpu_name()}; {SIZE[0]}x{SIZE[1]}, {args.frames} frames a clip, camera noise 3 levels, "
          f"--beauty {args.beauty}")
    print("| portrait | clip | model runs / skin, warp moved | warping ratio old / new | lag mean / max px | "
          "jitter smoothed old -> new (raw) | new vs old levels max / p99.9 / mean | retouch alone max / p99.9 / mean |")
    print("|---|---|---|---|---|---|---|---|")
    for name, por in portraits.items():
        for motion in ("still", "pan", "zoom"):
            frames = clip(por, SIZE, args.frames, motion=motion, noise=3, background=wall)
            old_t = FaceTracker(SIZE, hold=0, detector=nets[0], landmarker=nets[1])
            new_t = FaceTracker(SIZE, detector=nets[0], landmarker=nets[1])
            keep, keep_alone = B.Retoucher(), B.Retoucher()
            old, new, alone = [], [], []
            lo, ln, ro, rn = [], [], [], []
            for i, f in enumerate(frames):
                fo, fn = old_t.update(f, t=i / 30.0), new_t.update(f, t=i / 30.0)
                old.append(B.apply(f, fo, amounts))
                new.append(keep.apply(f, fn, amounts))
                alone.append(keep_alone.apply(f, fo, amounts))
                if fo and fn:
                    lo.append(fo[0].landmarks)
                    ln.append(fn[0].landmarks)
                    ro.append(fo[0].raw)
                    rn.append(fn[0].raw)
            flows = clip_flows(frames)
            wr_old = warping_error_ratio(old, frames, flows=flows)
            wr_new = warping_error_ratio(new, frames, flows=flows)
            lag = np.linalg.norm(np.array(ln[5:]) - np.array(lo[5:]), axis=2)
            jit = "-"
            if motion == "still":
                jit = (f"{_jitter(np.array(lo)):.3f} -> {_jitter(np.array(ln)):.3f} "
                       f"({_jitter(np.array(ro)):.3f} -> {_jitter(np.array(rn)):.3f})")
            d_all, d_alone = _diff(new, old, frames), _diff(alone, old, frames)
            print(f"| {name} | {motion} | {new_t.model_runs}/{len(frames)} / {keep.moved['mask']}, {keep.moved['warp']} | "
                  f"{wr_old:.3f} / {wr_new:.3f} | {lag.mean():.3f} / {lag.max():.3f} | {jit} | "
                  f"{d_all[0]} / {d_all[1]:.0f} / {d_all[2]:.2f} | {d_alone[0]} / {d_alone[1]:.0f} / {d_alone[2]:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
