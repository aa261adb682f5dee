"""Per-backend inference latency of the student (p50/p95) at 720p and 1080p.

Runs every requested backend that can run here (onnxruntime, torch-cpu,
torch-cuda, tensorrt) through its real Runner on the same frames and prints
a Markdown table; backends that cannot run are listed with the reason.  The
time is ``Runner.infer`` wall time: host frame in -> host frame out,
including the copies to and from the GPU (what the pipeline pays).

    .venv/bin/python benchmarks/gpu_bench.py                       # all backends, 720p + 1080p
    .venv/bin/python benchmarks/gpu_bench.py --backends torch-cuda tensorrt --iters 300
    .venv/bin/python benchmarks/gpu_bench.py --style NAME --json bench.json

Without ``--style`` a randomly initialised student of the shipped
architecture is used (same cost as a trained one).  TensorRT engines go to
a temporary cache unless ``--engines-dir`` is given; build time is reported
separately and not counted in the latency.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("onnxruntime", "torch-cpu", "torch-cuda", "tensorrt")


def _status(backend: str):
    from livestyle.runners.pytorch import TorchRunner
    from livestyle.runners.tensorrt import TensorRTRunner

    if backend == "onnxruntime":
        from livestyle.runners.onnxrt import OnnxRuntimeRunner

        return OnnxRuntimeRunner.probe()
    if backend == "torch-cpu":
        return TorchRunner.probe()
    if backend == "torch-cuda":
        return TorchRunner.probe_cuda()
    return TensorRTRunner.probe()


def _runner(backend: str, style, size, args):
    if backend == "onnxruntime":
        from livestyle.runners.onnxrt import OnnxRuntimeRunner

        return OnnxRuntimeRunner(style, infer_size=size)
    from livestyle.runners.pytorch import TorchRunner

    if backend == "torch-cpu":
        return TorchRunner(style, infer_size=size, device="cpu")
    if backend == "torch-cuda":
        return TorchRunner(style, infer_size=size, device="cuda", precision=args.precision,
                           cuda_graph=not args.no_cuda_graph)
    from livestyle.runners.trt.cache import EngineCache
    from livestyle.runners.tensorrt import TensorRTRunner

    return TensorRTRunner(style, infer_size=size, precision=args.precision, cuda_graph=not args.no_cuda_graph,
                          cache=EngineCache(args.engines_dir))


def _parse_size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def measure(backend: str, style, size, args) -> dict:
    w, h = size
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(4)]
    t0 = time.perf_counter()
    runner = _runner(backend, style, size, args)
    runner.activate()
    setup = time.perf_counter() - t0
    try:
        iters = args.iters if backend in ("torch-cuda", "tensorrt") else args.cpu_iters
        for i in range(args.warmup):
            runner.infer(frames[i % len(frames)])
        times = []
        for i in range(iters):
            t = time.perf_counter()
            runner.infer(frames[i % len(frames)])
            times.append(time.perf_counter() - t)
    finally:
        runner.deactivate()
    ms = np.array(times) * 1e3
    return {"backend": backend, "size": f"{w}x{h}", "iters": iters, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean()), "setup_s": round(setup, 2)}


def machine() -> dict:
    from livestyle.doctor import system_info

    info = system_info()
    return {"platform": info["platform"], "cpu": info["cpu"], "gpu": info["gpu"], "versions": info["versions"],
            "python": platform.python_version()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    ap.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"], help="WxH, multiples of 4")
    ap.add_argument("--iters", type=int, default=200, help="timed frames per GPU backend and size")
    ap.add_argument("--cpu-iters", type=int, default=20, help="timed frames per CPU backend and size")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="GPU backends")
    ap.add_argument("--no-cuda-graph", action="store_true")
    ap.add_argument("--style", default=None, help="style name or pack folder (default: a random student)")
    ap.add_argument("--engines-dir", default=None, help="TensorRT engine cache (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    from livestyle.styles import find_style

    with tempfile.TemporaryDirectory() as tmp:
        if args.style:
            style = find_style(args.style)
        else:
            from livestyle.export.onnx import random_student_pack
            from livestyle.styles.pack import load_pack

            style = load_pack(random_student_pack(Path(tmp) / "random", name="random"))
        if args.engines_dir is None:
            args.engines_dir = str(Path(tmp) / "engines")
        results, skipped = [], {}
        for backend in args.backends:
            status = _status(backend)
            if not status.available:
                skipped[backend] = f"{status.reason} (fix: {status.fix})"
                continue
            for text in args.sizes:
                size = _parse_size(text)
                try:
                    r = measure(backend, style, size, args)
                except Exception as e:  # keep measuring the others; say what failed
                    skipped[f"{backend} {text}"] = f"{type(e).__name__}: {e}"
                    continue
                results.append(r)
                print(f"{backend:12s} {r['size']:>9s}  p50 {r['p50_ms']:8.2f} ms  p95 {r['p95_ms']:8.2f} ms  "
                      f"(n={r['iters']}, setup {r['setup_s']} s)", file=sys.stderr, flush=True)

    info = machine()
    gpus = ", ".join(g["name"] for g in info["gpu"]["gpus"]) or "none"
    print(f"\nMachine: {info['cpu']['model']} ({info['cpu']['usable_cores']} cores), GPU: {gpus}, "
          f"driver: {info['gpu']['driver'] or 'none'}, {info['platform']}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"Precision (GPU backends): {args.precision}; CUDA graphs: {not args.no_cuda_graph}\n")
    print("| backend | size | p50 ms | p95 ms | frames |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['backend']} | {r['size']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['iters']} |")
    for name, why in skipped.items():
        print(f"| {name} | - | - | - | not run: {why} |")
    if args.json:
        from livestyle.fsutil import write_json_atomic

        write_json_atomic(args.json, {"machine": info, "args": vars(args), "results": results, "skipped": skipped})
    return 0


if __name__ == "__main__":
    sys.exit(main())
