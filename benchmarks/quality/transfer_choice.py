#!/usr/bin/env python3
"""What the post-training check keeps, and its score, for finished colour runs (their raw learned look).

    PYTHONPATH=. .venv/bin/python benchmarks/quality/transfer_choice.py DATA RUN_DIR [RUN_DIR ...]

DATA: a dataset of benchmarks/quality/transfer_bench.py (trainA, trainB, test); RUN_DIR: a colour run's folder
(its checkpoint holds the learned look G as trained, before any check).  The check
(livestyle.training.colour.check_look) is run on it with the same held-out split `livestyle train` uses (every
10th image), and the test-set PSNR gain over the input (dB) is printed before and after, one JSON line per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from livestyle.models.convert import frames_to_unit, unit_to_frames  # noqa: E402
from livestyle.models.lut import AdaptiveLUT  # noqa: E402
from livestyle.quality.dataset import read_test_set  # noqa: E402
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training import checkpoint as ckpt  # noqa: E402
from livestyle.training.colour import ColourConfig, check_look  # noqa: E402
from livestyle.training.data import load_images  # noqa: E402


def gain(G, tests) -> float:
    with torch.no_grad():
        g = [psnr(unit_to_frames(G(frames_to_unit(inp[None])))[0], tgt) - psnr(inp, tgt) for _, inp, tgt in tests]
    return round(float(np.mean(g)), 2)


def main() -> int:
    data = Path(sys.argv[1])
    tests = read_test_set(data)
    for run in sys.argv[2:]:
        tensors, state = ckpt.load_checkpoint(Path(run) / "checkpoint.safetensors")
        cfg = ColourConfig.from_dict(state["config"])
        G = AdaptiveLUT(cfg.lut)
        ckpt.load_module(G, "model.G", tensors)
        G.eval()
        before = gain(G, tests)
        style = load_images(cfg.style_images, cfg.size, role="style images").images
        content = load_images(cfg.content_images, cfg.size, role="content images").images
        keep_c = [im for i, im in enumerate(content) if i % 10 != 9]
        keep_s = [im for i, im in enumerate(style) if i % 10 != 9]
        checked = check_look(G, keep_c, keep_s, content[9::10], style[9::10], seed=cfg.seed)
        print(json.dumps({"run": run, "init": cfg.init, "learned_db": before, "after_check_db": gain(G, tests),
                          "kept": checked["kept"], "kept_share": checked["kept_share"],
                          "folders_differ": checked["folders_differ"], "candidates": checked["candidates"]}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
