"""Student architecture exploration: MACs and measured ONNX Runtime CPU latency per candidate.

    .venv/bin/python benchmarks/student_search.py [--runs 25] [--threads 2]

For each StudentConfig candidate: multiply-accumulates at 256x256 (see
macs.py), and the median latency of ``runs`` ONNX Runtime calls (CPU
provider, ``threads`` intra-op threads, after 3 warm-up calls) at 256x256,
512x288 and 640x360, through the exported uint8 graph the runtime plays.
Prints a table (markdown) to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CANDIDATES = {
    "default (16/32, 4 blocks, x4)": dict(stem=16, width=32, blocks=4, expansion=4),
    "narrow (8/24, 4 blocks, x4)": dict(stem=8, width=24, blocks=4, expansion=4),
    "shallow (16/32, 2 blocks, x4)": dict(stem=16, width=32, blocks=2, expansion=4),
    "deep (16/32, 8 blocks, x4)": dict(stem=16, width=32, blocks=8, expansion=4),
    "wide (16/48, 4 blocks, x4)": dict(stem=16, width=48, blocks=4, expansion=4),
    "thin-expansion (16/48, 4 blocks, x2)": dict(stem=16, width=48, blocks=4, expansion=2),
    "big stem (32/32, 4 blocks, x4)": dict(stem=32, width=32, blocks=4, expansion=4),
}
SIZES = ((256, 256), (512, 288), (640, 360))


def latency_ms(onnx_path: Path, size: tuple[int, int], runs: int, threads: int) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    w, h = size
    x = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    for _ in range(3):
        sess.run(None, {"bgr": x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {"bgr": x})
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    import torch

    from livestyle.export.onnx import export_onnx
    from livestyle.models.student import Student, StudentConfig
    from livestyle.models.teacher import ResnetGenerator, TeacherConfig
    from macs import count_macs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=25, help="timed calls per size (median reported; >= 20)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    reference = count_macs(ResnetGenerator(TeacherConfig(width=64, blocks=9)), (256, 256))
    head = "| candidate | params | G MACs @256 | % of ResNet-9 | " + " | ".join(f"ms @{w}x{h}" for w, h in SIZES) + " |"
    print(head)
    print("|" + "---|" * (4 + len(SIZES)))
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in CANDIDATES.items():
            torch.manual_seed(0)
            net = Student(StudentConfig(**kw)).eval()
            macs = count_macs(net, (256, 256))
            params = sum(p.numel() for p in net.parameters())
            path = export_onnx(net, Path(tmp) / "s.onnx")
            lat = [latency_ms(path, s, args.runs, args.threads) for s in SIZES]
            print(f"| {label} | {params / 1e3:.1f} k | {macs / 1e9:.3f} | {100 * macs / reference:.2f} | "
                  + " | ".join(f"{v:.2f}" for v in lat) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
