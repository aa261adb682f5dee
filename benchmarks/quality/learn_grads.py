#!/usr/bin/env python3
"""Which loss terms push the colour learner away from its distribution-transfer start, and how steadily.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/learn_grads.py DATASET [--batches 24]

Builds a run as ``livestyle train`` does (defaults, transfer start) and, for ``--batches`` batches of the
training steps' sampling, takes the gradient of each term alone on G's lattice *at the start* (no step is
taken).  Per term: the mean |gradient| of one batch, and the |mean over the batches| of the gradient.  A term
whose minimum is the start averages out (the second figure about 1/sqrt(batches) of the first); one that
pushes the same way batch after batch does not.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle.training import colour as C  # noqa: E402
from livestyle.training import dist  # noqa: E402
from livestyle.training.data import load_images  # noqa: E402
from livestyle.training.losses import lsgan  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--batches", type=int, default=24)
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = args.dataset
    tmp = tempfile.mkdtemp()
    cfg = C.ColourConfig(style_images=str(folder / "trainB"), content_images=str(folder / "trainA"), name="p",
                         out_dir=tmp, run_dir=tmp)
    tr = C._Colour()
    tr.explicit = set()
    tr.style = load_images(cfg.style_images, cfg.size, role="style images")
    tr.content = load_images(cfg.content_images, cfg.size, role="content images")
    tr.load(cfg)
    run = tr.build(cfg, dist.setup("cpu"), True, print)
    G, Fm = run.G, run.F
    terms = {
        "colour (crop SWD)": lambda A, B, r: cfg.w_colour * C.sliced_wasserstein(G(A), B, r, cfg.projections),
        "adversarial": lambda A, B, r: lsgan(run.D_B(G(A)), 1.0),
        "cycle": lambda A, B, r: cfg.w_cycle * ((Fm(G(A)) - A).abs().mean() + (G(Fm(B)) - B).abs().mean()),
        "smooth": lambda A, B, r: (G(A), cfg.w_smooth * C.curvature(G.last_luts))[1],
        "pooled SWD (w 10)": lambda A, B, r: 10 * C.pooled_swd(G.luts(G.mix(A)).mean(0, keepdim=True), tr.pools[0],
                                                               tr.pools[1], r, cfg.pool_pixels, cfg.pool_projections),
    }
    grads = {k: [] for k in terms}
    for step in range(args.batches):
        rng = np.random.default_rng([cfg.seed, 0, C.COLOUR_STAGE, step])
        A = torch.from_numpy(tr.content.sample(rng, cfg.batch))
        B = torch.from_numpy(tr.style.sample(rng, cfg.batch))
        for name, fn in terms.items():
            G.zero_grad()
            Fm.zero_grad()
            fn(A, B, np.random.default_rng(step)).backward()
            grads[name].append(G.basis.grad[0].clone())
    for name, g in grads.items():
        g = torch.stack(g)
        one, mean = float(g.abs().mean()), float(g.mean(0).abs().mean())
        print(f"{name:18s} one batch |g| {one:.2e}   |mean of {args.batches}| {mean:.2e}   ratio {mean / one:.2f}")
    print(f"(pure noise would give a ratio of about {1 / np.sqrt(args.batches):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
