#!/usr/bin/env python
"""Cost and effect of the runtime temporal filter (livestyle.ops.temporal).

Effect: the warping-error ratio (Lai et al. 2018; flow on the input clip) of
a "jittery stylizer" -- a procedural look plus per-frame flicker (pixel noise
and a small global colour wobble, the way a per-frame GAN flickers) -- with
and without the filter, on moving clips made by livestyle.quality.dataset.
Optionally also a random-init student through ONNX Runtime (--student).

Cost: milliseconds per frame of TemporalFilter.apply at 512x288 (inference
resolution) and 1280x720, single OpenCV thread and default threads.

    .venv/bin/python benchmarks/quality/flicker_bench.py [--look pastel] [--clips 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from livestyle import looks
from livestyle.fsutil import write_json_atomic
from livestyle.ops.temporal import TemporalFilter
from livestyle.quality.dataset import DatasetConfig, make_clips, read_clip
from livestyle.quality.metrics import clip_flows, warping_error, warping_error_ratio


def jittery(look: str, frames: list[np.ndarray], noise: float, wobble: float, seed: int = 0) -> list[np.ndarray]:
    """look(frame) + per-frame Gaussian noise (sigma ``noise`` levels) + a global colour shift (sigma ``wobble``)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        y = looks.apply(look, f).astype(np.float32)
        y += rng.normal(0, noise, y.shape).astype(np.float32)
        y += rng.normal(0, wobble, (1, 1, 3)).astype(np.float32)
        out.append(np.clip(y + 0.5, 0, 255).astype(np.uint8))
    return out


def filtered(inputs: list[np.ndarray], stylized: list[np.ndarray], **kw) -> list[np.ndarray]:
    tf = TemporalFilter(**kw)
    return [tf.apply(a, b) for a, b in zip(inputs, stylized)]


def time_filter(size: tuple[int, int], motion: bool, n: int = 60) -> float:
    """Median ms per TemporalFilter.apply on a moving textured frame of ``size`` (w, h)."""
    w, h = size
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, w + 64, 3), dtype=np.uint8), (0, 0), 3)
    tf = TemporalFilter(0.8, motion_compensation=motion)
    times = []
    for i in range(n):
        frame = np.ascontiguousarray(base[:, i % 64: i % 64 + w])
        sty = np.clip(frame.astype(np.int16) + rng.integers(-6, 7, frame.shape), 0, 255).astype(np.uint8)
        t = time.perf_counter()
        tf.apply(frame, sty)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times[5:]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--look", default="pastel", choices=looks.names())
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--noise", type=float, default=4.0, help="per-pixel flicker sigma, uint8 levels")
    ap.add_argument("--wobble", type=float, default=2.0, help="per-frame global colour shift sigma, levels")
    ap.add_argument("--student", action="store_true", help="also a random-init student via ONNX Runtime")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args(argv)

    results: dict = {"look": args.look, "noise": args.noise, "wobble": args.wobble, "clips": {}, "cost_ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = DatasetConfig(look=args.look, n_clips=args.clips, clip_frames=args.frames)
        entries = make_clips(Path(tmp) / "clips", cfg)
        session = None
        if args.student:
            import onnxruntime as ort
            from livestyle.export.onnx import random_student_pack

            pack = random_student_pack(Path(tmp) / "pack")
            session = ort.InferenceSession(str(pack / "student.onnx"), providers=["CPUExecutionProvider"])
        for e in entries:
            frames = read_clip(Path(tmp) / e["file"])
            flows = clip_flows(frames)
            base = warping_error(frames, flows=flows)
            truth = [looks.apply(args.look, f) for f in frames]
            jit = jittery(args.look, frames, args.noise, args.wobble)
            row = {
                "input_warping_error": base,
                "true_look": warping_error_ratio(truth, frames, flows=flows),
                "jittery": warping_error_ratio(jit, frames, flows=flows),
                "jittery+filter_static": warping_error_ratio(
                    filtered(frames, jit, motion_compensation=False), frames, flows=flows),
                "jittery+filter_motion": warping_error_ratio(filtered(frames, jit), frames, flows=flows),
            }
            if session is not None:
                stu = [session.run(None, {"bgr": f[None]})[0][0] for f in frames]
                row["random_student"] = warping_error_ratio(stu, frames, flows=flows)
                row["random_student+filter_motion"] = warping_error_ratio(filtered(frames, stu), frames, flows=flows)
            results["clips"][e["file"]] = row
            print(e["file"], " ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    for threads in (1, 0):
        cv2.setNumThreads(threads if threads else cv2.getNumberOfCPUs())
        label = "1 thread" if threads == 1 else f"{cv2.getNumberOfCPUs()} threads"
        for size in ((512, 288), (1280, 720)):
            for motion in (False, True):
                ms = time_filter(size, motion)
                key = f"{size[0]}x{size[1]} {'motion' if motion else 'static'} {label}"
                results["cost_ms"][key] = ms
                print(f"TemporalFilter {key}: {ms:.2f} ms/frame", flush=True)
    if args.json:
        write_json_atomic(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
