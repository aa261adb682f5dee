"""Flicker of the person stage's background blur and of the beauty stage, against the input's own
(warping-error ratio, Lai et al. 2018; 1.0 = as steady as the input; targets <= 1.1), and the landmark
jitter of the face tracker on a still face with camera noise (target <= 0.5 px std at 720p).

    .venv/bin/python benchmarks/people/flicker.py [--frames 90] [--skip-beauty] [--every 1]

Clips at 1280x720 from the astronaut and Grace Hopper over a textured wall (camera noise 3 levels): a
still shot, a slow pan, a zoom (leaning in and out), each one full swing over ``--frames`` frames, so
fewer frames mean faster motion and other numbers (RESULTS.md uses 90).  Each goes through the same classes as
``livestyle run`` (PersonMatte + blurred_background + composite; FaceTracker + beauty.apply at
smooth 0.5, tone 0.3, slim 0.3, eyes 0.3), frame by frame in order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from livestyle.ops import beauty, matte  # noqa: E402
from livestyle.people.face import FaceTracker  # noqa: E402
from livestyle.people.person import PersonMatte  # noqa: E402
from livestyle.quality.metrics import clip_flows, warping_error_ratio  # noqa: E402
from pipeline_bench import cpu_name  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

SIZE = (1280, 720)
AMOUNTS = beauty.Beauty(smooth=0.5, tone=0.3, slim=0.3, eyes=0.3)


def main() -> int:
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=90, help="frames a clip (one full swing; default 90)")
    ap.add_argument("--skip-beauty", action="store_true", help="measure the background blur only")
    ap.add_argument("--every", type=int, default=1, help="the person model runs on every Nth frame (the mask held "
                    "between, as `livestyle run` does at 60 fps with 2)")
    args = ap.parse_args()
    wall = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)
    portraits = {"astronaut": astronaut()}
    gh = grace_hopper()
    if gh is not None:
        portraits["grace_hopper"] = gh
    print(f"CPU: {cpu_name()}; {SIZE[0]}x{SIZE[1]}, {args.frames} frames a clip, camera noise 3 levels, "
          f"person model every {args.every} frame(s)")
    print("| portrait | clip | blur 0.6: warping ratio | beauty: warping ratio | landmarks std raw / smoothed px |")
    print("|---|---|---|---|---|")
    for name, por in portraits.items():
        for motion in ("still", "pan", "zoom"):
            frames = clip(por, SIZE, args.frames, motion=motion, noise=3, background=wall)
            pm, tracker = PersonMatte(SIZE, every=args.every), FaceTracker(SIZE)
            blurred, retouched, raw, smooth = [], [], [], []
            for i, f in enumerate(frames):
                m = pm.update(f)
                blurred.append(matte.composite(f, m.alpha, matte.blurred_background(m.work, m.mask, 0.6, SIZE)))
                if args.skip_beauty:
                    continue
                faces = tracker.update(f, t=i / 30.0)
                retouched.append(beauty.apply(f, faces, AMOUNTS))
                if faces:
                    raw.append(faces[0].raw)
                    smooth.append(faces[0].landmarks)
            flows = clip_flows(frames)
            wr_blur = warping_error_ratio(blurred, frames, flows=flows)
            wr_beauty = warping_error_ratio(retouched, frames, flows=flows) if retouched else float("nan")
            jit = "-"
            if motion == "still" and len(raw) > 5:
                jr = float(np.sqrt(np.mean(np.var(np.array(raw[5:]), axis=0))))
                js = float(np.sqrt(np.mean(np.var(np.array(smooth[5:]), axis=0))))
                jit = f"{jr:.3f} / {js:.3f}"
            print(f"| {name} | {motion} | {wr_blur:.3f} | {wr_beauty:.3f} | {jit} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
