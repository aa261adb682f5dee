#!/usr/bin/env python3
"""CPU time of the engine with and without a local part (vignette, bloom), per look, interleaved.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_speed.py OUT [--size 512x288] [--rounds 200]
        [--baseline DIR]

Builds OUT/plain, OUT/local and OUT/vignette (``local_engines.py``: three random looks; in OUT/local the second
has a vignette and a bloom, in OUT/vignette the vignette alone), opens each with ONNX Runtime on 1 thread (the
run happens on the calling thread, so its CPU time is ``time.thread_time``, which a loaded machine inflates far
less than wall time), and times, round after round on the same photo, in a new random order every round: every look alone and a blend of a and c
in the plain engine, the same in the local engine, and look b (the one with a local part) and a blend with it
in the local and vignette engines.  ``--baseline DIR``: the same engines built with another checkout's code
(``--baseline-root``, e.g. a ``git worktree`` of the commit to compare with), timed in the same rounds,
their names prefixed "baseline "; the output then also gives the largest and mean difference in levels between
the two sets' outputs for every case.  Prints medians and 90th percentiles of CPU and wall milliseconds as
JSON, with the CPU model and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

KINDS = ("plain", "local", "vignette")


def _build(out: Path, root: Path) -> None:
    """The engines under ``out`` (this checkout's ``local_engines.py``), built with the code of the checkout at
    ``root``."""
    if all((out / kind / "engine.onnx").is_file() for kind in KINDS):
        return
    subprocess.run([sys.executable, str(ROOT / "benchmarks/quality/local_engines.py"), str(out)], check=True,
                   stdout=sys.stderr, env={**os.environ, "PYTHONPATH": str(root)})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="512x288")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--baseline", type=Path, help="engines built by another checkout, timed in the same rounds")
    ap.add_argument("--baseline-root", type=Path,
                    help="the other checkout: builds --baseline with its code where the engines are missing")
    args = ap.parse_args()
    import onnxruntime as ort

    from benchmarks.quality.engine_speed import cpu_model, photo
    from livestyle.runners.contract import still_feeds
    from livestyle.runners.onnxrt import session_options

    _build(args.out, ROOT)
    sets = {"": args.out}
    if args.baseline is not None:
        _build(args.baseline, args.baseline_root or ROOT)
        sets["baseline "] = args.baseline
    w, h = (int(v) for v in args.size.lower().split("x"))
    frame = photo(w, h)[None]
    runs, outputs = {}, {}
    for prefix, root in sets.items():
        for kind in KINDS:
            if not (root / kind / "engine.onnx").is_file():  # an older checkout builds no vignette engine
                continue
            sess = ort.InferenceSession(str(root / kind / "engine.onnx"), sess_options=session_options(1),
                                        providers=["CPUExecutionProvider"])
            cases = {"a": [1, 0, 0], "c": [0, 0, 1], "a:0.5,c:0.5": [0.5, 0, 0.5]}
            if kind != "plain":
                cases = {"b (local part)": [0, 1, 0], "a:0.5,b:0.5": [0.5, 0.5, 0],
                         **({} if kind == "vignette" else cases)}
            for name, wt in cases.items():
                feeds = still_feeds(sess, frame, np.asarray([wt], np.float32))
                runs[f"{prefix}{kind}: {name}"] = lambda sess=sess, feeds=feeds: sess.run(None, feeds)
    for name, f in runs.items():
        for _ in range(5):
            f()
        outputs[name] = f()[0].astype(np.int16)
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    order = np.random.default_rng(0)
    names = list(runs)
    for _ in range(args.rounds):
        for i in order.permutation(len(names)):  # a new order every round: no case always follows the same one
            name, f = names[i], runs[names[i]]
            t0, c0 = time.perf_counter(), time.thread_time()
            f()
            cpu[name].append((time.thread_time() - c0) * 1000)
            wall[name].append((time.perf_counter() - t0) * 1000)
    out = {"cpu": cpu_model(), "threads": 1, "size": [w, h], "rounds": args.rounds, "load_average": os.getloadavg(),
           "cpu_ms_median": {k: round(float(np.median(v)), 3) for k, v in cpu.items()},
           "cpu_ms_p90": {k: round(float(np.percentile(v, 90)), 3) for k, v in cpu.items()},
           "wall_ms_median": {k: round(float(np.median(v)), 3) for k, v in wall.items()}}
    if args.baseline is not None:
        out["levels_vs_baseline"] = {
            k: {"max": int(np.abs(v - outputs["baseline " + k]).max()),
                "mean": round(float(np.abs(v - outputs["baseline " + k]).mean()), 5),
                "pixels_differing": int(np.any(v != outputs["baseline " + k], axis=-1).sum())}
            for k, v in outputs.items() if not k.startswith("baseline ") and "baseline " + k in outputs}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
