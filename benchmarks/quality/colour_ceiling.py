#!/usr/bin/env python3
"""How far can a colour look get, and how much do the photos say about it?

    .venv/bin/python benchmarks/quality/colour_ceiling.py runs/data/LOOK [--images 360] [--steps 400]

For a dataset made by ``make_datasets.py`` (trainA = content photos, trainB =
style photos with the look, test = held-out pairs), prints one JSON line:

* ``ceiling``: the test-set PSNR gain of one global 17^3 LUT fitted *with
  pairs* (content photo -> its true look) by L1 and Adam: what the colour
  student could reach if the unpaired training found the right map.
* ``swd``: sliced Wasserstein distances (256 directions, 200k pixels) between
  the colours of the content photos A, the style photos B and the true look
  applied to the content photos T(A).  Unpaired colour training can only
  find the look if ``T(A)`` is much closer to B than A is; when the two
  numbers are alike, the style photos differ from the content photos more by
  what they show than by their look, and colour statistics alone cannot
  tell the look apart.

Runs on the CPU in about a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def load(folder: Path, count: int, side: int, fn=None) -> np.ndarray:
    out = []
    for f in sorted(folder.glob("*.png"))[:count]:
        im = cv2.resize(cv2.imread(str(f), cv2.IMREAD_COLOR), (side, side), interpolation=cv2.INTER_AREA)
        out.append(fn(im) if fn else im)
    return np.stack(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--images", type=int, default=360, help="photos read from each of trainA and trainB")
    ap.add_argument("--steps", type=int, default=400, help="Adam steps of the paired fit")
    args = ap.parse_args()
    import torch

    from livestyle.looks import apply
    from livestyle.models.lut import AdaptiveLUT, LutConfig, apply_lut
    from livestyle.quality.dataset import read_test_set
    from livestyle.quality.metrics import psnr

    torch.set_num_threads(1)
    torch.manual_seed(0)
    meta = json.loads((args.data / "provenance.json").read_text())
    look = meta["look"]
    content = load(args.data / "trainA", args.images, 96)
    styled = np.stack([apply(look, im) for im in content])
    style = load(args.data / "trainB", args.images, 96)

    def unit(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    # paired fit of one global LUT: the ceiling
    x, y = unit(content[:60]), unit(styled[:60])
    lut = torch.nn.Parameter(AdaptiveLUT(LutConfig()).basis.detach()[:1].clone())
    opt = torch.optim.Adam([lut], 5e-3)
    for _ in range(args.steps):
        i = torch.randint(0, len(x), (8,))
        loss = (apply_lut(lut.expand(8, -1, -1, -1, -1), x[i]) - y[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    gains, inputs = [], []
    for _, a, b in read_test_set(args.data):
        with torch.no_grad():
            out = apply_lut(lut, unit(a[None]))
        out = ((out[0].permute(1, 2, 0).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        inputs.append(psnr(a, b))
        gains.append(psnr(out, b) - psnr(a, b))

    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(3, 256))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)

    def swd(p: np.ndarray, q: np.ndarray, n: int = 200_000) -> float:
        p = p.reshape(-1, 3)[rng.choice(p.size // 3, n)] / 127.5
        q = q.reshape(-1, 3)[rng.choice(q.size // 3, n)] / 127.5
        return float(np.abs(np.sort(p @ dirs, 0) - np.sort(q @ dirs, 0)).mean())

    half = len(styled) // 2
    out = {"look": look, "data": str(args.data), "test_images": len(gains),
           "input_psnr_db": round(float(np.mean(inputs)), 2),
           "ceiling_gain_db": round(float(np.mean(gains)), 2),
           "swd": {"A_vs_B": round(swd(content, style), 4), "TA_vs_B": round(swd(styled, style), 4),
                   "TA_half_vs_half": round(swd(styled[:half], styled[half:]), 4)}}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
