"""Contact sheets of the beauty controls on real portraits (the astronaut and Grace Hopper).

For each portrait (placed in a 1280x720 frame, as a webcam would show it): one row per control (smooth,
tone, slim, eyes), one column per amount (0 / 0.3 / 0.6 / 1.0); each cell holds the face (top left) and
2x crops of the skin (a cheek, top right), the person's right eye (bottom left) and the jaw (bottom
right).  A second picture shows the skin mask beside the face.  Landmarks come from the real face tracker.

    .venv/bin/python benchmarks/beauty_sheet.py [--out benchmarks/results/beauty]

Writes ``<portrait>.png`` (every control) and ``<portrait>_mask.png`` under ``--out`` atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livestyle.fsutil import write_image  # noqa: E402
from livestyle.ops import beauty as B  # noqa: E402
from livestyle.people.face import FaceTracker  # noqa: E402
from tests.support.portraits import astronaut, grace_hopper, place  # noqa: E402

AMOUNTS = (0.0, 0.3, 0.6, 1.0)
CONTROLS = ("smooth", "tone", "slim", "eyes")


def _crop(img: np.ndarray, centre, half: int, zoom: int = 2) -> np.ndarray:
    """A (2*half)^2 crop around ``centre``, padded at the frame's edge, magnified ``zoom`` times."""
    x, y = (int(round(v)) for v in centre)
    pad = cv2.copyMakeBorder(img, half, half, half, half, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    c = pad[y:y + 2 * half, x:x + 2 * half]
    return cv2.resize(c, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.putText(out, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def sheet(frame: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the contact sheet, the mask picture), uint8 BGR."""
    x0, y0, x1, y1 = B._face_box(pts)
    fw = x1 - x0
    half_face = int(0.75 * max(fw, y1 - y0))
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    half = max(24, int(0.18 * fw))
    spots = {"skin": pts[B.CHEEKS[0]], "eye": pts[list(B.RIGHT_EYE)].mean(0), "jaw": pts[172]}
    face_px = 2 * half * 2  # the face tile is as tall as the crops
    rows = []
    mask = B.skin_mask(frame, [pts])
    for control in CONTROLS:
        cells = []
        for amount in AMOUNTS:
            out = B.apply(frame, [pts], B.Beauty(**{control: amount}))
            face = cv2.resize(_crop(out, centre, half_face, 1), (face_px, face_px), interpolation=cv2.INTER_AREA)
            skin, eye, jaw = (_crop(out, spots[k], half) for k in ("skin", "eye", "jaw"))
            cell = np.vstack([np.hstack([face, skin]), np.hstack([eye, jaw])])
            cells.append(np.pad(_label(cell, f"{control} {amount:.1f}"), ((0, 4), (0, 4), (0, 0)), constant_values=255))
        rows.append(np.hstack(cells))
    grid = np.vstack(rows)
    alpha = (mask.full() * 255).astype(np.uint8)
    mask_pic = np.hstack([_crop(frame, centre, half_face, 1), cv2.cvtColor(_crop(alpha, centre, half_face, 1),
                                                                           cv2.COLOR_GRAY2BGR)])
    return grid, mask_pic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "beauty"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bg = np.full((720, 1280, 3), (120, 140, 150), np.uint8)
    for name, img, scale in (("astronaut", astronaut(), 1.0), ("grace_hopper", grace_hopper(), 0.9)):
        if img is None:
            print(f"{name}: not available, skipped")
            continue
        frame = place(img, bg, scale=scale)
        faces = FaceTracker((1280, 720)).update(frame)
        if not faces:
            print(f"{name}: no face found, skipped")
            continue
        grid, mask_pic = sheet(frame, faces[0].landmarks)
        write_image(out / f"{name}.png", grid, (cv2.IMWRITE_PNG_COMPRESSION, 9))
        write_image(out / f"{name}_mask.png", mask_pic, (cv2.IMWRITE_PNG_COMPRESSION, 9))
        print(f"{name}: {out / (name + '.png')} ({grid.shape[1]}x{grid.shape[0]}), {out / (name + '_mask.png')}")


if __name__ == "__main__":
    main()
