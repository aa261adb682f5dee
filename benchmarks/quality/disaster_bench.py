#!/usr/bin/env python3
"""Never a disaster: `livestyle train` on folders of very different photographs, scored on the hidden look.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/disaster_bench.py --root /tmp/disaster \
        [--datasets amber_cyan split_fade teal_orange-same pastel-same] [--steps 800] [--seed 0]

Datasets (built under ROOT once, deterministic and offline; 128 px, 200 content / 200 style / 24 test):

* ``amber_cyan``, ``split_fade`` (any name of ``dataset.HIDDEN_LOOKS`` or of ``livestyle.looks``): the
  content folder is webcam-like indoor scenes (faces over rooms, dim warm light), the style folder is the
  hidden look over outdoor scenes (beaches, foliage, sunsets in daylight): other subjects, palette and
  brightness (``dataset.make_different_dataset``).  amber_cyan moves hues (warm tones toward amber, greens
  toward cyan), split_fade is a faded film grade with cool shadows and warm highlights.
* ``LOOK-nCOUNT`` (e.g. ``amber_cyan-n44``): as above with COUNT content and COUNT style photos.
* ``LOOK-mixed``: as above, but half the style photos are indoor scenes too (other ones than the content's),
  as a feed that is partly selfies.
* ``LOOK-shifted``: transfer_bench.py's moderately different folders (the style scenes darker and greener
  before the look is applied).
* ``LOOK-same``: both folders drawn from one pool of scenes (``dataset.make_dataset``, as
  ``transfer_bench.py`` builds them), to show the check leaves matched folders alone.

Per dataset: `livestyle train` with its defaults (``--steps`` only if given) as a subprocess, into a
temporary ``LIVESTYLE_HOME`` (nothing is installed in the user's home) with its own ``--run-dir``; then, on
the held-out ``test/input -> test/target`` pairs, the gain in dB over the unstyled input of

* ``installed``: what the user got (the installed look through the runner `livestyle run` uses, ONNX
  Runtime; 0.0 when nothing was installed: the camera stays as it is);
* ``trained``: the look train built, installed or not (the pack it leaves in the run folder when it refuses,
  i.e. what ``--force`` installs), same runner;
* ``learned_raw``: the learned look before the post-training check (its checkpoint, PyTorch, trilinear);
* ``transfer``: the training-free baseline, Pitié's distribution transfer of the same training photos (every
  10th held out as train does), as a 17^3 LUT;
* ``identity``: 0.0 by definition.

For the raw learned look it also records what the check's other two signals (a grey cast far beyond the style
photos' own greys, flicker) say about it on their own, as if the folders test did not exist.

Also recorded: the exit code, whether a look was installed, train's printed lines, wall seconds, the child's CPU
seconds and the 1-minute load average before and after training.  Results
go to ROOT/results.json after each dataset (written atomically); a rerun skips datasets already done with
the same steps and seed, so a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from livestyle.quality.dataset import (DatasetConfig, DifferentConfig, make_dataset,  # noqa: E402
                                       make_different_dataset, read_test_set)
from livestyle.quality.metrics import psnr  # noqa: E402
from livestyle.training import transfer  # noqa: E402


def build(root: Path, name: str) -> Path:
    folder = root / "data" / name
    if (folder / "provenance.json").exists():
        return folder
    if name.endswith("-shifted"):  # transfer_bench.py's: the style scenes darker and greener before the look
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from transfer_bench import build as build_pair

        build_pair(root / "data", name[: -len("-shifted")], 200, 128)
    elif name.endswith("-same"):
        make_dataset(folder, DatasetConfig(look=name[: -len("-same")], size=128, n_content=200, n_style=200,
                                           n_test=24, n_clips=0))
    elif "-n" in name:  # LOOK-nCOUNT: COUNT content and COUNT style photos, as the example (44 + 44)
        look, count = name.rsplit("-n", 1)
        make_different_dataset(folder, DifferentConfig(look=look, n_content=int(count), n_style=int(count)))
    elif name.endswith("-mixed"):
        make_different_dataset(folder, DifferentConfig(look=name[: -len("-mixed")], outdoor_share=0.5))
    else:
        make_different_dataset(folder, DifferentConfig(look=name))
    return folder


def _load(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted(folder.glob("*.png"))]


def gain_runner(pack_dir: Path, tests) -> float:
    from livestyle.quality.evaluate import _crop4, runner_stylizer
    from livestyle.styles.pack import load_pack

    pack = load_pack(pack_dir)
    run = runner_stylizer(pack)
    gains = []
    for _, inp, tgt in tests:
        inp, tgt = _crop4(inp, pack.size_multiple), _crop4(tgt, pack.size_multiple)
        run.reset()
        gains.append(psnr(run(inp), tgt) - psnr(inp, tgt))
    return round(float(np.mean(gains)), 2)


def gain_checkpoint(run_dir: Path, tests) -> float | None:
    import torch

    from livestyle.models.convert import frames_to_unit, unit_to_frames
    from livestyle.models.lut import AdaptiveLUT
    from livestyle.training import checkpoint as ckpt
    from livestyle.training.colour import ColourConfig

    path = run_dir / "checkpoint.safetensors"
    if not path.exists():
        return None
    tensors, state = ckpt.load_checkpoint(path)
    G = AdaptiveLUT(ColourConfig.from_dict(state["config"]).lut)
    ckpt.load_module(G, "model.G", tensors)
    G.eval()
    with torch.no_grad():
        g = [psnr(unit_to_frames(G(frames_to_unit(inp[None])))[0], tgt) - psnr(inp, tgt) for _, inp, tgt in tests]
    return round(float(np.mean(g)), 2)


def raw_signals(run_dir: Path, folder: Path) -> dict | None:
    """The learned look before the check, judged as train would judge it without the folders test: the cast it
    gives greys beyond the style photos' own (transfer.neutral_cast) and its held-out flicker, measured on the
    photos as train loads them (64 px) with the same held-out split; and the reasons transfer.unreliable finds."""
    from livestyle.models.lut import AdaptiveLUT
    from livestyle.quality.heldout import heldout_report
    from livestyle.training import checkpoint as ckpt
    from livestyle.training.colour import ColourConfig, neutral_lattice
    from livestyle.training.data import load_images

    path = run_dir / "checkpoint.safetensors"
    if not path.exists():
        return None
    tensors, state = ckpt.load_checkpoint(path)
    cfg = ColourConfig.from_dict(state["config"])
    G = AdaptiveLUT(cfg.lut)
    ckpt.load_module(G, "model.G", tensors)
    G.eval()
    lat = neutral_lattice(G)
    a = load_images(str(folder / "trainA"), cfg.size, role="content images").images
    b = load_images(str(folder / "trainB"), cfg.size, role="style images").images
    ps = transfer.pixels([im for i, im in enumerate(b) if i % 10 != 9], 512, cfg.seed + 1)
    neutral = transfer.neutral_cast(lat, ps)
    held = heldout_report(G, a[9::10], b[9::10])
    return {"neutral_cast": neutral, "flicker": held["warping_error_ratio"], "closer_percent": held["closer_percent"],
            "reasons_without_folders_test": transfer.unreliable(
                {"neutral_cast": neutral, "training_photos": [len(a) - len(a[9::10]), len(b) - len(b[9::10])]},
                held["warping_error_ratio"])}


def transfer_lattice(folder: Path) -> np.ndarray:
    """The training-free baseline's 17^3 lattice: Pitié's distribution transfer of the dataset's training photos
    (every 10th held out, as train does)."""
    a, b = _load(folder / "trainA"), _load(folder / "trainB")
    pa = transfer.pixels([im for i, im in enumerate(a) if i % 10 != 9], 512, 0)
    pb = transfer.pixels([im for i, im in enumerate(b) if i % 10 != 9], 512, 1)
    return transfer.idt_lattice(pa, pb)


def apply_lattice_u8(lat: np.ndarray, image: np.ndarray) -> np.ndarray:
    """uint8 BGR image through a lattice (trilinear), rounded back to uint8."""
    out = transfer.apply_lattice(lat, image.reshape(-1, 3) / 255.0)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(image.shape)


def gain_lattice(lat: np.ndarray, tests) -> float:
    return round(float(np.mean([psnr(apply_lattice_u8(lat, inp), tgt) - psnr(inp, tgt) for _, inp, tgt in tests])), 2)


def gain_transfer(folder: Path, tests) -> float:
    return gain_lattice(transfer_lattice(folder), tests)


def train(folder: Path, work: Path, name: str, steps: int | None, seed: int) -> dict:
    home, run_dir = work / "home", work / "runs" / name
    cmd = [sys.executable, "-m", "livestyle", "train", "--style-images", str(folder / "trainB"),
           "--content-images", str(folder / "trainA"), "--name", name, "--run-dir", str(run_dir), "--no-progress"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if seed:
        cmd += ["--seed", str(seed)]
    env = {**os.environ, "LIVESTYLE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    installed = home / "styles" / name
    return {"command": "livestyle " + " ".join(cmd[3:]), "exit_code": p.returncode, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "stdout": p.stdout.splitlines(), "stderr_tail": p.stderr.splitlines()[-12:],
            "installed_dir": str(installed) if installed.exists() else None, "run_dir": str(run_dir)}


def _write(path: Path, results: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--datasets", nargs="+", default=["amber_cyan", "split_fade", "teal_orange-same", "pastel-same"])
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: train's own default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    out = root / "results.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    for ds in args.datasets:
        key = f"{ds}/steps={args.steps or 'default'}/seed={args.seed}"
        if key in results:
            print(json.dumps({key: {k: results[key][k] for k in ("installed", "trained", "transfer")}}), flush=True)
            continue
        folder = build(root, ds)
        tests = read_test_set(folder)
        name = ds.replace("-", "_") + (f"_{args.steps}" if args.steps else "") + (f"_s{args.seed}" if args.seed else "")
        work = root / "work" / key.replace("/", "_")
        work.mkdir(parents=True, exist_ok=True)
        row = train(folder, work, name, args.steps, args.seed)
        staged = Path(row["run_dir"]) / "pack" / name
        trained_dir = row["installed_dir"] or (str(staged) if staged.exists() else None)
        row.update({
            "dataset": ds, "steps": args.steps, "seed": args.seed, "identity": 0.0,
            "installed": gain_runner(Path(row["installed_dir"]), tests) if row["installed_dir"] else 0.0,
            "trained": gain_runner(Path(trained_dir), tests) if trained_dir else None,
            "learned_raw": gain_checkpoint(Path(row["run_dir"]), tests),
            "learned_raw_signals": raw_signals(Path(row["run_dir"]), folder),
            "transfer": gain_transfer(folder, tests),
        })
        if trained_dir:
            meta = json.loads((Path(trained_dir) / "style.json").read_text())
            look = meta["looks"][0] if "looks" in meta else meta
            row["check"] = {k: v for k, v in look.get("metrics", {}).get("check", {}).items() if k != "candidates"}
        results[key] = row
        _write(out, results)
        print(json.dumps({key: {k: row[k] for k in ("exit_code", "installed", "trained", "learned_raw", "transfer",
                                                     "wall_s")}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
