#!/usr/bin/env python3
"""How much the engine's per-frame grade moves from frame to frame, with and without the runner's smoothing.

    .venv/bin/python benchmarks/quality/mix_smoothing.py [--engine livestyle/styles/packs/looks] [--flash 60]

For every look of the engine and every clip of runs/data/LOOK/clips (the `livestyle eval` clips), runs
the frames through the ONNX Runtime runner twice, smoothing on (the default rate) and off (rate 1), at
512x288, and prints per clip:

* coefficient step: the largest change of any of the look's basis coefficients between consecutive
  frames (median and max over the clip), read from the runner's state;
* output step: the mean absolute change of the styled frame caused by the grade alone, i.e. the frame
  graded with this frame's coefficients against the same frame graded with the previous frame's
  (levels, median and max), computed through the torch engine;
* the same on a *flash* copy of the clip: every 8th frame brightened by --flash levels (a camera's
  auto exposure, a lamp switched on and off), the stress the smoothing is for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=ROOT / "livestyle/styles/packs/looks")
    ap.add_argument("--data", type=Path, default=ROOT / "runs/data")
    ap.add_argument("--flash", type=int, default=60)
    ap.add_argument("--size", default="512x288")
    args = ap.parse_args()
    import cv2
    import torch

    from livestyle.styles.nets import load_engine_luts
    from livestyle.models.lut import LookEngine
    from livestyle.quality.dataset import read_clip
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    from livestyle.styles.pack import load_packs

    torch.set_num_threads(1)
    w, h = (int(v) for v in args.size.lower().split("x"))
    packs = load_packs(args.engine)
    luts = load_engine_luts(args.engine)  # the colour looks: a texture look has no mix to smooth
    colour = list(luts)
    engine = LookEngine(list(luts.values())).eval()
    print(f"engine {args.engine} ({', '.join(p.name for p in packs)}), {w}x{h}, flash +{args.flash} every 8th frame")
    print("look | clip | smoothing | coef step p50 / max | grade step levels p50 / max")
    for pack in packs:
        if pack.name not in luts:
            continue
        i = colour.index(pack.name)  # its row of the state and its place among the colour looks
        clips = sorted((args.data / (pack.look or pack.name) / "clips").glob("*.avi"))
        weights = np.eye(len(packs), dtype=np.float32)[pack.look_index]
        for clip in clips:
            frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in read_clip(clip, max_frames=64)]
            flashed = [np.clip(f.astype(int) + (args.flash if j % 8 == 4 else 0), 0, 255).astype(np.uint8)
                       for j, f in enumerate(frames)]
            for tag, seq in (("", frames), (" +flash", flashed)):
                for smooth in (True, False):
                    runner = OnnxRuntimeRunner(pack, infer_size=(w, h), threads=1)
                    runner.activate()
                    if not smooth:
                        runner._smoother.rate = 1.0
                    states = []
                    for f in seq:
                        runner.infer(f, weights)
                        states.append(runner._smoother.state.copy())
                    coef = np.array([np.abs(b[i] - a[i]).max() for a, b in zip(states, states[1:])])  # this look's
                    grade = []
                    with torch.no_grad():
                        wt = torch.from_numpy(np.eye(len(colour), dtype=np.float32)[i])[None]
                        for f, a, b in zip(seq[1:], states, states[1:]):
                            x = torch.from_numpy(f)[None]
                            # rate 0: graded with exactly the given coefficients
                            one = engine(x, wt, torch.from_numpy(a), torch.zeros(1))[0].numpy().astype(np.int16)
                            two = engine(x, wt, torch.from_numpy(b), torch.zeros(1))[0].numpy().astype(np.int16)
                            grade.append(float(np.abs(two - one).mean()))
                    grade = np.array(grade)
                    print(f"{pack.name} | {clip.name}{tag} | {'on' if smooth else 'off'} | "
                          f"{np.median(coef):.5f} / {coef.max():.5f} | {np.median(grade):.3f} / {grade.max():.3f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
