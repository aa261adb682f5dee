#!/usr/bin/env python3
"""CPU time of the engine with and without a local part (vignette, bloom), per look, interleaved.

    PYTHONPATH=. .venv/bin/python benchmarks/quality/local_speed.py OUT [--size 512x288] [--rounds 200]

Builds OUT/plain and OUT/local (``local_engines.py``: three random looks, the second with a local part in
OUT/local), opens each with ONNX Runtime on 1 thread (the run happens on the calling thread, so its CPU time is
``time.thread_time``, which a loaded machine inflates far less than wall time), and times, round after round on
the same photo: every look alone and a blend of a and c in the plain engine, the same in the local engine, and
look b (the one with a local part) there.  Prints medians and 90th percentiles of CPU and wall milliseconds as
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="512x288")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    import onnxruntime as ort

    from benchmarks.quality.engine_speed import cpu_model, photo
    from livestyle.runners.contract import still_feeds
    from livestyle.runners.onnxrt import session_options

    if not (args.out / "local" / "engine.onnx").is_file():
        subprocess.run([sys.executable, str(ROOT / "benchmarks/quality/local_engines.py"), str(args.out)], check=True,
                       stdout=sys.stderr,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    w, h = (int(v) for v in args.size.lower().split("x"))
    frame = photo(w, h)[None]
    runs = {}
    for kind in ("plain", "local"):
        sess = ort.InferenceSession(str(args.out / kind / "engine.onnx"), sess_options=session_options(1),
                                    providers=["CPUExecutionProvider"])
        cases = {"a": [1, 0, 0], "c": [0, 0, 1], "a:0.5,c:0.5": [0.5, 0, 0.5]}
        if kind == "local":
            cases.update({"b (local part)": [0, 1, 0], "a:0.5,b:0.5": [0.5, 0.5, 0]})
        for name, wt in cases.items():
            feeds = still_feeds(sess, frame, np.asarray([wt], np.float32))
            runs[f"{kind}: {name}"] = lambda sess=sess, feeds=feeds: sess.run(None, feeds)
    for f in runs.values():
        for _ in range(5):
            f()
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, f in runs.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            f()
            cpu[name].append((time.thread_time() - c0) * 1000)
            wall[name].append((time.perf_counter() - t0) * 1000)
    out = {"cpu": cpu_model(), "threads": 1, "size": [w, h], "rounds": args.rounds, "load_average": os.getloadavg(),
           "cpu_ms_median": {k: round(float(np.median(v)), 3) for k, v in cpu.items()},
           "cpu_ms_p90": {k: round(float(np.percentile(v, 90)), 3) for k, v in cpu.items()},
           "wall_ms_median": {k: round(float(np.median(v)), 3) for k, v in wall.items()}}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
