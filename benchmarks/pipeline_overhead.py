"""What the pipeline's own machinery costs per frame (threads, slots, stage list, statistics), nothing else.

An offline run of many tiny frames (64x48, uint8 BGR) from an in-memory source through a runner bank that
returns its input, to a sink that keeps nothing: what is left is the cost of moving a frame through the
three threads and timing it.  With ``--baseline DIR`` (another checkout, e.g. ``git worktree add /tmp/base
REV``) the same measurement runs on that code too, interleaved, and the medians are printed side by side.

    .venv/bin/python benchmarks/pipeline_overhead.py --baseline /tmp/base --frames 20000 --repeats 5

One child process per run (``--child``); each prints one JSON line (wall and CPU microseconds per frame).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(frames: int) -> dict:
    import numpy as np

    from livestyle.controls import Controls

    class Source:
        live, frame_ready_time, description, skipped, size, fps = False, None, "memory", 0, (64, 48), 30.0

        def __init__(self):
            self.n, self.img = 0, np.full((48, 64, 3), 100, np.uint8)

        def read(self):
            self.n += 1
            return None if self.n > frames else self.img

        def close(self):
            pass

    class Sink:
        description = "nothing"

        def send(self, frame, *, original=None, status=""):
            pass

        def poll(self):
            return []

        def close(self):
            pass

    class Bank:  # the RunnerBank calls the pipeline makes, answering at once
        resizable = False

        def infer(self, small, weights):
            return small

        def request(self, weights):
            return "ready"

        def forget_failure(self, weights):
            pass

        def error(self, weights):
            return None

        def pointwise(self, weights):
            return True

        def set_infer_size(self, size):
            return False

    try:  # this layout: the session wires the stage list
        from livestyle.runconfig import RunConfig
        from livestyle.session import build_pipeline as make
    except ImportError:  # the layout before livestyle.session
        from livestyle.pipeline import Pipeline as make
        from livestyle.pipeline import RunConfig

    cfg = RunConfig(input="memory", output="null", temporal=False, quality="fixed")
    pipe = make(cfg, source=Source(), sink=Sink(), bank=Bank(), controls=Controls(["a"], weights={"a": 1.0}),
                out_size=(64, 48), infer_size=(32, 24), fps=30.0, backend="none")
    c0, t0 = time.process_time(), time.perf_counter()
    pipe.run()
    c1, t1 = time.process_time(), time.perf_counter()
    if pipe.report()["frames_out"] != frames:
        raise SystemExit(f"only {pipe.report()['frames_out']} of {frames} frames came out")
    return {"wall_us": (t1 - t0) / frames * 1e6, "cpu_us": (c1 - c0) / frames * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", default=None, metavar="DIR", help="another checkout to measure interleaved")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.frames)))
        return
    codes = {"this checkout": str(ROOT)}
    if args.baseline:
        codes["baseline"] = str(Path(args.baseline).resolve())
    runs: dict[str, list[dict]] = {name: [] for name in codes}
    for _ in range(args.repeats):
        for name, code in codes.items():
            env = dict(os.environ, PYTHONPATH=code)
            r = subprocess.run([sys.executable, __file__, "--child", "--frames", str(args.frames)], env=env,
                               cwd=code, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(r.stdout))
    print(f"{args.frames} frames 64x48, {args.repeats} runs each, medians (load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for name, rs in runs.items():
        wall = statistics.median(r["wall_us"] for r in rs)
        cpu = statistics.median(r["cpu_us"] for r in rs)
        each = ", ".join(format(r["cpu_us"], ".0f") for r in rs)
        print(f"  {name}: {wall:.0f} us wall, {cpu:.0f} us CPU per frame (CPU per run: {each})")


if __name__ == "__main__":
    main()
