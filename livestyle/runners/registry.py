"""Backend names -> runner classes (imported lazily), and the ``auto`` choice.

``auto`` prefers, in order of measured speed: TensorRT, PyTorch on CUDA, ONNX
Runtime on the CPU (ONNX Runtime ran the student faster than PyTorch eager
on the CPU; see benchmarks/RESULTS.md).  On a machine without an NVIDIA
driver the GPU backends are ruled out without importing torch or tensorrt,
so ``livestyle run`` starts fast and never loads them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from livestyle.errors import BackendError, UsageError
from livestyle.runners.base import BackendStatus, Runner

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnxruntime", "torch", "tensorrt")


def _onnxruntime_cls():
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    return OnnxRuntimeRunner


def _torch_cls():
    from livestyle.runners.pytorch import TorchRunner
    return TorchRunner


def _tensorrt_cls():
    from livestyle.runners.tensorrt import TensorRTRunner
    return TensorRTRunner


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version line, or None when there is none (cheap: reads /proc)."""
    try:
        with open("/proc/driver/nvidia/version") as f:
            return f.readline().strip()
    except OSError:
        return None


@dataclass
class Choice:
    """What ``create_runner`` picked and why the others were not used."""

    runner: Runner
    backend: str
    device: str
    reason: str
    skipped: dict[str, str] = field(default_factory=dict)


def _probe_gpu(name: str) -> BackendStatus:
    if nvidia_driver() is None and not os.environ.get("LIVESTYLE_FORCE_GPU_PROBE"):
        return BackendStatus(name, False, "cuda", "no NVIDIA driver on this machine (/proc/driver/nvidia/version missing)",
                             "install the NVIDIA driver on a machine with an NVIDIA GPU")
    if name == "tensorrt":
        return _tensorrt_cls().probe()
    return _torch_cls().probe_cuda()


def create_runner(backend: str, style, *, infer_size: tuple[int, int],
                  cuda_infer_size: tuple[int, int] | None = None) -> Choice:
    """Build and activate the runner for ``backend`` (one of :data:`BACKENDS`).

    ``cuda_infer_size``, when given, replaces ``infer_size`` for a runner that lands on a CUDA
    GPU (the device is only known once a backend is picked); the runner's ``infer_size`` says
    which one was used.
    """
    gpu_size = cuda_infer_size or infer_size
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}.",
                         fix="Use --backend auto to take the fastest available.")
    if backend == "onnxruntime":
        runner = _onnxruntime_cls()(style, infer_size=infer_size)
        runner.activate()
        return Choice(runner, "onnxruntime", "cpu", "asked for with --backend onnxruntime")
    if backend == "torch":
        cls = _torch_cls()
        cuda = _probe_gpu("torch")
        device = "cuda" if cuda.available else "cpu"
        status = cuda if cuda.available else cls.probe()
        if not status.available:
            raise BackendError(f"The torch backend cannot run here: {status.reason}.", fix=status.fix)
        runner = cls(style, infer_size=gpu_size if device == "cuda" else infer_size, device=device)
        runner.activate()
        why = "CUDA available" if device == "cuda" else f"CPU ({cuda.reason})"
        return Choice(runner, "torch", device, f"asked for with --backend torch; {why}")
    if backend == "tensorrt":
        status = _probe_gpu("tensorrt")
        if not status.available:
            raise BackendError(f"The tensorrt backend cannot run here: {status.reason}.", fix=status.fix)
        runner = _tensorrt_cls()(style, infer_size=gpu_size)
        runner.activate()
        return Choice(runner, "tensorrt", "cuda", "asked for with --backend tensorrt")

    # auto: fastest first
    skipped: dict[str, str] = {}
    for name in ("tensorrt", "torch"):
        status = _probe_gpu(name)
        if not status.available:
            skipped[name if name == "tensorrt" else "torch-cuda"] = status.reason
            continue
        try:
            if name == "tensorrt":
                runner = _tensorrt_cls()(style, infer_size=gpu_size)
            else:
                runner = _torch_cls()(style, infer_size=gpu_size, device="cuda")
            runner.activate()
            return Choice(runner, name, "cuda", f"fastest available ({status.reason})", skipped)
        except BackendError as e:  # try the next one
            skipped[name] = str(e)
            log.warning("backend %s unavailable: %s", name, e)
    skipped.setdefault("torch-cpu", "slower than onnxruntime on the CPU (benchmarks/RESULTS.md)")
    runner = _onnxruntime_cls()(style, infer_size=infer_size)
    runner.activate()
    return Choice(runner, "onnxruntime", "cpu", "fastest available on this machine (no usable NVIDIA GPU)", skipped)
