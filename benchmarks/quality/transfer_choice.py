#!/usr/bin/env python3
"""What the post-training safety check would keep, and its score, for finished colour runs.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/transfer_choice.py DATA PACK_FOLDER [LOOK_NAME]

DATA: a dataset of benchmarks/quality/transfer_bench.py (trainA, trainB, test); PACK_FOLDER: the engine pack a
colour run installed from it.  Candidates: the learned look (at the weights a mid-grey frame gets), Pitié's
transfer (as `init='transfer'` computes it) and the identity, each shrunk to the grey/skin limits; held-out
sets: every 10th training image, as `livestyle train` holds them out.  Prints one JSON line: each candidate's
test-set PSNR gain over the input (dB), the numbers the check reads, and what it keeps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle.export.cube import adaptation_range, look_lattice  # noqa: E402
from livestyle.models.convert import frames_to_unit, unit_to_frames  # noqa: E402
from livestyle.models.loading import load_engine_luts  # noqa: E402
from livestyle.quality.dataset import read_test_set  # noqa: E402
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training import transfer  # noqa: E402


def load(folder: Path, size: int = 64) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted(folder.glob("*.png"))]


def lattice_gain(lat, tests) -> float:
    out = []
    for _, inp, tgt in tests:
        y = transfer.apply_lattice(lat, inp.reshape(-1, 3) / 255.0)
        y = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8).reshape(inp.shape)
        out.append(psnr(y, tgt) - psnr(inp, tgt))
    return round(float(np.mean(out)), 2)


def main() -> int:
    data, pack = Path(sys.argv[1]), Path(sys.argv[2])
    looks = load_engine_luts(pack)
    name = sys.argv[3] if len(sys.argv) > 3 else next(iter(looks))
    G = looks[name]
    tests = read_test_set(data)
    a, b = load(data / "trainA"), load(data / "trainB")
    train_a = [im for i, im in enumerate(a) if i % 10 != 9]
    train_b = [im for i, im in enumerate(b) if i % 10 != 9]
    ha, hb = transfer.pixels(a[9::10], 4096, 2), transfer.pixels(b[9::10], 4096, 3)
    neutral, _ = adaptation_range(G)
    learned = look_lattice(G, neutral)
    idt = transfer.idt_lattice(transfer.pixels(train_a, 512, 0), transfer.pixels(train_b, 512, 1), grid=G.cfg.grid)
    choice = transfer.choose({"learned": learned, "transfer": idt}, ha, hb, prefer="learned")
    gains = {}
    with torch.no_grad():
        g = [psnr(unit_to_frames(G(frames_to_unit(inp[None])))[0], tgt) - psnr(inp, tgt) for _, inp, tgt in tests]
    gains["learned_adaptive"] = round(float(np.mean(g)), 2)
    gains["learned"] = lattice_gain(learned, tests)
    gains["transfer"] = lattice_gain(idt, tests)
    gains["kept"] = lattice_gain(choice.lattice, tests)
    print(json.dumps({"data": str(data), "pack": str(pack), "gain_db": gains, "kept": choice.name,
                      "kept_share": choice.kept, "folders_differ": choice.folders_differ, "rows": choice.rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
