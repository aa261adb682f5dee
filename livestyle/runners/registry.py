"""Every inference backend in one table, and the ``auto`` choice.

:data:`BACKEND_TABLE` is the single source of truth: ``create_runner``,
``livestyle doctor`` and the ``--backend`` help all read it.  ``auto``
prefers, in the table's order of measured speed: TensorRT, PyTorch on CUDA,
ONNX Runtime on the CPU (ONNX Runtime ran the student faster than PyTorch
eager on the CPU; see benchmarks/RESULTS.md).  Runner classes are imported
lazily; on a machine without an NVIDIA driver the GPU rows are ruled out by
one read of /proc (:func:`livestyle.runners.base.nvidia_driver`) without
importing torch or tensorrt.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from livestyle.errors import BackendError, UsageError
from livestyle.runners.base import NO_DRIVER_FIX, NO_DRIVER_REASON, BackendStatus, Runner, nvidia_driver

log = logging.getLogger(__name__)


def _onnxruntime_cls():
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    return OnnxRuntimeRunner


def _torch_cls():
    from livestyle.runners.pytorch import TorchRunner
    return TorchRunner


def _tensorrt_cls():
    from livestyle.runners.tensorrt import TensorRTRunner
    return TensorRTRunner


@dataclass(frozen=True)
class Backend:
    """One row of the backend table.

    ``key`` names the row (``"torch-cuda"``); ``name`` is what ``--backend``
    takes; ``auto`` says whether ``--backend auto`` may pick it (rows are in
    order of preference); ``load`` returns the runner class lazily and
    ``kwargs`` are passed to it besides the style and inference size.
    """

    key: str
    name: str
    device: str
    auto: bool
    load: Callable[[], type[Runner]]
    summary: str
    kwargs: dict = field(default_factory=dict)

    def probe(self) -> BackendStatus:
        """Whether this row can run here (never raises; GPU rows first check the driver)."""
        try:
            if self.device == "cuda" and not nvidia_driver() and not os.environ.get("LIVESTYLE_FORCE_GPU_PROBE"):
                return BackendStatus(self.name, False, "cuda", NO_DRIVER_REASON, NO_DRIVER_FIX)
            cls = self.load()
            if self.key == "torch-cuda":
                return cls.probe_cuda()
            return cls.probe()
        except Exception as e:  # a probe must never take the caller down; report it instead
            log.debug("probe %s failed", self.key, exc_info=True)
            return BackendStatus(self.name, False, self.device, f"the probe failed ({type(e).__name__}: {e})",
                                 "run `livestyle -vv doctor` and report the log")

    def create(self, style, infer_size: tuple[int, int]) -> Runner:
        return self.load()(style, infer_size=infer_size, **self.kwargs)


BACKEND_TABLE: tuple[Backend, ...] = (
    Backend("tensorrt", "tensorrt", "cuda", True, _tensorrt_cls, "TensorRT engine on an NVIDIA GPU (fastest)"),
    Backend("torch-cuda", "torch", "cuda", True, _torch_cls, "PyTorch FP16 with CUDA graphs on an NVIDIA GPU",
            {"device": "cuda"}),
    Backend("onnxruntime", "onnxruntime", "cpu", True, _onnxruntime_cls, "ONNX Runtime on the CPU"),
    Backend("torch-cpu", "torch", "cpu", False, _torch_cls,
            "PyTorch on the CPU (slower than onnxruntime there; for checks)", {"device": "cpu"}),
)
BACKENDS: tuple[str, ...] = ("auto",) + tuple(dict.fromkeys(b.name for b in BACKEND_TABLE))


def backend_help() -> str:
    """The ``--backend`` help text, from the table."""
    return "auto (default: the fastest that runs here) or " + ", ".join(BACKENDS[1:])


def rows_for(name: str) -> list[Backend]:
    """The table rows ``--backend name`` may use, in order of preference."""
    if name == "auto":
        return [b for b in BACKEND_TABLE if b.auto]
    return [b for b in BACKEND_TABLE if b.name == name]


def ordered_rows() -> list[Backend]:
    """All rows in this machine's order of preference: the table's with a driver, CPU first without."""
    if nvidia_driver():
        return list(BACKEND_TABLE)
    return sorted(BACKEND_TABLE, key=lambda b: (b.device != "cpu", not b.auto))


@dataclass
class Choice:
    """What ``create_runner`` picked and why the others were not used."""

    runner: Runner
    backend: str
    device: str
    reason: str
    skipped: dict[str, str] = field(default_factory=dict)


def create_runner(backend: str, style, *, infer_size: tuple[int, int],
                  cuda_infer_size: tuple[int, int] | None = None) -> Choice:
    """Build and activate the runner for ``backend`` (one of :data:`BACKENDS`).

    Rows are tried in the table's order; an unavailable row is skipped with
    its reason, a row that fails to activate (BackendError) likewise, unless
    it was the last one, whose error is raised.  ``cuda_infer_size``, when
    given, replaces ``infer_size`` for a runner that lands on a CUDA GPU; the
    runner's ``infer_size`` says which one was used.
    """
    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}.",
                         fix="Use --backend auto to take the fastest available.")
    rows = rows_for(backend)
    skipped: dict[str, str] = {}
    last_error: BackendError | None = None
    for i, row in enumerate(rows):
        status = row.probe()
        if not status.available:
            skipped[row.key] = status.reason
            last_error = BackendError(f"The {row.name} backend cannot run here: {status.reason}.", fix=status.fix)
            continue
        size = cuda_infer_size if (row.device == "cuda" and cuda_infer_size) else infer_size
        runner = row.create(style, size)
        try:
            runner.activate()
        except BackendError as e:
            if i == len(rows) - 1:
                raise
            skipped[row.key] = str(e)
            last_error = e
            log.warning("backend %s unavailable: %s", row.key, e)
            continue
        if backend == "auto":
            reason = ("fastest available on this machine (no usable NVIDIA GPU)" if row.device == "cpu"
                      else f"fastest available ({status.reason})")
            if row.device == "cpu":
                skipped.setdefault("torch-cpu", "slower than onnxruntime on the CPU (benchmarks/RESULTS.md)")
        else:
            reason = f"asked for with --backend {backend}"
            if row.name == "torch":
                reason += "; CUDA available" if row.device == "cuda" else f"; CPU ({skipped.get('torch-cuda', '')})"
        return Choice(runner, row.name, row.device, reason, skipped)
    assert last_error is not None
    raise last_error
