#!/usr/bin/env python3
"""Inference time of a K-look colour engine through ONNX Runtime (CPU), one look vs blends, interleaved.

    .venv/bin/python benchmarks/quality/engine_speed.py [--engine PACK_DIR] [--size 512x288] [--threads 2]
        [--cnn PACK_DIR] [--also PACK_DIR ...]

Without --engine, a random 6-look engine is built (same graph and cost as a
trained one).  Each round runs every case once on the same frame (a photo
resized to the size, not noise: the table lookup's cache behaviour depends on
the colours), in turn; the medians over rounds are printed as JSON with the
CPU model.  With --cnn PACK_DIR the format-1 CNN student of that pack is timed
in the same rounds for comparison; --also PACK_DIR [--every-look] times other
engines (e.g. one holding a texture look) in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def photo(w: int, h: int) -> np.ndarray:
    try:
        from skimage import data

        img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    except ImportError:  # pragma: no cover - the bench extra is missing
        rng = np.random.default_rng(0)
        img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, help="an engine pack folder (default: a random 6-look engine)")
    ap.add_argument("--cnn", type=Path, help="a format-1 pack to time alongside (its student.onnx)")
    ap.add_argument("--also", type=Path, action="append", default=[],
                    help="another engine pack (e.g. the same looks exported by an older commit) to time in the same "
                         "rounds, its first look; repeatable")
    ap.add_argument("--every-look", action="store_true",
                    help="for each --also engine, time every look alone and a blend of its first and last")
    ap.add_argument("--size", default="512x288")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    import onnxruntime as ort

    from livestyle.runners.contract import still_feeds
    from livestyle.runners.onnxrt import session_options

    w, h = (int(v) for v in args.size.lower().split("x"))
    tmp = tempfile.TemporaryDirectory()
    engine = args.engine
    if engine is None:
        from livestyle.export.engine_pack import random_engine_pack

        engine = random_engine_pack(tmp.name, [f"look{i}" for i in range(6)], folder_name="engine")
    sess = ort.InferenceSession(str(engine / "engine.onnx"), sess_options=session_options(args.threads),
                                providers=["CPUExecutionProvider"])
    k = sess.get_inputs()[1].shape[1]
    frame = photo(w, h)[None]
    cases = {"one look": np.eye(k, dtype=np.float32)[:1]}
    if k >= 2:
        cases["blend of 2"] = np.array([[0.6, 0.4] + [0.0] * (k - 2)], np.float32)
    if k >= 3:
        cases["blend of 3"] = np.array([[0.5, 0.3, 0.2] + [0.0] * (k - 3)], np.float32)
    cases[f"blend of all {k}"] = np.full((1, k), 1.0 / k, np.float32)
    runs = {name: (lambda wt=wt: sess.run(None, still_feeds(sess, frame, wt))) for name, wt in cases.items()}
    if args.cnn is not None:
        cnn = ort.InferenceSession(str(args.cnn / "student.onnx"), sess_options=session_options(args.threads),
                                   providers=["CPUExecutionProvider"])
        runs["CNN student (format 1)"] = lambda: cnn.run(None, {"bgr": frame})
    for extra in args.also:
        other = ort.InferenceSession(str(extra / "engine.onnx"), sess_options=session_options(args.threads),
                                     providers=["CPUExecutionProvider"])
        names = [lk["name"] for lk in json.loads((extra / "style.json").read_text())["looks"]]
        looks = range(len(names)) if args.every_look else range(1)
        for i in looks:  # each look alone (a texture look runs its CNN branch only when chosen)
            wt = np.eye(len(names), dtype=np.float32)[i:i + 1]
            runs[f"{extra}: {names[i]}"] = lambda other=other, wt=wt: other.run(None, still_feeds(other, frame, wt))
        if args.every_look and len(names) >= 2:
            wt = np.zeros((1, len(names)), np.float32)
            wt[0, [0, -1]] = 0.5
            runs[f"{extra}: {names[0]}:0.5,{names[-1]}:0.5"] = \
                lambda other=other, wt=wt: other.run(None, still_feeds(other, frame, wt))
    for f in runs.values():
        for _ in range(10):
            f()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, f in runs.items():
            t0 = time.perf_counter()
            f()
            times[name].append((time.perf_counter() - t0) * 1000)
    out = {"cpu": cpu_model(), "threads": args.threads, "size": [w, h], "rounds": args.rounds, "looks": k,
           "engine": str(args.engine) if args.engine else "random 6-look engine",
           "median_ms": {n: round(float(np.median(v)), 3) for n, v in times.items()},
           "p90_ms": {n: round(float(np.percentile(v, 90)), 3) for n, v in times.items()}}
    try:
        import os

        out["load_average"] = os.getloadavg()
    except OSError:
        pass
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
