#!/usr/bin/env python3
"""How far the runtime engine's first-order table lookup is from exact trilinear interpolation, per look.

    .venv/bin/python benchmarks/quality/engine_accuracy.py [--engine livestyle/styles/packs/looks] [--tables 32,16]

Training applies a look's LUT by trilinear interpolation; the engine looks each
colour up in a table of cells (value at the cell's centre plus the slopes of
its lattice cell), which is exact only where the LUT has no cross terms inside
a cell.  For each look of the engine (weight 1) and each table side, prints
the max and mean absolute difference in uint8 levels, and the share of
channels more than 1 level off, against trilinear interpolation of the same
per-frame (clipped) lattice, on the astronaut at 512x288 and on uniform noise.
Runs in PyTorch on the CPU in seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=Path("livestyle/styles/packs/looks"))
    ap.add_argument("--tables", default="32,16", help="table sides to compare (multiples of grid - 1)")
    args = ap.parse_args()
    import torch
    from skimage import data

    from livestyle.models.convert import from_unit, to_unit
    from livestyle.styles.nets import load_engine_luts
    from livestyle.models.lut import LookEngine, apply_lut

    luts = load_engine_luts(args.engine)  # the colour looks (a texture look has no LUT to compare)
    names, looks = tuple(luts), list(luts.values())
    astro = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (512, 288), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).integers(0, 256, (288, 512, 3), dtype=np.uint8)
    tables = [int(t) for t in args.tables.split(",")]
    engines = {t: LookEngine(looks, table=t).eval() for t in tables}
    print("| look | frame | " + " | ".join(f"table {t}: max / mean / share > 1" for t in tables) + " |")
    print("|---|---|" + "---|" * len(tables))
    for k, name in enumerate(names):
        w = torch.zeros(1, len(looks))
        w[0, k] = 1.0
        for frame_name, frame in (("astronaut", astro), ("noise", noise)):
            x = torch.from_numpy(frame)[None]
            with torch.no_grad():
                xu = to_unit(x)
                lut = looks[k].luts(looks[k].mix(xu)).clamp(-1.0, 1.0)
                ref = from_unit(apply_lut(lut, xu)).int()
                cells = []
                for t in tables:
                    d = (engines[t](x, w).int() - ref).abs().float()
                    cells.append(f"{int(d.max())} / {float(d.mean()):.2f} / {float((d > 1).float().mean()) * 100:.1f} %")
            print(f"| {name} | {frame_name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
