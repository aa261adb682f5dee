#!/usr/bin/env python3
"""Markdown table of the Looks v2 measurements: `livestyle eval` reports + the training logs of train_looks_v2.sh.

    .venv/bin/python benchmarks/quality/looks_v2_table.py --runs runs/v2 --evals runs/v2/bundled pastel soft_glow ...

For each look: PSNR of the input and of the look against the true look, the gain, the mean warping-error
ratios (look at strength 1.0 without and with the runtime filter, and the true look's own), the flicker
target that applies, and the training wall/CPU time from the run's log.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle.quality.evaluate import flicker_target  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, default=Path("runs/v2"))
    ap.add_argument("--evals", type=Path, help="folder of eval-NAME.json (default: --runs)")
    ap.add_argument("looks", nargs="+")
    args = ap.parse_args()
    evals = args.evals or args.runs
    print("| look | style photos | input dB | look dB | gain dB | warping ratio (look / filtered / true look) "
          "| flicker target | flicker met | train wall s (CPU s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.looks:
        rep = json.loads((evals / f"eval-{name}.json").read_text())
        im, t = rep["images"], rep["temporal"]["mean_ratio"]
        true = t["true_look"]
        target = flicker_target(rep["look"], true)
        log = (args.runs / f"{name}.train.log")
        wall = cpu = "?"
        photos = "?"
        if log.is_file():
            text = log.read_text()
            m = re.search(r"([\d.]+) s wall, ([\d.]+) s user CPU", text)
            if m:
                wall, cpu = f"{float(m.group(1)):.0f}", f"{float(m.group(2)):.0f}"
            m = re.search(r"from (\d+) style and", text)
            if m:
                photos = m.group(1)
        print(f"| {name} | {photos} | {im['input']['psnr']:.2f} | {im['student']['psnr']:.2f} | "
              f"{rep['summary']['student_gain_db']:+.2f} | {t['student']:.3f} / {t['student_filtered']:.3f} / "
              f"{true:.3f} | <= {target:.2f} | {'yes' if t['student'] <= target else 'NO'} | {wall} ({cpu}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
