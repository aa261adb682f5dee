#!/usr/bin/env python3
"""How much of what training changed should a colour look keep?  Scored on finished looks_table.py cells.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/keep_share.py --root ROOT CELL [CELL ...]

CELL is LOOK-KIND of a looks_table.py run under ROOT (its dataset ROOT/data/CELL and its run folder under
ROOT/work/CELL/runs/).  For each: the run's distribution-transfer start S (recomputed from the photos as
``livestyle train`` loads them, with its held-out split and local prefit), its learned lattice L (the
checkpoint's G at a mid-grey frame's weights), and the test-pair gain (dB over the input, trilinear) of the
baseline transfer, of S, of L, and of S + b (L - S) for a few shares b.  Only meaningful for runs that kept all
they learned (ColourConfig.keep_learned = 1, as before that option).
"""

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import disaster_bench as db  # noqa: E402

from livestyle.models.lut import AdaptiveLUT  # noqa: E402
from livestyle.quality.dataset import read_test_set  # noqa: E402
from livestyle.training import checkpoint as ckpt  # noqa: E402
from livestyle.training import colour as C  # noqa: E402
from livestyle.training.data import load_images  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("cells", nargs="+")
    ap.add_argument("--shares", nargs="+", type=float, default=[0.2, 0.3, 0.4, 0.5])
    args = ap.parse_args()
    torch.set_num_threads(1)
    for cell in args.cells:
        folder = args.root / "data" / cell
        tests = read_test_set(folder)
        run = next((args.root / "work" / cell / "runs").iterdir())
        tensors, state = ckpt.load_checkpoint(run / "checkpoint.safetensors")
        cfg = C.ColourConfig.from_dict(state["config"])
        G = AdaptiveLUT(cfg.lut)
        ckpt.load_module(G, "model.G", tensors)
        L = C.neutral_lattice(G)
        tr = C._Colour()
        tr.explicit = set()
        tr.style = load_images(str(folder / "trainB"), cfg.size, role="style images")
        tr.content = load_images(str(folder / "trainA"), cfg.size, role="content images")
        tr.load(cfg)
        (S, _), _ = C.transfer_start(tr.content.images, tr.style.images, cfg)
        out = {"transfer": db.gain_lattice(db.transfer_lattice(folder), tests), "start": db.gain_lattice(S, tests),
               "learned": db.gain_lattice(L, tests),
               "start + b (learned - start)": {b: db.gain_lattice(S + b * (L - S), tests) for b in args.shares}}
        print(cell, json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
