#!/usr/bin/env python3
"""Where a learned colour look differs from its true look: by colour, and by how common the colour is.

    .venv/bin/python benchmarks/quality/colour_errors.py LOOK PACK [--data runs/data/LOOK] [--swatches PNG]

For a colour look trained by ``livestyle train`` (PACK: its pack folder, or an
engine look's name) and the procedural look LOOK it was trained from, prints:

* **patches**: flat colour patches (vivid green, yellow, skin, sky, grey,
  purple, red) through the pack's runner, as ``livestyle run`` sees them, next
  to the true look. A look that moves single hues (greens to cyan, say) shows
  here whether the student learned the move or left the hue alone.
* **lattice error by density**: the student's 17^3 lattice (mixed by its mean
  per-frame weights over the held-out images) against the true look at the
  same nodes, in mean absolute levels, for nodes grouped by the share of
  content-photo pixels that fall nearest to them (the densest nodes holding
  half of the pixels first). Next to it the identity's error, i.e. how far
  the look itself moves those colours. If the student's error were high only
  in rare nodes, more steps or weaker smoothing would help; if it is about
  the same everywhere, the learner has an error floor, and only looks that
  move colours much further than that floor gain many dB.

``--swatches PNG`` also draws the patches as three rows (input, true look,
student), for looking rather than reading.

The lattice is compared at nodes, where spatial parts of a look (pastel's
bloom) do not show: the true look is applied to 1x8 flat strips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PATCHES = {"green": (40, 170, 60), "yellow": (40, 190, 170), "skin": (120, 150, 210), "sky": (200, 140, 80),
           "grey": (128, 128, 128), "purple": (170, 60, 120), "red": (40, 40, 190)}   # B, G, R
BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.0))


def _levels(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{int(x)}" for x in v) + ")"


def patches(look: str, stylize, swatches: Path | None = None) -> list[str]:
    from livestyle import looks

    img = np.concatenate([np.full((64, 64, 3), c, np.uint8) for c in PATCHES.values()], axis=1)
    true, out = looks.apply(look, img), stylize(img)
    if swatches is not None:
        draw_swatches(swatches, look, img, true, out)
    rows = ["| patch (B, G, R) | true look | student | student - true |", "|---|---|---|---|"]
    for i, (name, c) in enumerate(PATCHES.items()):
        t = true[16:48, 64 * i + 16: 64 * i + 48].reshape(-1, 3).mean(0).round().astype(int)
        s = out[16:48, 64 * i + 16: 64 * i + 48].reshape(-1, 3).mean(0).round().astype(int)
        rows.append(f"| {name} {tuple(c)} | {_levels(t)} | {_levels(s)} | {_levels(s - t)} |")
    return rows


def draw_swatches(path: Path, look: str, img: np.ndarray, true: np.ndarray, out: np.ndarray) -> None:
    """Three labelled rows of patches (input, true look, student), written atomically as a PNG."""
    from livestyle.fsutil import write_image

    label_w, rows = 110, []
    for name, row in (("input", img), (f"true {look}", true), ("student", out)):
        tag = np.full((row.shape[0], label_w, 3), 30, np.uint8)
        cv2.putText(tag, name, (6, row.shape[0] // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([tag, row], axis=1))
    head = np.full((22, rows[0].shape[1], 3), 30, np.uint8)
    for i, name in enumerate(PATCHES):
        cv2.putText(head, name, (label_w + 64 * i + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (235, 235, 235), 1,
                    cv2.LINE_AA)
    write_image(path, np.concatenate([head, *rows], axis=0))


def lattice_errors(look: str, net, data: Path) -> list[str]:
    import torch

    from livestyle import looks
    from livestyle.models.convert import frames_to_unit
    from livestyle.models.lut import identity_lut

    with torch.no_grad():
        mixes = torch.cat([net.mix(frames_to_unit(cv2.imread(str(f))[None]))
                           for f in sorted((data / "test" / "input").glob("*.png"))])   # (images, bases)
        lut = net.luts(mixes.mean(0, keepdim=True))[0]                  # (3, b, g, r) in [-1, 1], the mean frame's
        g = lut.shape[1]
        nodes = ((identity_lut(g).reshape(3, -1).T + 1.0) * 127.5).round().numpy().astype(np.uint8)  # (G^3, 3)
        student = ((lut.reshape(3, -1).T.numpy() + 1.0) * 127.5).clip(0.0, 255.0)
    true = looks.apply(look, np.repeat(nodes[:, None], 8, axis=1))[:, 0].astype(np.float32)
    err = np.abs(student - true).mean(1)
    moved = np.abs(nodes.astype(np.float32) - true).mean(1)
    count = np.zeros(g ** 3)
    for f in sorted((data / "trainA").glob("*.png"))[::4]:
        px = cv2.imread(str(f))[::4, ::4].reshape(-1, 3).astype(np.float32)
        i = np.round(px / 255.0 * (g - 1)).astype(int)
        np.add.at(count, (i[:, 0] * g + i[:, 1]) * g + i[:, 2], 1)   # the lattice's [b, g, r] order
    dens = count / count.sum()
    order = np.argsort(-dens)
    cum = np.cumsum(dens[order])                                      # > 0 from the densest node on
    first = mixes[:, 0].numpy()
    rows = [f"mean per-frame weight of the first basis over the held-out images: {first.mean():.3f} (min "
            f"{first.min():.3f}, max {first.max():.3f}; {mixes.shape[1]} basis LUT(s))", "",
            "| nodes holding this share of content pixels | nodes | student error, levels | the look's own move, levels |",
            "|---|---|---|---|"]
    for lo, hi in BANDS:
        sel = order[(cum > lo) & (cum <= hi + 1e-9)]
        rows.append(f"| {lo:.2f}-{hi:.2f} | {len(sel)} | {np.average(err[sel], weights=dens[sel] + 1e-12):.1f} | "
                    f"{np.average(moved[sel], weights=dens[sel] + 1e-12):.1f} |")
    rows.append(f"| all (pixel-weighted) | {g ** 3} | {np.average(err, weights=dens):.1f} | "
                f"{np.average(moved, weights=dens):.1f} |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("look", help="the procedural look the pack was trained from (livestyle.looks)")
    ap.add_argument("pack", help="the trained colour look: a pack folder or an installed look's name")
    ap.add_argument("--data", type=Path, help="its dataset (default runs/data/LOOK)")
    ap.add_argument("--swatches", type=Path, help="also write the patches as a PNG here")
    args = ap.parse_args()
    from livestyle.models.lut import AdaptiveLUT
    from livestyle.styles.nets import load_look_net
    from livestyle.quality.evaluate import runner_stylizer
    from livestyle.styles.pack import find_style

    pack = find_style(args.pack)
    net = load_look_net(pack)
    if not isinstance(net, AdaptiveLUT):
        print(f"colour_errors: {args.pack} is not a colour look (a LUT); nothing to compare.", file=sys.stderr)
        return 2
    data = args.data or Path("runs/data") / args.look
    print(f"## {args.look}: {pack.path}\n")
    print("\n".join(patches(args.look, runner_stylizer(pack), args.swatches)))
    print()
    print("\n".join(lattice_errors(args.look, net, data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
