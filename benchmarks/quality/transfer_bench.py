#!/usr/bin/env python3
"""Training-free colour transfer (livestyle/training/transfer.py) against doing nothing, in dB on the true look.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/transfer_bench.py --data /tmp/tb [--looks teal_orange pastel]

For each look, two unpaired datasets (quality/dataset.py, 128 px, 200 content / 200 style / 24 test images):

* ``same``: content and style photos drawn from one pool of scenes (make_dataset as the benchmark makes it);
* ``shifted``: the same content photos, but the style photos are scenes of another kind: darker (gamma 1.6)
  and greener (G x1.15, R and B x0.85) *before* the look is applied, as when a user's style folder is
  night-time landscapes and their camera shows a lit face.  The true look is the same.

Prints one JSON line per (look, dataset, candidate): test-set PSNR gain over the input (dB), the held-out-style
colour distance the trainer can measure, and the grey / skin safety numbers.  Seconds are wall time on a
loaded machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle import looks  # noqa: E402
from livestyle.quality.dataset import DatasetConfig, make_dataset, read_test_set, source_samples  # noqa: E402
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training import transfer  # noqa: E402


def shift_scene(img: np.ndarray) -> np.ndarray:
    x = (img.astype(np.float32) / 255.0) ** 1.6
    x = x * np.array([0.85, 1.15, 0.85], np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def build(root: Path, look: str, n: int, size: int) -> dict[str, Path]:
    same = root / f"{look}-same"
    if not (same / "provenance.json").exists():
        make_dataset(same, DatasetConfig(look=look, size=size, n_content=n, n_style=n, n_test=24, n_clips=0))
    shifted = root / f"{look}-shifted"
    if not (shifted / "trainB").exists():
        import shutil

        shutil.copytree(same, shifted, ignore=shutil.ignore_patterns("trainB"))
        (shifted / "trainB").mkdir()
        fn = looks.get(look)
        for i, s in enumerate(source_samples("trainB", n, size, 0, 0.35)):
            cv2.imwrite(str(shifted / "trainB" / f"{i:04d}.png"), fn(shift_scene(s.image)))
    return {"same": same, "shifted": shifted}


def load(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted(folder.glob("*.png"))]


def gain_db(lattice: np.ndarray | None, tests) -> float:
    gains = []
    for _, inp, tgt in tests:
        if lattice is None:
            out = inp
        else:
            flat = transfer.apply_lattice(lattice, inp.reshape(-1, 3) / 255.0)
            out = np.clip(flat * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(inp.shape)
        gains.append(psnr(out, tgt) - psnr(inp, tgt))
    return float(np.mean(gains))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--looks", nargs="+", default=["teal_orange"])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    root = Path(args.data)
    for look in args.looks:
        for kind, folder in build(root, look, args.n, args.size).items():
            tests = read_test_set(folder)
            a, b = load(folder / "trainA"), load(folder / "trainB")
            held_a, held_b = a[9::10], b[9::10]
            train_a = [im for i, im in enumerate(a) if i % 10 != 9]
            train_b = [im for i, im in enumerate(b) if i % 10 != 9]
            pa, pb = transfer.pixels(train_a, 512, 0), transfer.pixels(train_b, 512, 1)
            ha, hb = transfer.pixels(held_a, 4096, 2), transfer.pixels(held_b, 4096, 3)
            cands = {"identity": None}
            secs = {}
            for name, fn in (("idt", transfer.idt_lattice), ("banded", transfer.banded_lattice),
                             ("banded_colour", lambda x, y: transfer.banded_lattice(x, y, tone=False))):
                t = time.perf_counter()
                cands[name] = fn(pa, pb)
                secs[name] = round(time.perf_counter() - t, 2)
            for name in ("idt", "banded", "banded_colour"):
                cands[name + "_safe"], share = transfer.shrink_to_safe(cands[name])
                secs[name + "_safe"] = share
            for name, lat in cands.items():
                styled = ha if lat is None else transfer.apply_lattice(lat, ha)
                row = {"look": look, "data": kind, "candidate": name, "gain_db": round(gain_db(lat, tests), 2),
                       "heldout_distance": round(transfer.sliced_distance(styled, hb), 2),
                       "fit_seconds": secs.get(name, 0.0)}
                if lat is not None:
                    row.update({k: round(v, 2) for k, v in transfer.safety(lat).items()})
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
