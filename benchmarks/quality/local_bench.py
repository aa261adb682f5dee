#!/usr/bin/env python3
"""A look's LUT alone against the LUT with its fitted local part (vignette, bloom), from one training run.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_bench.py --data DATA --pack PACK --out OUT \
        [--name LOOK] [--test-images 24] [--frames 48]

DATA: a dataset (``dataset.make_dataset``: trainA, trainB, test/, clips/); PACK: the engine pack `livestyle train`
wrote for it (its first look).  Two packs are written under OUT: ``LOOK_lut`` (PACK's LUT, no local part) and
``LOOK_local`` (PACK's look with its local part as train kept it; with ``--refit``, for a pack trained without
one, the local part fitted here by ``training.local.fit_local`` on the photos read and split as `livestyle train`
reads and splits them: ``load_images`` at the default 64 px crop, every 10th held out).  Each is scored by
`livestyle eval` (the ONNX Runtime runner `livestyle run` uses) on DATA's held-out test pairs and clips.
OUT/local_bench.json gets the fit's record, both evaluations and the fit's CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", help="the look's name in the pack (default: its first look)")
    ap.add_argument("--test-images", type=int, default=24)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--refit", action="store_true",
                    help="fit the local part here (for a pack trained without it); default: the pack's own local "
                         "part against the same pack with none")
    args = ap.parse_args()

    import torch

    from livestyle.fsutil import write_json_atomic
    from livestyle.export.engine_pack import write_engine_pack
    from livestyle.styles.nets import load_engine_luts
    from livestyle.training.colour import _split
    from livestyle.training.data import load_images
    from livestyle.training.local import fit_local, local_lines

    torch.set_num_threads(1)  # as train runs it
    looks = load_engine_luts(args.pack)
    name = args.name or next(iter(looks))
    look = looks[name]
    style, style_held = _split(load_images(args.data / "trainB", 64, role="style images"))
    content, content_held = _split(load_images(args.data / "trainA", 64, role="content images"))
    args.out.mkdir(parents=True, exist_ok=True)
    true_look = json.loads((args.data / "provenance.json").read_text())["look"]
    packs = {}
    with torch.no_grad():
        kept = look.local.clone()
        look.local.zero_()
    packs["lut"], _ = write_engine_pack(args.out, [(f"{name}_lut", look, {"look": true_look})])
    if args.refit:
        t0, c0 = time.perf_counter(), time.process_time()
        # a LUT learned from the style photos as they are: the fit compensates (what train does when nothing was
        # taken out of the style photos before training)
        record = fit_local(look, content.images, style.images, content_held, style_held)
        fit_s = {"wall": round(time.perf_counter() - t0, 1), "cpu": round(time.process_time() - c0, 1)}
    else:  # the local part train kept (its record is in the pack's metrics)
        with torch.no_grad():
            look.local.copy_(kept)
        meta = json.loads((args.pack / "style.json").read_text())
        record = next(lk for lk in meta["looks"] if lk["name"] == name)["metrics"].get("local", {})
        fit_s = None
    for line in local_lines(record):
        print(line, flush=True)
    packs["local"], parity = write_engine_pack(args.out, [(f"{name}_local", look, {"look": true_look})])
    evals = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, pack in packs.items():
        report = args.out / f"eval-{key}.json"
        subprocess.run([sys.executable, "-m", "livestyle", "eval", str(pack), "--data", str(args.data),
                        "--test-images", str(args.test_images), "--frames", str(args.frames),
                        "--report", str(report)], check=True, env=env, stdout=subprocess.DEVNULL)
        evals[key] = json.loads(report.read_text())
    out = {"data": str(args.data), "pack": str(args.pack), "look": name, "fit": record, "fit_seconds": fit_s,
           "export_parity_uint8": parity, "evals": evals}
    write_json_atomic(args.out / "local_bench.json", out)
    for key, r in evals.items():
        q = r.get("quality", r)
        print(key, json.dumps({k: q.get(k) for k in ("psnr_gain_db", "psnr_db", "input_psnr_db")}),
              json.dumps(r.get("temporal", {}))[:400], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
