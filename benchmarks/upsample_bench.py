"""Cost and fidelity of bringing a low-resolution stylization back to full size.

The stylizer here is a procedural look (``livestyle.looks``), so the truth is
known: ``look(full)`` at full resolution.  Each method gets the full frame,
its downscale to the inference size and ``look(downscaled)`` (what a network
running at the inference size would ideally return) and must rebuild the
full-resolution look.  Frames: the built-in demo scene at 1280x720.

    .venv/bin/python benchmarks/upsample_bench.py [--infer-size 512x288] [--frames 20]

Prints a Markdown table: PSNR (dB) against the full-resolution look, and the
median time per frame of each method.
"""

from __future__ import annotations

import argparse
import statistics
import time


from livestyle import looks
from livestyle.ops.upsample import METHODS, downscale, upsample
from livestyle.runconfig import parse_size
from livestyle.quality.metrics import psnr
from livestyle.sources.demo import DemoSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--infer-size", default="512x288")
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    infer = parse_size(args.infer_size, "--infer-size")
    demo = DemoSource(size=(1280, 720))
    demo.open()
    frames = [demo.frame(i * 7) for i in range(args.frames)]
    rows = []
    times = {m: [] for m in METHODS}
    for name in looks.names():
        scores = {m: [] for m in METHODS}
        for full in frames:
            truth = looks.apply(name, full)
            small = downscale(full, infer)
            styled = looks.apply(name, small)
            for m in METHODS:
                t0 = time.perf_counter()
                out = upsample(m, full, small, styled, 1.0)
                times[m].append(time.perf_counter() - t0)
                scores[m].append(psnr(out, truth))
        base = statistics.median(psnr(full, looks.apply(name, full)) for full in frames[:3])
        rows.append((name, base, {m: statistics.median(v) for m, v in scores.items()}))
    print(f"1280x720 demo frames, inference at {infer[0]}x{infer[1]}, {args.frames} frames per look; "
          "PSNR (dB) of the rebuilt frame against the look applied at full resolution (medians).\n")
    print("| look | unstyled input | " + " | ".join(METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    for name, base, s in rows:
        print(f"| {name} | {base:.2f} | " + " | ".join(f"{s[m]:.2f}" for m in METHODS) + " |")
    print("| time per frame (ms, median) | | " + " | ".join(f"{statistics.median(times[m]) * 1e3:.2f}"
                                                             for m in METHODS) + " |")


if __name__ == "__main__":
    main()
