#!/usr/bin/env python3
"""CPU of full-frame steps with glibc's default malloc thresholds against livestyle's (livestyle/memory.py).

    .venv/bin/python benchmarks/people/malloc_cpu.py [--size 1280x720] [--iters 200] [--rounds 3]

Each round runs the same step in two fresh processes, one with ``LIVESTYLE_MALLOC=system`` and one with
:func:`livestyle.memory.keep_freed_memory`, alternating; the step is what a stage does to a frame
(float conversion, a blur, back to uint8, a blend), with new arrays every time. Prints process CPU per
step and the peak RSS of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, sys, time
import numpy as np, cv2
from livestyle.memory import keep_freed_memory
done = keep_freed_memory()
cv2.setNumThreads(1)
w, h, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
f = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
def step():
    x = f.astype(np.float32) * 0.5
    y = cv2.GaussianBlur(x, (5, 5), 0)
    z = (y + 1).astype(np.uint8)
    return cv2.addWeighted(z, 0.5, f, 0.5, 0)
for _ in range(20):
    step()
t = time.process_time()
for _ in range(iters):
    step()
cpu = (time.process_time() - t) / iters * 1e3
print(json.dumps({"tuned": done, "cpu_ms": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    rows: dict[str, list[dict]] = {"system": [], "livestyle": []}
    for _ in range(args.rounds):
        for kind in rows:
            env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
            if kind == "system":
                env["LIVESTYLE_MALLOC"] = "system"
            else:
                env.pop("LIVESTYLE_MALLOC", None)
            out = subprocess.run([sys.executable, "-c", CHILD, str(w), str(h), str(args.iters)], env=env,
                                 capture_output=True, text=True, check=True)
            rows[kind].append(json.loads(out.stdout))
    for kind, rs in rows.items():
        cpu = statistics.median(r["cpu_ms"] for r in rs)
        rss = statistics.median(r["peak_rss_mb"] for r in rs)
        print(f"{kind:10s} malloc thresholds: {cpu:6.2f} ms CPU per step (median of {len(rs)}), peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
