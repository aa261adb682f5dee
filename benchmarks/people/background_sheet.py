"""A contact sheet of every background mode on real portraits, with 2x crops of the edges.

    .venv/bin/python benchmarks/people/background_sheet.py [--out benchmarks/results/people]

Rows: the astronaut and Grace Hopper (public domain), each placed over a textured photograph
(scikit-image's coffee) at 1280x720.  Columns: the input, blur 0.3 / 0.6 / 1.0, a colour, an image
(scikit-image's rocket) and transparent (shown over a checkerboard).  Under each row, 2x crops of the
top of the head and a shoulder in the same modes.  Every output goes through the same functions as
``livestyle run`` (livestyle.people.person.PersonMatte, livestyle.ops.matte).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from livestyle.fsutil import write_image  # noqa: E402
from livestyle.ops import matte  # noqa: E402
from livestyle.people.person import PersonMatte  # noqa: E402
from tests.support.portraits import astronaut, clip, grace_hopper  # noqa: E402

SIZE = (1280, 720)
TILE = (320, 180)


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 20), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def modes(frame: np.ndarray, m, image_bg: np.ndarray) -> list[tuple[str, np.ndarray]]:
    out = [("input", frame)]
    for s in (0.3, 0.6, 1.0):
        out.append((f"blur {s}", matte.composite(frame, m.alpha, matte.blurred_background(m.work, m.mask, s, SIZE))))
    out.append(("color #2e8b57", matte.composite(frame, m.alpha, matte.solid_background(frame.shape, matte.parse_colour("#2e8b57")))))
    out.append(("image", matte.composite(frame, m.alpha, image_bg)))
    out.append(("transparent", matte.composite(frame, m.alpha, matte.checkerboard(*frame.shape[:2]))))
    return out


def main() -> int:
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "people"))
    args = ap.parse_args()
    tex = cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)
    image_bg = matte.image_background(cv2.cvtColor(skimage.data.rocket(), cv2.COLOR_RGB2BGR), SIZE)
    portraits = [("astronaut", astronaut())]
    gh = grace_hopper()
    if gh is not None:
        portraits.append(("grace_hopper", gh))
    rows = []
    for name, por in portraits:
        frames = clip(por, SIZE, 12, motion="still", noise=2, background=tex)
        pm = PersonMatte(SIZE)
        for f in frames:
            m = pm.update(f)
        frame = frames[-1]
        outs = modes(frame, m, image_bg)
        rows.append(np.hstack([label(cv2.resize(o, TILE, interpolation=cv2.INTER_AREA), f"{name}: {t}")
                               for t, o in outs]))
        ys, xs = np.nonzero(m.alpha >= 128)
        top = int(ys.min())
        xc = int(xs[ys == top].mean())
        y0, x0 = max(0, top - 30), int(np.clip(xc - 80, 0, SIZE[0] - 160))
        crops = [cv2.resize(o[y0:y0 + 90, x0:x0 + 160], TILE, interpolation=cv2.INTER_NEAREST) for _, o in outs]
        rows.append(np.hstack([label(c, f"2x head: {t}") for c, (t, _) in zip(crops, outs)]))
    out = Path(args.out) / "background-modes.png"
    write_image(out, np.vstack(rows))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
