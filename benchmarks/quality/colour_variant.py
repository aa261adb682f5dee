#!/usr/bin/env python3
"""Train one colour look with some ColourConfig settings changed, then `livestyle eval` it: one line of results.

    .venv/bin/python benchmarks/quality/colour_variant.py LOOK TAG [SETTING=VALUE ...]
    e.g. colour_variant.py mono lr5 lr=0.005

Data: runs/data/LOOK (from make_datasets.py); writes runs/variants/TAG/{LOOK,packs,eval-LOOK.json}.  The
settings named are passed as set by the user, so the photo-picked settings (`auto_settings`) do not override
them.  Prints the tag, the look, the settings, the wall time, the gain over the input in dB and the mean
warping-error ratios (look / with the runtime filter / true look).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    from livestyle.training.colour import ColourConfig, train_colour

    look, tag = sys.argv[1], sys.argv[2]
    over = {}
    for kv in sys.argv[3:]:
        key, value = kv.split("=", 1)
        default = getattr(ColourConfig, key, None)
        if default is None or key not in ColourConfig.__dataclass_fields__:
            print(f"unknown setting {key!r}")
            return 2
        over[key] = type(default)(value)
    root = ROOT / "runs" / "variants" / tag
    data = ROOT / "runs" / "data" / look
    cfg = ColourConfig(style_images=str(data / "trainB"), content_images=str(data / "trainA"), name=look,
                       out_dir=str(root / "packs"), run_dir=str(root / look), look=look.rstrip("0123456789"), **over)
    t0 = time.time()
    result = train_colour(cfg, progress=False, explicit=set(over))
    wall = time.time() - t0
    report = root / f"eval-{look}.json"
    subprocess.run([sys.executable, "-m", "livestyle", "eval", str(result.pack), "--data", str(data), "--report",
                    str(report)], check=True, capture_output=True)
    ev = json.loads(report.read_text())
    ratio = ev["temporal"]["mean_ratio"]
    print(tag, look, over, f"wall {wall:.0f} s", f"gain {ev['summary']['student_gain_db']:+.2f} dB",
          "ratio look/filtered/true {:.3f}/{:.3f}/{:.3f}".format(ratio["student"], ratio["student_filtered"],
                                                                 ratio["true_look"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
