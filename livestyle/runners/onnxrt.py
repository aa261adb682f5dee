"""ONNX Runtime on the CPU: the default backend on machines without an NVIDIA GPU."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from livestyle.errors import BackendError, ModelError
from livestyle.runners.base import BackendStatus, Runner

log = logging.getLogger(__name__)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def session_options(threads: int | None = None):
    """Session options tuned for a small conv net on a few cores.

    All graph optimisations, sequential execution (one op at a time, each op
    parallel over ``threads``), no spinning between calls (so the capture and
    output threads keep their core while inference waits for a frame).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or _cpu_count()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 4  # failures surface as exceptions -> ModelError, not as log lines
    return so


def check_contract(sess, source: str) -> tuple[str, str]:
    """Raise ModelError unless the graph takes and returns uint8 (1, H, W, 3); returns (input, output) names."""
    ins, outs = sess.get_inputs(), sess.get_outputs()
    fix = "Re-export it with `livestyle train --resume` (the runtime needs uint8 BGR NHWC in and out)."
    if len(ins) != 1 or len(outs) != 1:
        raise ModelError(f"{source} has {len(ins)} inputs and {len(outs)} outputs; expected 1 and 1.", fix=fix)
    for kind, t in (("input", ins[0]), ("output", outs[0])):
        shape = t.shape
        if t.type != "tensor(uint8)" or len(shape) != 4 or shape[3] != 3:
            raise ModelError(f"{source} {kind} {t.name!r} is {t.type} {shape}; expected uint8 [1, H, W, 3].", fix=fix)
    return ins[0].name, outs[0].name


class OnnxRuntimeRunner(Runner):
    """Runs a style's ``student.onnx`` with ONNX Runtime's CPU provider.

    The output is written into one preallocated buffer through I/O binding,
    so a frame costs no allocation.
    """

    name = "onnxruntime"
    device = "cpu"

    def __init__(self, style, *, infer_size: tuple[int, int], threads: int | None = None):
        super().__init__(style, infer_size=infer_size)
        self.threads = threads
        self._sess = None

    @classmethod
    def probe(cls) -> BackendStatus:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - a runtime dependency
            return BackendStatus(cls.name, False, "cpu", f"onnxruntime is not importable ({e})",
                                 "pip install onnxruntime")
        if "CPUExecutionProvider" not in ort.get_available_providers():  # pragma: no cover
            return BackendStatus(cls.name, False, "cpu", "no CPUExecutionProvider", "pip install onnxruntime")
        return BackendStatus(cls.name, True, "cpu", f"onnxruntime {ort.__version__}, CPU, {_cpu_count()} threads")

    def activate(self) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(4)
        path = self.style.onnx
        try:
            sess = ort.InferenceSession(str(path), sess_options=session_options(self.threads),
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise ModelError(f"Style {self.style.name!r}: {path} is not a loadable ONNX model ({reason}).",
                             fix="Re-export the pack with `livestyle train --resume`, or pick another style.") from None
        self._in_name, self._out_name = check_contract(sess, f"Style {self.style.name!r} ({path.name})")
        w, h = self.infer_size
        try:  # one warm-up run also proves the graph keeps the frame's shape
            got = sess.run(None, {self._in_name: np.zeros((1, h, w, 3), np.uint8)})[0]
        except Exception as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][-200:]
            raise ModelError(f"Style {self.style.name!r}: {path.name} failed on a {w}x{h} frame ({reason}).",
                             fix="The runtime needs uint8 [1,H,W,3] -> uint8 [1,H,W,3]; re-export the pack.") from None
        if got.shape != (1, h, w, 3) or got.dtype != np.uint8:
            raise ModelError(f"Style {self.style.name!r}: {path.name} turned a {w}x{h} frame into {got.dtype} "
                             f"{list(got.shape)}; expected uint8 [1, {h}, {w}, 3].",
                             fix="The runtime needs uint8 [1,H,W,3] -> uint8 [1,H,W,3]; re-export the pack.")
        self._out = np.empty((1, h, w, 3), np.uint8)
        self._binding = sess.io_binding()
        self._binding.bind_output(self._out_name, "cpu", 0, np.uint8, self._out.shape, self._out.ctypes.data)
        self._sess = sess

    def infer(self, image: np.ndarray) -> np.ndarray:
        if self._sess is None:
            raise BackendError("OnnxRuntimeRunner.infer called before activate().")
        t0 = time.perf_counter()
        x = np.ascontiguousarray(image)[None]
        self._binding.bind_cpu_input(self._in_name, x)
        self._sess.run_with_iobinding(self._binding)
        self.last_inference_time = time.perf_counter() - t0
        return self._out[0]

    def deactivate(self) -> None:
        self._sess = None
