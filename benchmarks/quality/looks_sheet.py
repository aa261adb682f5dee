#!/usr/bin/env python3
"""Contact sheet of every look of an engine on faces and rooms, and blend strips, through ONNX Runtime.

    .venv/bin/python benchmarks/quality/looks_sheet.py livestyle/styles/packs/looks --out benchmarks/quality/results

Faces: scikit-image's astronaut and Grace Hopper (benchmarks/quality/faces/, public domain); rooms: two
procedural rooms, one with a figure (livestyle.quality.dataset).  Columns: the input, then each look at
weight 1 (with its true procedural look underneath when the look names one).  Blend strips: the astronaut
moving from one look to another in steps of 0.25, as the engine blends them.  Writes
looks-v2-sheet.png and looks-v2-blend.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
TILE = 192


def images() -> list[tuple[str, np.ndarray]]:
    from livestyle.quality import dataset

    out = []
    try:
        from skimage import data

        out.append(("astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)))
    except ImportError:
        pass
    hopper = ROOT / "benchmarks" / "quality" / "faces" / "grace_hopper_512x512.jpg"
    if hopper.is_file():
        out.append(("Grace Hopper", cv2.imread(str(hopper))))
    rng = np.random.default_rng(11)
    room = dataset._room(rng, 384)
    out.append(("room", room))
    out.append(("room + figure", dataset._figure(np.random.default_rng(5), 384, background=dataset._room(rng, 384))))
    return [(n, cv2.resize(im, (TILE, TILE), interpolation=cv2.INTER_AREA)) for n, im in out]


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("engine", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "quality" / "results")
    ap.add_argument("--blends", default="pastel>vintage,teal_orange>mono,soft_glow>pastel")
    args = ap.parse_args()
    import onnxruntime as ort

    from livestyle import looks as true_looks
    from livestyle.fsutil import write_image
    from livestyle.runners.contract import still_feeds

    meta = json.loads((args.engine / "style.json").read_text())
    names = [lk["name"] for lk in meta["looks"]]
    procedural = [lk.get("look") for lk in meta["looks"]]
    sess = ort.InferenceSession(str(args.engine / "engine.onnx"), providers=["CPUExecutionProvider"])
    k = len(names)

    def run(img: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sess.run(None, still_feeds(sess, img[None], w[None]))[0][0]

    rows = []
    for title, img in images():
        top = [label(img, title)]
        bottom = [np.full_like(img, 40)]
        for i, n in enumerate(names):
            top.append(label(run(img, np.eye(k)[i]), n))
            look = procedural[i]
            bottom.append(label(true_looks.apply(look, img), f"true {look}") if look in true_looks.names()
                          else np.full_like(img, 40))
        rows += [np.hstack(top), np.hstack(bottom)]
    sheet = write_image(args.out / "looks-v2-sheet.png", np.vstack(rows))
    face = images()[0][1]
    strips = []
    for pair in args.blends.split(","):
        a, b = pair.split(">")
        if a not in names or b not in names:
            continue
        tiles = []
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            w = np.zeros(k)
            w[names.index(a)] += 1 - t
            w[names.index(b)] += t
            tiles.append(label(run(face, w), f"{a} {1 - t:.2f} / {b} {t:.2f}"))
        strips.append(np.hstack(tiles))
    blend = args.out / "looks-v2-blend.png"
    if strips:
        write_image(blend, np.vstack(strips))
    print(f"wrote {sheet}" + (f" and {blend}" if strips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
