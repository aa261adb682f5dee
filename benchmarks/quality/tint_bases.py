#!/usr/bin/env python3
"""Can a look's per-frame mix of bases bring colour back after the tint projection?  Two ways to project, measured.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/quality/tint_bases.py [--noise 0.3] [--seeds 0,1]

A three-basis near-grey look (30 % of the colour left in basis 0, colourful
corrections in bases 1 and 2, a weight CNN perturbed by ``--noise`` so the
per-frame coefficients move: 0.05 gives coefficients near (1, 0.1, 0.05),
0.3 erratic ones from about -4 to 5) is projected onto the tint curve of
mono's style photos (scikit-image's and procedural photos of set B through the
true mono look) two ways: livestyle.training.tint.project_look (basis 0 onto
the curve at a mid-grey frame's coefficient, the others onto grey) and every
basis onto the curve.  Each is run by the engine (LookEngine, PyTorch: the
same maths the ONNX graph runs) on the astronaut, Grace Hopper and uniform
noise; prints the frame's coefficients, the output's chroma p99 and its
distance from the tint curve (chroma of ``out - Y - d(Y)``), in levels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def grey_look(seed: int, noise: float, bases: int = 3):
    from livestyle.models.lut import AdaptiveLUT, LutConfig, identity_lut

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    lk = AdaptiveLUT(LutConfig(bases=bases))
    with torch.no_grad():
        ident = identity_lut(17)
        y = (torch.tensor([0.114, 0.587, 0.299]).reshape(3, 1, 1, 1) * ident).sum(0, keepdim=True)
        lk.basis[0] = 0.9 * (y + 0.3 * (ident - y)) + 0.05
        for m in range(1, bases):
            lk.basis[m] = 0.15 * torch.sin(3.1416 * (ident + 0.3 * m * torch.randn(3, 1, 1, 1, generator=gen)))
        for q in lk.weights.parameters():
            q.add_(noise * torch.randn(q.shape, generator=gen))
    return lk.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--seeds", default="0,1")
    args = ap.parse_args()
    from livestyle import looks
    from livestyle.models.lut import LookEngine
    from livestyle.quality.dataset import source_samples
    from livestyle.training import tint
    from tests.support import portraits as p

    style = [looks.apply("mono", s.image) for s in source_samples("trainB", 60, 96)]
    curve = tint.tint_curve(style)
    frames = {"astronaut": p.astronaut(), "grace_hopper": p.grace_hopper(),
              "noise": np.random.default_rng(0).integers(0, 256, (288, 512, 3), dtype=np.uint8)}
    frames = {k: v for k, v in frames.items() if v is not None}

    def run(lk) -> list[str]:
        eng = LookEngine([lk]).eval()
        cells = []
        for name, f in frames.items():
            with torch.no_grad():
                x = torch.from_numpy(np.ascontiguousarray(f))[None]
                o = eng(x, torch.ones(1, 1))[0].numpy().astype(np.float64).reshape(-1, 3)
                a = eng.mix(x.float()[:, ::2, ::2].permute(0, 3, 1, 2)).reshape(-1).numpy()
            y = o @ tint.LUMA_BGR
            off = o - y[:, None] - curve(y)
            c, oc = o.max(1) - o.min(1), off.max(1) - off.min(1)
            coeffs = [round(float(v), 2) for v in a]
            cells.append(f"{name} (coefficients {coeffs}): chroma p99 {np.percentile(c, 99):.0f}, "
                         f"off the curve p99 {np.percentile(oc, 99):.1f}")
        return cells

    for seed in (int(s) for s in args.seeds.split(",")):
        print(f"seed {seed}, weight noise {args.noise}")
        print("  unprojected:          " + "; ".join(run(grey_look(seed, args.noise))))
        ours = grey_look(seed, args.noise)
        a = tint.project_look(ours, curve)
        print(f"  project_look (c={a:.2f}): " + "; ".join(run(ours)))
        every = grey_look(seed, args.noise)
        with torch.no_grad():
            for m in range(every.basis.shape[0]):
                every.basis[m].copy_(tint.project_lattice(every.basis[m], curve))
        print("  every basis on curve: " + "; ".join(run(every)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
