#!/usr/bin/env python3
"""How far a colour look styled at a small inference size and brought back by detail transfer is from the
same look applied to every pixel of a 1080p frame.

    .venv/bin/python benchmarks/quality/upsample_fidelity.py [--out benchmarks/quality/results]

For each bundled colour look and frame (three public-domain photos from scikit-image, scaled to 1920x1080,
and a frame of the built-in demo scene) it prints the PSNR (dB) of `ops.upsample.detail_transfer` from each
of the adaptive controller's sizes against the engine run on the full 1920x1080 frame, and writes a crop of
mono on the astronaut (every pixel / from 512x288 / from 192x112 / the difference x4) to
``--out/upsample-1080p-mono-crop.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZES = ((512, 288), (384, 216), (256, 144), (192, 112))
LOOKS = ("pastel", "vintage", "mono")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "quality" / "results")
    args = ap.parse_args()
    import onnxruntime as ort
    from skimage import data

    from livestyle.ops.upsample import detail_transfer, downscale
    from livestyle.runners.contract import still_feeds
    from livestyle.sources.demo import DemoSource
    from livestyle.styles.pack import load_packs

    engine = ROOT / "livestyle" / "styles" / "packs" / "looks"
    index = {p.name: p.look_index for p in load_packs(engine, bundled=True)}
    sess = ort.InferenceSession(str(engine / "engine.onnx"), providers=["CPUExecutionProvider"])

    def look(img: np.ndarray, name: str) -> np.ndarray:
        w = np.zeros((1, len(index)), np.float32)
        w[0, index[name]] = 1.0
        return sess.run(None, still_feeds(sess, img[None], w))[0][0]

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))

    frames = {n: cv2.resize(cv2.cvtColor(getattr(data, n)(), cv2.COLOR_RGB2BGR), (1920, 1080),
                            interpolation=cv2.INTER_CUBIC) for n in ("astronaut", "coffee", "chelsea")}
    demo = DemoSource(size=(1920, 1080), fps=30.0)
    demo.open()
    for _ in range(30):
        frames["demo scene"] = demo.read()
    demo.close()
    print("| frame | look | " + " | ".join(f"from {w}x{h}" for w, h in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for name, full in frames.items():
        for lk in LOOKS:
            exact = look(full, lk)
            cells = []
            for size in SIZES:
                small = downscale(full, size)
                cells.append(f"{psnr(detail_transfer(full, small, look(small, lk)), exact):.1f} dB")
            print(f"| {name} | {lk} | " + " | ".join(cells) + " |")

    full = frames["astronaut"]
    exact = look(full, "mono")
    tiles = [exact] + [detail_transfer(full, downscale(full, s), look(downscale(full, s), "mono"))
                       for s in ((512, 288), (192, 112))]
    crop = [t[150:550, 700:1200] for t in tiles]
    crop.append(cv2.convertScaleAbs(cv2.absdiff(crop[2], crop[0]), alpha=4))
    labels = ("mono on every 1080p pixel", "from 512x288 (detail transfer)", "from 192x112", "|192 - every pixel| x4")
    for tile, label in zip(crop, labels):
        cv2.rectangle(tile, (0, 0), (tile.shape[1], 28), (0, 0, 0), -1)
        cv2.putText(tile, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = cv2.resize(np.hstack(crop), None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    from livestyle.fsutil import write_image

    dest = write_image(args.out / "upsample-1080p-mono-crop.png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"\nwrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
