#!/usr/bin/env python3
"""Where the colour learner goes, step by step: its gain on a dataset's test pairs during training.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/learn_probe.py DATASET [--steps 800] [--every 100] \
        [--set w_adversarial=0 w_colour=10 ...] [--out result.json]

DATASET is a folder made by ``looks_table.py`` (trainA, trainB, test/input, test/target).  The run is the one
``livestyle train`` makes with its defaults (the same photo loading, held-out split, local prefit, transfer
start, automatic settings and step function), in this process and without export, with the config fields given
by ``--set`` changed.  Every ``--every`` steps (and at step 0, the start) the student G is scored on the test
pairs as ``disaster_bench.gain_checkpoint`` scores a checkpoint (PyTorch, trilinear): dB over the unstyled input.
Printed beside it: the baseline (Pitie's transfer as a 17^3 LUT, ``disaster_bench.transfer_lattice``) and the
mean absolute distance of G's lattice (at a mid-grey frame's weights) from the start's, in levels, and the gain of the start plus 0.25 and 0.5 of the way from it to that lattice.  Also the
thread CPU seconds of the training steps alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import disaster_bench as db  # noqa: E402

from livestyle.models.convert import frames_to_unit, unit_to_frames  # noqa: E402
from livestyle.quality.dataset import read_test_set  # noqa: E402
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training import colour as C  # noqa: E402
from livestyle.training import dist  # noqa: E402
from livestyle.training.data import load_images  # noqa: E402


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def gain_G(G, tests) -> float:
    with torch.no_grad():
        g = [psnr(unit_to_frames(G(frames_to_unit(inp[None])))[0], tgt) - psnr(inp, tgt) for _, inp, tgt in tests]
    return round(float(np.mean(g)), 2)


def lattice(G) -> np.ndarray:
    return C.neutral_lattice(G)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--set", nargs="*", default=[], help="config fields, name=value")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    over = dict(s.split("=", 1) for s in args.set)
    over = {k: _value(v) for k, v in over.items()}
    folder = args.dataset
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = C.ColourConfig(style_images=str(folder / "trainB"), content_images=str(folder / "trainA"), name="probe",
                             out_dir=tmp, run_dir=tmp, steps=args.steps, **over)
        tr = C._Colour()
        tr.explicit = set(over)
        tr.style = load_images(cfg.style_images, cfg.size, role="style images")
        tr.content = load_images(cfg.content_images, cfg.size, role="content images")
        tr.load(cfg)
        lines = []
        run = tr.build(cfg, dist.setup("cpu"),
                       True, lines.append)
    tests = read_test_set(folder)
    base = db.gain_lattice(db.transfer_lattice(folder), tests)
    start = lattice(run.G)
    rows = []

    def record(step, cpu):
        run.G.eval()
        lat = lattice(run.G)
        row = {"step": step, "db": gain_G(run.G, tests), "db_lattice": db.gain_lattice(lat, tests),
               "moved_levels": round(float(np.abs(lat - start).mean() * 127.5), 2), "cpu_s": round(cpu, 1),
               "db_toward_start": {b: db.gain_lattice(start + b * (lat - start), tests) for b in (0.25, 0.5)}}
        run.G.train()
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(json.dumps({"dataset": str(folder), "set": over, "transfer_db": base, "said": lines}), flush=True)
    cpu = 0.0
    record(0, cpu)
    last = {}
    for i in range(args.steps):
        t = time.thread_time()
        last = C._step(run, tr.style, tr.content, i, tr.pools)
        cpu += time.thread_time() - t
        run.steps["colour"] = i + 1
        if (i + 1) % args.every == 0 or i + 1 == args.steps:
            record(i + 1, cpu)
    out = {"dataset": str(folder), "set": over, "transfer_db": base, "rows": rows, "last_losses": last,
           "said": lines}
    print(json.dumps({"transfer_db": base, "final": rows[-1], "last_losses": last}), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
