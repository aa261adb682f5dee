#!/usr/bin/env python3
"""Gather trained colour looks into the one bundled engine, with their measured metrics.

    .venv/bin/python benchmarks/quality/build_engine.py --runs runs/v2 --looks pastel,soft_glow,vintage,mono,teal_orange \
        --out livestyle/styles/packs --name looks --default pastel

Each look comes from RUNS/packs/NAME (written by `livestyle train`: a colour look, or a format-1 CNN pack, which
joins as a texture look run only when chosen) and its `livestyle eval` report
RUNS/eval-NAME.json; the report's numbers are stored as the look's ``metrics.quality`` (what
`livestyle styles` shows).  The engine keeps the looks in the order given (the weight vector's order).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def quality(report: dict, command: str) -> dict:
    t = report["temporal"]["mean_ratio"]
    return {"test_images": report["test_images"],
            "psnr_db": {"input": round(report["images"]["input"]["psnr"], 2),
                        "student": round(report["images"]["student"]["psnr"], 2)},
            "ssim": {"input": round(report["images"]["input"]["ssim"], 4),
                     "student": round(report["images"]["student"]["ssim"], 4)},
            "student_gain_db": round(report["summary"]["student_gain_db"], 2),
            "warping_error_ratio": {k: round(v, 3) for k, v in t.items() if v is not None},
            "temporal_filter_strength": report["temporal"]["filter_strength"],
            "measured_by": command}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs/v2"))
    ap.add_argument("--looks", default="pastel,soft_glow,vintage,mono,teal_orange")
    ap.add_argument("--out", type=Path, default=Path("livestyle/styles/packs"))
    ap.add_argument("--name", default="looks")
    ap.add_argument("--default", default="pastel")
    ap.add_argument("--evals", type=Path, help="folder of eval-NAME.json to record (default: --runs); e.g. the "
                                               "evaluations of the bundled engine itself, for a second pass")
    args = ap.parse_args()
    from livestyle.export.engine_pack import merge_looks
    from livestyle.styles.pack import load_pack

    names = [n.strip() for n in args.looks.split(",") if n.strip()]
    packs, extra = [], {}
    for n in names:
        packs.append(load_pack(args.runs / "packs" / n))
        evals = args.evals or args.runs
        rep = json.loads((evals / f"eval-{n}.json").read_text())
        cmd = (f"livestyle eval {n} --data runs/data/{n} (the bundled engine)" if args.evals else
               f"livestyle eval {args.runs}/packs/{n} --data runs/data/{n} (benchmarks/quality/train_looks_v2.sh)")
        metrics = dict(packs[-1].meta.get("metrics", {}))
        metrics["quality"] = quality(rep, cmd)
        extra[n] = {"metrics": metrics, "default": n == args.default}
    folder, parity = merge_looks(packs, args.out, args.name, extra_meta=extra)
    print(f"engine {folder}: {', '.join(names)}; ONNX parity {parity} level(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
