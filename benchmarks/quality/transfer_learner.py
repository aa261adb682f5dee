#!/usr/bin/env python3
"""One colour run on a transfer_bench.py dataset, scored on its test set (PSNR gain over the input, dB).

    PYTHONPATH=. .venv/bin/python benchmarks/quality/transfer_learner.py DATA INIT OUT [STEPS] [SEED]

DATA: e.g. /tmp/tb/teal_orange-same (made by transfer_bench.py); INIT: transfer or identity (ColourConfig.init);
OUT: a folder for the run and its pack.  Trains with `livestyle train`'s defaults otherwise (including the
post-training check) and prints one JSON line: the gain of the installed look (float, trilinear), the wall
seconds and the held-out report.  `transfer_choice.py DATA OUT/NAME` scores the raw learned look.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle.models.convert import frames_to_unit, unit_to_frames  # noqa: E402
from livestyle.styles.nets import load_engine_luts  # noqa: E402
from livestyle.quality.dataset import read_test_set  # noqa: E402
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training.colour import ColourConfig, train_colour  # noqa: E402

data, init, out = sys.argv[1], sys.argv[2], sys.argv[3]
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 800
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
name = Path(data).name + "-" + init + (f"-s{seed}" if seed else "")
cfg = ColourConfig(style_images=f"{data}/trainB", content_images=f"{data}/trainA", name=name, out_dir=f"{out}/packs",
                   run_dir=f"{out}/{name}", init=init, steps=steps, seed=seed)
t = time.perf_counter()
res = train_colour(cfg, report=lambda m: print(m, flush=True), progress=False)
wall = time.perf_counter() - t
G = load_engine_luts(res.pack)[name]
gains = []
for _, inp, tgt in read_test_set(data):
    with torch.no_grad():
        out_img = unit_to_frames(G(frames_to_unit(inp[None])))[0]
    gains.append(psnr(out_img, tgt) - psnr(inp, tgt))
print(json.dumps({"data": data, "init": init, "seed": seed, "steps": steps, "gain_db": round(float(np.mean(gains)), 2),
                  "wall_s": round(wall), "heldout": res.metrics.get("heldout")}), flush=True)
