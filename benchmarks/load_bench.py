"""Adaptive quality under load: `livestyle bench --quality auto` against `--quality fixed`, with a competing load.

Each run is the real CLI (``livestyle bench``) in a subprocess: the demo scene
(or ``--input``) at 1280x720, 30 fps, paced like a live camera, beside the
load it starts itself (default ``busy:1``: a CPU-bound process pinned to one
core).  Runs alternate auto, fixed, auto, fixed, ... (``--repeats`` of each)
so machine noise hits both alike; the table quotes medians.

    .venv/bin/python benchmarks/load_bench.py                    # 3 x 30 s of each, busy:1
    .venv/bin/python benchmarks/load_bench.py --load encode --seconds 20 --repeats 2

Writes every run's folder (CSV, plots, summary) and a combined JSON under
``--out`` (default benchmarks/results/load-bench-<time>/) and prints a
Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(mode: str, index: int, args, out: Path) -> dict:
    folder = out / f"{mode}-{index}"
    cmd = [sys.executable, "-m", "livestyle", "bench", "--quality", mode, "--seconds", f"{args.seconds:g}",
           "--input", args.input, "--out", str(folder)]
    if args.load != "none":
        cmd += ["--load", args.load]
    if args.style:
        cmd += ["--style", args.style]
    if args.size:
        cmd += ["--size", args.size]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 300)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({' '.join(cmd)}):\n{done.stderr[-2000:]}")
    bench = json.loads((folder / "bench.json").read_text())
    summary = bench["summary"]
    summary["loadavg_1min_after"] = (bench.get("loadavg_after") or [None])[0]
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    summary["folder"] = str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)
    lat = summary["latency_ms"]
    print(f"  {mode:<5} #{index}: {summary['fps_out']:5.1f} fps  p95 {lat['p95']} ms  dropped {summary['dropped']}  "
          f"steady drops {summary['dropped_steady']}  changes {len(summary['quality'].get('changes') or [])}  "
          f"sizes {summary['infer_sizes']}", file=sys.stderr, flush=True)
    return summary


def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--load", default="busy:1", help="busy:N, encode or none (default busy:1)")
    ap.add_argument("--input", default="demo")
    ap.add_argument("--size", default=None)
    ap.add_argument("--style", default=None)
    ap.add_argument("--modes", default="auto,fixed")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from livestyle.bench.report import cpu_model, versions

    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"load-bench-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for i in range(args.repeats):
        for mode in modes:  # interleaved
            runs[mode].append(one_run(mode, i, args, out))

    rows = {}
    for mode, results in runs.items():
        rows[mode] = {
            "runs": len(results),
            "fps_out": med([r["fps_out"] for r in results]),
            "p50_ms": med([r["latency_ms"]["p50"] for r in results]),
            "p95_ms": med([r["latency_ms"]["p95"] for r in results]),
            "p99_ms": med([r["latency_ms"]["p99"] for r in results]),
            "dropped_steady": med([r["dropped_steady"] for r in results]),
            "cpu_ms_per_frame": med([r["cpu_ms_per_frame"]["p50"] for r in results]),
            "changes": med([len(r["quality"].get("changes") or []) for r in results]),
            "loadavg_1min": med([r.get("loadavg_1min_after") for r in results]),
            "final_infer_size": [r["quality"]["changes"][-1]["to"] if r["quality"].get("changes")
                                 else None for r in results],
        }
    meta = {"command": " ".join([sys.executable, *sys.argv]), "cpu_model": cpu_model(), "host": platform.node(),
            "versions": versions(), "load": args.load, "seconds": args.seconds, "repeats": args.repeats,
            "input": args.input, "started_folder": str(out)}
    from livestyle.fsutil import write_json_atomic

    write_json_atomic(out / "load_bench.json", {"meta": meta, "medians": rows, "runs": runs})

    print(f"\n`{meta['command']}` — {meta['cpu_model']}, load {args.load}, {args.repeats} x {args.seconds:g} s "
          "per mode, interleaved; medians\n")
    print("| quality | fps out | capture→send p50 / p95 / p99 ms | steady drops | CPU ms/frame (p50) | "
          "size changes | final inference size per run | machine load avg (1 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        sizes = ", ".join("x".join(map(str, s)) if s else "unchanged" for s in r["final_infer_size"])
        print(f"| {mode} | {r['fps_out']} | {r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} | {r['dropped_steady']} | "
              f"{r['cpu_ms_per_frame']} | {r['changes']} | {sizes} | {r['loadavg_1min']} |")
    print(f"\nRuns and plots: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
