#!/usr/bin/env python3
"""How much colour the bundled mono look leaves, against the true mono look's own tint.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/quality/mono_chroma.py [--engine livestyle/styles/packs/looks]
        [--look mono] [--true-look mono] [--json out.json]

Chroma is a pixel's max minus min channel, in uint8 levels.  For scikit-image's
astronaut and Grace Hopper (tests/support/portraits.py), full size, prints the
mean and the 99th percentile of the chroma of (a) the true look
(livestyle.looks.grades) and (b) the engine's look through the ONNX Runtime
runner that `livestyle run` uses (strength 1, the first frame's own per-frame
adaptation), the difference (the target: within 5 levels at both), and the
mean absolute difference from the true look in levels.  A few seconds on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def chroma(img: np.ndarray) -> np.ndarray:
    """max - min channel per pixel, int levels."""
    x = img.astype(np.int16)
    return x.max(axis=2) - x.min(axis=2)


def chroma_stats(img: np.ndarray) -> dict:
    c = chroma(img)
    return {"mean": round(float(c.mean()), 2), "p99": round(float(np.percentile(c, 99)), 2)}


def runner_apply(pack_dir: Path, img: np.ndarray, look: str) -> np.ndarray:
    """``look`` of the engine at ``pack_dir`` at strength 1 through the ONNX Runtime runner, on one frame."""
    from livestyle.quality.evaluate import runner_stylizer
    from livestyle.styles.pack import load_pack

    return runner_stylizer(load_pack(pack_dir, look=look))(img)


def portraits() -> dict[str, np.ndarray]:
    from tests.support import portraits as p

    out = {"astronaut": p.astronaut()}
    hopper = p.grace_hopper()
    if hopper is None:
        print(f"(skipping Grace Hopper: {p.missing_reason('grace_hopper')})", file=sys.stderr)
    else:
        out["grace_hopper"] = hopper
    return out


def measure(engine: Path, look: str, true_look: str | None = None) -> dict:
    from livestyle import looks

    res = {}
    for name, img in portraits().items():
        h, w = (s - s % 4 for s in img.shape[:2])
        img = np.ascontiguousarray(img[:h, :w])
        t = looks.apply(true_look or look, img)
        e = runner_apply(engine, img, look)
        ts, es = chroma_stats(t), chroma_stats(e)
        res[name] = {"true": ts, "engine": es,
                     "gap": {k: round(es[k] - ts[k], 2) for k in ts},
                     "mean_abs_levels_vs_true": round(float(np.abs(e.astype(np.int16) - t).mean()), 2)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=Path("livestyle/styles/packs/looks"))
    ap.add_argument("--look", default="mono", help="the look's name in the engine")
    ap.add_argument("--true-look", help="the procedural look it was trained on (default: --look)")
    ap.add_argument("--json", type=Path, help="also write the numbers here (atomically)")
    args = ap.parse_args()
    res = measure(args.engine, args.look, args.true_look)
    print(f"| {args.look} | chroma mean: true / engine / gap | chroma p99: true / engine / gap | "
          "mean abs vs true (levels) |")
    print("|---|---|---|---|")
    for name, r in res.items():
        t, e, g = r["true"], r["engine"], r["gap"]
        print(f"| {name} | {t['mean']:.1f} / {e['mean']:.1f} / {g['mean']:+.1f} | "
              f"{t['p99']:.1f} / {e['p99']:.1f} / {g['p99']:+.1f} | {r['mean_abs_levels_vs_true']:.1f} |")
    if args.json:
        from livestyle.fsutil import write_json_atomic

        write_json_atomic(args.json, {"engine": str(args.engine), "look": args.look,
                                      "true_look": args.true_look or args.look, "images": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
