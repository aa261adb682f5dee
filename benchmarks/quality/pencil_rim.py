#!/usr/bin/env python3
"""How much light band a drawn look puts beside strong edges, against the rim-free colour look it was built on.

    .venv/bin/python benchmarks/quality/pencil_rim.py --base runs/variants/lut_only/packs/pencil \\
        PACK [PACK ...] [--data runs/data/pencil] [--crops benchmarks/quality/results/pencil-rim-crops.png]

Each PACK is a format-1 pack (its student.onnx, run by ONNX Runtime). For every held-out image of --data plus
the two faces (Grace Hopper, the astronaut), pixels 2-4 px beside a strong edge of the input (Sobel magnitude
over 200) are compared with the base colour look (a per-pixel grade, so it has no band): the score is the
mean amount, in levels of luma, by which the pack's output is *lighter* there. A look that draws dark
outlines on the colour look scores near 0; the light band that the drawn look showed beside dark jackets
and the helmet ring scores as its mean brightening. --crops writes 3x crops of both faces (input, then each
pack) for the eye.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def faces() -> list[np.ndarray]:
    from skimage import data

    hopper = cv2.imread(str(ROOT / "benchmarks" / "quality" / "faces" / "grace_hopper_512x512.jpg"))
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return [cv2.resize(im, (256, 256), interpolation=cv2.INTER_AREA) for im in (hopper, astronaut)]


def luma(im: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(im, cv2.COLOR_BGR2GRAY).astype(np.float32)


def beside_edges(im: np.ndarray) -> np.ndarray:
    """Pixels 2-4 px from a strong edge of ``im`` (not on it), as a bool mask."""
    g = luma(im)
    strong = (np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)) > 200).astype(np.uint8)
    return (cv2.dilate(strong, np.ones((9, 9), np.uint8)) > 0) & (cv2.dilate(strong, np.ones((3, 3), np.uint8)) == 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("packs", nargs="+", type=Path, help="format-1 packs (student.onnx)")
    ap.add_argument("--base", type=Path, required=True, help="the colour look the drawn look was built on")
    ap.add_argument("--data", type=Path, default=Path("runs/data/pencil"))
    ap.add_argument("--crops", type=Path, help="PNG of 3x crops of both faces, input then each pack")
    args = ap.parse_args()
    import onnxruntime as ort
    import torch

    from livestyle.fsutil import write_image
    from livestyle.models.convert import from_unit, to_unit
    from livestyle.styles.nets import load_look_net
    from livestyle.styles.pack import load_pack

    base = load_look_net(load_pack(args.base))
    sessions = [ort.InferenceSession(str(p / "student.onnx"), providers=["CPUExecutionProvider"])
                for p in args.packs]
    images = [cv2.imread(str(p)) for p in sorted((args.data / "test" / "input").glob("*.png"))] + faces()
    scores = np.zeros((len(args.packs), len(images)))
    outputs: list[list[np.ndarray]] = []
    for j, im in enumerate(images):
        mask = beside_edges(im)
        with torch.no_grad():
            graded = from_unit(base(to_unit(torch.from_numpy(im)[None])))[0].numpy()
        outs = [s.run(None, {"bgr": im[None]})[0][0] for s in sessions]
        for i, out in enumerate(outs):
            scores[i, j] = float(np.maximum(luma(out) - luma(graded), 0.0)[mask].mean()) if mask.any() else 0.0
        outputs.append(outs)
    print(f"{len(images) - 2} held-out images of {args.data} and 2 faces; light band beside strong edges, "
          "mean levels over the colour look")
    print("| pack | all images | Grace Hopper | astronaut |")
    print("|---|---|---|---|")
    for i, p in enumerate(args.packs):
        print(f"| {p} | {scores[i].mean():.2f} | {scores[i, -2]:.2f} | {scores[i, -1]:.2f} |")
    if args.crops:
        boxes = [(126, 220, 180, 256),   # (y0, y1, x0, x1) at 256 px: Hopper's shoulder against the blue
                 (60, 154, 32, 108)]     # the astronaut's helmet ring
        rows = []
        for (y0, y1, x0, x1), im, outs in zip(boxes, images[-2:], outputs[-2:]):
            tiles = [cv2.resize(t[y0:y1, x0:x1], None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
                     for t in [im, *outs]]
            rows.append(np.concatenate(tiles, 1))
        sheet = np.concatenate(rows, 0)
        write_image(args.crops, sheet)
        print(f"wrote {args.crops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
