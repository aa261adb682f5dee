#!/usr/bin/env python3
"""The side-by-side table of issue 22: every colour look, on matched, disjoint and few-photo datasets.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/looks_table.py --root /tmp/looks_table \
        [--looks pastel vintage mono teal_orange neon soft_glow] [--kinds disjoint matched few12] [--table-only]

Datasets (built under ROOT/data once, deterministic and offline; 128 px as the other quality benches, 200
content / 200 style / 24 test images, 3 clips of 48 frames at 320x240; ``livestyle train`` crops 64 px):

* ``disjoint``: the Looks v2 datasets (``livestyle.quality.dataset.make_dataset``): the content and the style
  folder come from disjoint source sets (other photographs, other procedural seeds).
* ``matched``: both folders drawn from one pool: the same 400 source images as ``disjoint`` (its content
  sources and its style sources, unstyled), shuffled with a fixed seed and split in two halves; the second half
  gets the look.  Test images and clips are the ``disjoint`` ones.
* ``few12``: ``disjoint`` with only its first 12 style photos (the "few photos" target).

Per cell (look, dataset): ``livestyle train`` with its defaults as a subprocess into a temporary
``LIVESTYLE_HOME`` (``disaster_bench.train``: wall seconds, CPU seconds of the child, load average before and
after), then on the 24 held-out ``test/input -> test/target`` pairs the gain in dB over the unstyled input and,
on the dataset's clips, the warping-error ratio (``livestyle eval``'s measure: DIS flow on the input, the
stylised clip's warping error over the input's) of

* ``identity``: the input itself (0 dB, ratio 1 by definition);
* ``transfer``: the training-free baseline, Pitié's iterative distribution transfer of the same training photos
  (every 10th held out as train does) as a 17^3 LUT (``disaster_bench.transfer_lattice``);
* ``installed``: what the user got, through the runner ``livestyle run`` uses (ONNX Runtime); 0 dB and ratio 1
  when train refused to install (the camera stays as it is);
* ``trained``: the pack train built, installed or not (what ``--force`` installs), same runner;
* ``true_look`` (ratio only): the look's own procedural function on the clips, for reference.

Each cell is written to ROOT/cells/LOOK-KIND.json (atomically) as soon as it is done; a rerun skips done cells,
so a killed run resumes (an unfinished cell's training starts again).  Several runs may share one ROOT: each
claims a cell with ROOT/cells/LOOK-KIND.lock (its pid) and skips cells a live run holds.  Cells run in the
order of ``--kinds`` (outer) and ``--looks`` (inner).

Printed at the end, for every finished cell: the table above; a second table of what train's own check saw
(the held-out colour distance of its candidates, its held-out flicker beside the true look's and the
transfer's on the same pan clip, its reasons to refuse, the learned look's gain before the check); and each
target of issue 22 that these measure, met or missed, look by look.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import disaster_bench as db  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline_bench import cpu_name  # noqa: E402

from livestyle import looks  # noqa: E402
from livestyle.fsutil import write_image  # noqa: E402
from livestyle.quality.dataset import (DatasetConfig, make_dataset, read_test_set,  # noqa: E402
                                       source_samples)

COLOUR_LOOKS = ("pastel", "vintage", "mono", "teal_orange", "neon", "soft_glow")
KINDS = ("disjoint", "matched", "few12")
TARGET_DB, FEW_TARGET_DB, TRAIN_WALL_S = 6.0, 4.0, 120.0


def dataset_config(look: str, kind: str, size: int = 128, n: int = 200, n_test: int = 24, n_clips: int = 3,
                   clip_frames: int = 48) -> DatasetConfig:
    return DatasetConfig(look=look, size=size, n_content=n, n_style=12 if kind == "few12" else n, n_test=n_test,
                         n_clips=n_clips, clip_frames=clip_frames)


def make_matched(out: Path, cfg: DatasetConfig) -> Path:
    """A dataset whose two folders are drawn from one pool: make_dataset's content and style sources together,
    shuffled (seeded) and halved; the second half gets the look.  Test set and clips as make_dataset's."""
    make_dataset(out, DatasetConfig(**{**asdict(cfg), "n_content": 0, "n_style": 0}))
    pool = list(source_samples("trainA", cfg.n_content, cfg.size, cfg.seed, cfg.photo_fraction)) + \
        list(source_samples("trainB", cfg.n_style, cfg.size, cfg.seed, cfg.photo_fraction))
    order = np.random.default_rng([cfg.seed, 22]).permutation(len(pool))
    fn = looks.get(cfg.look)
    prov = json.loads((out / "provenance.json").read_text())
    prov["config"] = {**asdict(cfg), "clip_size": list(cfg.clip_size)}
    prov["pool"] = ("matched: trainA and trainB are the two halves of one shuffled pool of the content and style "
                    "sources of make_dataset (seeded permutation [seed, 22])")
    for split, idx in (("trainA", order[: cfg.n_content]), ("trainB", order[cfg.n_content:])):
        entries = []
        for i, j in enumerate(idx):
            s = pool[int(j)]
            write_image(out / split / f"{i:04d}.png", fn(s.image) if split == "trainB" else s.image)
            entries.append({"file": f"{split}/{i:04d}.png", "pool_index": int(j), **s.provenance,
                            **({"look": cfg.look} if split == "trainB" else {})})
        prov["splits"][split] = entries
    (out / "provenance.json").write_text(json.dumps(prov, indent=1))
    return out


def build(root: Path, look: str, kind: str, cfg: DatasetConfig) -> Path:
    """ROOT/data/LOOK-KIND, built into a temporary folder and renamed when complete (a killed build restarts)."""
    folder = root / "data" / f"{look}-{kind}"
    if folder.is_dir():
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (make_matched if kind == "matched" else make_dataset)(tmp, cfg)
    os.replace(tmp, folder)
    return folder


def clip_ratios(folder: Path, stylers: dict) -> dict:
    """Mean warping-error ratio over the dataset's clips for each stylizer (None for no clips), as livestyle eval
    measures it (its frame reading, DIS flows on the input)."""
    from livestyle.quality.evaluate import EvalConfig, _clip_frames, _mean
    from livestyle.quality.metrics import clip_flows, warping_error_ratio

    clips = sorted((folder / "clips").glob("*.avi"))
    if not clips:
        return {k: None for k in stylers}
    per: dict[str, list[float]] = {k: [] for k in stylers}
    for clip in clips:
        frames = _clip_frames(clip, EvalConfig())
        flows = clip_flows(frames)
        for name, run in stylers.items():
            if hasattr(run, "reset"):
                run.reset()
            per[name].append(warping_error_ratio([run(f) for f in frames], frames, flows=flows))
    return {k: round(_mean(v), 3) for k, v in per.items()}


def score(folder: Path, look: str, installed: Path | None, trained: Path | None) -> dict:
    """dB over the input on the test pairs and clip warping ratios of identity, transfer, installed, trained."""
    from livestyle.quality.evaluate import runner_stylizer
    from livestyle.styles.pack import load_pack

    tests = read_test_set(folder)
    lat = db.transfer_lattice(folder)
    gains = {"identity": 0.0, "transfer": db.gain_lattice(lat, tests),
             "installed": db.gain_runner(installed, tests) if installed else 0.0,
             "trained": db.gain_runner(trained, tests) if trained else None}
    fn = looks.get(look)
    stylers = {"transfer": lambda f: db.apply_lattice_u8(lat, f), "true_look": fn}
    if installed:
        stylers["installed"] = runner_stylizer(load_pack(installed))
    if trained:
        stylers["trained"] = runner_stylizer(load_pack(trained))
    ratios = clip_ratios(folder, stylers)
    ratios["identity"] = 1.0
    if not installed:
        ratios["installed"] = 1.0 if ratios["transfer"] is not None else None
    ratios.setdefault("trained", None)
    return {"gain_db": gains, "warping_ratio": ratios}


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def run_cell(root: Path, look: str, kind: str, cfg: DatasetConfig) -> dict:
    t = time.perf_counter()
    folder = build(root, look, kind, cfg)
    build_s = time.perf_counter() - t
    work = root / "work" / f"{look}-{kind}"
    shutil.rmtree(work, ignore_errors=True)  # an unfinished cell trains afresh
    work.mkdir(parents=True)
    name = f"{look}_{kind}"
    row = db.train(folder, work, name, None, 0)
    staged = Path(row["run_dir"]) / "pack" / name
    installed = Path(row["installed_dir"]) if row["installed_dir"] else None
    trained = installed or (staged if staged.exists() else None)
    t = time.perf_counter()
    row.update(score(folder, look, installed, trained))
    row.update({"look": look, "kind": kind, "dataset": str(folder), "dataset_config": asdict(cfg),
                "style_photos": len(list((folder / "trainB").glob("*.png"))),
                "content_photos": len(list((folder / "trainA").glob("*.png"))),
                "build_s": round(build_s, 1), "score_s": round(time.perf_counter() - t, 1),
                "learned_raw_db": db.gain_checkpoint(Path(row["run_dir"]), read_test_set(folder)),
                "cpu": cpu_name(), "cpus": os.cpu_count()})
    if trained:
        meta = json.loads((trained / "style.json").read_text())
        lk = meta["looks"][0] if "looks" in meta else meta
        row["check"] = lk.get("metrics", {}).get("check", {})
        row["heldout"] = lk.get("metrics", {}).get("heldout", {})
    return row


def take(lock: Path) -> bool:
    """Claim a cell for this process (a lock file holding its pid); False while another live process holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text() or 0)
                os.kill(pid, 0)
                return False
            except (ValueError, ProcessLookupError, FileNotFoundError):
                lock.unlink(missing_ok=True)  # left by a run that ended: take it over
                continue
            except PermissionError:
                return False
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _f(x, fmt="+.2f"):
    return "-" if x is None else format(x, fmt)


def table(cells: list[dict]) -> str:
    head = ("| look | data | style photos | identity dB | transfer dB | installed dB | trained dB | ratio: true look / "
            "transfer / installed / trained | exit | train wall s | train CPU s | load before/after |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c in cells:
        g, r = c["gain_db"], c["warping_ratio"]
        rat = " / ".join(_f(r.get(k), ".3f") for k in ("true_look", "transfer", "installed", "trained"))
        lines.append(f"| {c['look']} | {c['kind']} | {c['style_photos']} | {g['identity']:+.2f} | {_f(g['transfer'])} "
                     f"| **{_f(g['installed'])}** | {_f(g['trained'])} | {rat} | {c['exit_code']} | {c['wall_s']:.0f} "
                     f"| {_f(c.get('cpu_s'), '.0f')} | {_f(c.get('load_before'), '.1f')} / "
                     f"{_f(c.get('load_after'), '.1f')} |")
    return "\n".join(lines)


def check_view(cell: dict) -> dict | None:
    """What train's own held-out check saw for a cell: its candidates' held-out colour distances to the style
    photos, its held-out flicker and its reasons to refuse (from the cell, or from the trained pack's style.json
    for cells recorded without them)."""
    check, held = cell.get("check", {}), cell.get("heldout")
    if "candidates" not in check or held is None:
        name = f"{cell['look']}_{cell['kind']}"
        pack = Path(cell["installed_dir"]) if cell.get("installed_dir") else Path(cell["run_dir"]) / "pack" / name
        if not (pack / "style.json").exists():
            return None
        meta = json.loads((pack / "style.json").read_text())
        metrics = (meta["looks"][0] if "looks" in meta else meta).get("metrics", {})
        check, held = metrics.get("check", {}), metrics.get("heldout", {})
    dist = {c["name"]: c["heldout_distance"] for c in check.get("candidates", [])}
    return {"distance": dist, "flicker": held.get("warping_error_ratio"), "kept": check.get("kept"),
            "unreliable": check.get("unreliable", [])}


def heldout_pan_ratios(cell: dict) -> dict | None:
    """The warping-error ratio of the true look and of the transfer baseline on the clip train's flicker check
    uses (a pan over the first held-out content photo, as train loads it), beside train's own figure for its
    look; None when the run left no checkpoint."""
    from livestyle.quality.dataset import pan_clip
    from livestyle.quality.metrics import warping_error_ratio
    from livestyle.training import checkpoint as ckpt
    from livestyle.training.colour import ColourConfig
    from livestyle.training.data import load_images

    path = Path(cell["run_dir"]) / "checkpoint.safetensors"
    if not path.exists():
        return None
    folder = Path(cell["dataset"])
    cfg = ColourConfig.from_dict(ckpt.load_checkpoint(path)[1]["config"])
    a = load_images(str(folder / "trainA"), cfg.size, role="content images").images
    frames = pan_clip(a[9::10][0], 24, (192, 128), seed=0)  # heldout_report's clip
    lat, fn = db.transfer_lattice(folder), looks.get(cell["look"])
    return {"true_look": round(warping_error_ratio([fn(f) for f in frames], frames), 2),
            "transfer": round(warping_error_ratio([db.apply_lattice_u8(lat, f) for f in frames], frames), 2)}


def check_table(cells: list[dict], pan: bool = False) -> str:
    lines = ["| look | data | held-out distance: input / transfer / learned (levels) | kept | held-out flicker "
             "(true look / transfer / learned) | refused because | dB: transfer / learned before the check / trained |",
             "|---|---|---|---|---|---|---|"]
    for c in cells:
        v = check_view(c)
        if v is None:
            continue
        d = v["distance"]
        dist = " / ".join(_f(d.get(k), ".1f") for k in ("identity", "transfer", "learned"))
        p = heldout_pan_ratios(c) if pan else None
        flick = (f"{p['true_look']:.2f} / {p['transfer']:.2f} / " if p else "") + _f(v["flicker"], ".2f")
        lines.append(f"| {c['look']} | {c['kind']} | {dist} | {v['kept']} | {flick} | "
                     f"{'; '.join(v['unreliable']) or '-'} | {_f(c['gain_db']['transfer'])} / "
                     f"{_f(c.get('learned_raw_db'))} / {_f(c['gain_db']['trained'])} |")
    return "\n".join(lines)


def verdicts(cells: list[dict]) -> str:
    """Each target of issue 22 that the table measures, look by look: met, missed (by how much) or not measured."""
    by = {(c["look"], c["kind"]): c for c in cells}
    out = []
    for look in dict.fromkeys(c["look"] for c in cells):
        d, m, f = by.get((look, "disjoint")), by.get((look, "matched")), by.get((look, "few12"))
        parts = []
        if d:
            gi = d["gain_db"]["installed"]
            parts.append(f"disjoint >= +{TARGET_DB:.0f} dB: {'met' if gi >= TARGET_DB else 'MISSED'} ({gi:+.2f})")
        for c in (d, m):
            if c:
                gi, gt = c["gain_db"]["installed"], c["gain_db"]["transfer"]
                parts.append(f"{c['kind']} >= transfer: {'met' if gi >= gt else 'MISSED'} ({gi - gt:+.2f})")
        done = [c for c in (d, m, f) if c]
        if done:
            wall, cpu = max(c["wall_s"] for c in done), max(c.get("cpu_s") or 0 for c in done)
            loads = [x for c in done for x in (c.get("load_before"), c.get("load_after")) if x is not None]
            load = f"load {min(loads):.1f}-{max(loads):.1f}" if loads else "load not recorded"
            parts.append(f"train wall <= {TRAIN_WALL_S:.0f} s: {'met' if wall <= TRAIN_WALL_S else 'MISSED'} "
                         f"(max {wall:.0f} s at {load}; child CPU max {cpu:.0f} s)")
        if f:
            parts.append(f"12 photos >= +{FEW_TARGET_DB:.0f} dB: "
                         f"{'met' if f['gain_db']['installed'] >= FEW_TARGET_DB else 'MISSED'} "
                         f"({f['gain_db']['installed']:+.2f})")
        out.append(f"- {look}: " + "; ".join(parts))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--looks", nargs="+", default=list(COLOUR_LOOKS), choices=looks.names())
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--size", type=int, default=128, help="dataset image side, px")
    ap.add_argument("--n", type=int, default=200, help="content (and style, except few12) photos")
    ap.add_argument("--test", type=int, default=24)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--clip-frames", type=int, default=48)
    ap.add_argument("--table-only", action="store_true", help="print the table of the finished cells, train nothing")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    cells = []
    for kind in args.kinds:
        for look in args.looks:
            path = root / "cells" / f"{look}-{kind}.json"
            if path.exists():
                cells.append(json.loads(path.read_text()))
                continue
            lock = path.with_suffix(".lock")
            if args.table_only or not take(lock):  # another run is on this cell
                continue
            if path.exists():  # finished by another run since the check above
                lock.unlink()
                cells.append(json.loads(path.read_text()))
                continue
            cfg = dataset_config(look, kind, args.size, args.n, args.test, args.clips, args.clip_frames)
            row = run_cell(root, look, kind, cfg)
            write_json(path, row)
            lock.unlink()
            cells.append(row)
            print(json.dumps({f"{look}-{kind}": {**row["gain_db"], "ratios": row["warping_ratio"],
                                                 "exit": row["exit_code"], "wall_s": row["wall_s"],
                                                 "cpu_s": row["cpu_s"], "load": [row["load_before"],
                                                                                 row["load_after"]]}}), flush=True)
    print(table(cells))
    print()
    print(check_table(cells, pan=True))
    print()
    print(verdicts(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
