"""ONNX Runtime on the CPU: the default backend on machines without an NVIDIA GPU."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from livestyle.errors import BackendError, ModelError
from livestyle.runners import contract
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


@dataclass(frozen=True)
class Contract:
    """What a look graph takes and returns (see :mod:`livestyle.runners.contract`)."""

    image: str                              # the uint8 (1, H, W, 3) input
    output: str                             # the uint8 (1, H, W, 3) output
    weights: str | None = None              # "weights" float32 (1, K) of an engine, else None
    n_looks: int | None = None              # K
    state_shape: tuple[int, int] | None = None  # (colour looks, bases) of an engine that smooths its mix (format 3)


def check_contract(sess, source: str) -> Contract:
    """Check the runtime contract of an ONNX Runtime session; ModelError (one line) when it is broken.

    A single look: one input uint8 [1, H, W, 3] and one output uint8 [1, H, W, 3].
    An engine of K looks also takes ``weights`` float32 [1, K]; a format-3
    engine also ``mix_state`` float32 [K, bases] and ``mix_rate`` float32 [1]
    and returns ``mix_next`` [K, bases] after the image.
    """
    ins, outs = sess.get_inputs(), sess.get_outputs()
    fix = "Re-export it with `livestyle train --resume` (the runtime needs uint8 BGR NHWC in and out)."
    by_name = {t.name: t for t in ins}
    image, image_out, has_state = contract.split_io([t.name for t in ins], [t.name for t in outs], source, fix)
    for kind, t in (("input", by_name[image]), ("output", next(t for t in outs if t.name == image_out))):
        shape = t.shape
        if t.type != "tensor(uint8)" or len(shape) != 4 or shape[3] != 3:
            raise ModelError(f"{source} {kind} {t.name!r} is {t.type} {shape}; expected uint8 [1, H, W, 3].", fix=fix)
    if contract.WEIGHTS not in by_name:
        return Contract(image, image_out)
    w = by_name[contract.WEIGHTS]
    if w.type != "tensor(float)" or len(w.shape) != 2 or not isinstance(w.shape[1], int) or w.shape[1] < 1:
        raise ModelError(f"{source} input 'weights' is {w.type} {w.shape}; expected float32 [1, K] with a fixed K.",
                         fix=fix)
    k = int(w.shape[1])
    if not has_state:
        return Contract(image, image_out, contract.WEIGHTS, k)
    st = by_name[contract.MIX_STATE]
    if st.type != "tensor(float)" or len(st.shape) != 2 or not all(isinstance(d, int) for d in st.shape) \
            or not 1 <= st.shape[0] <= k:
        raise ModelError(f"{source} input 'mix_state' is {st.type} {st.shape}; expected float32 [colour looks "
                         f"(1..{k}), bases].", fix=fix)
    return Contract(image, image_out, contract.WEIGHTS, k, (int(st.shape[0]), int(st.shape[1])))


class OnnxRuntimeRunner(Runner):
    """Runs a style's ``student.onnx`` with ONNX Runtime's CPU provider.

    The output is written into one preallocated buffer through I/O binding,
    so a frame costs no allocation.
    """

    name = "onnxruntime"
    device = "cpu"
    resizable = True  # H and W are dynamic in the graph: a new size is a new output buffer

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
        self._contract = c = check_contract(sess, f"Style {self.style.name!r} ({path.name})")
        self._in_name, self._out_name, self._weights_name, self.n_looks = c.image, c.output, c.weights, c.n_looks
        w, h = self.infer_size
        feeds = {self._in_name: np.zeros((1, h, w, 3), np.uint8)}
        if self._weights_name is not None:
            self._weights = np.zeros((1, self.n_looks), np.float32)
            self._weights[0, 0] = 1.0
            feeds[self._weights_name] = self._weights
        self._smoother = None
        if c.state_shape is not None:
            self._smoother = contract.MixSmoother(c.state_shape)
            feeds[contract.MIX_STATE] = self._smoother.state
            feeds[contract.MIX_RATE] = np.ones(1, np.float32)
        try:  # one warm-up run also proves the graph keeps the frame's shape
            got = sess.run(None, feeds)[0]
        except Exception as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][-200:]
            raise ModelError(f"Style {self.style.name!r}: {path.name} failed on a {w}x{h} frame ({reason}).",
                             fix="The runtime needs uint8 [1,H,W,3] -> uint8 [1,H,W,3]; re-export the pack.") from None
        if got.shape != (1, h, w, 3) or got.dtype != np.uint8:
            raise ModelError(f"Style {self.style.name!r}: {path.name} turned a {w}x{h} frame into {got.dtype} "
                             f"{list(got.shape)}; expected uint8 [1, {h}, {w}, 3].",
                             fix="The runtime needs uint8 [1,H,W,3] -> uint8 [1,H,W,3]; re-export the pack.")
        self._sess = sess
        self._binding = sess.io_binding()
        self._bind_output()
        if self._smoother is not None:
            sm = self._smoother
            self._binding.bind_output(contract.MIX_NEXT, "cpu", 0, np.float32, sm.next.shape, sm.next.ctypes.data)

    def _bind_output(self) -> None:
        w, h = self.infer_size
        self._out = np.empty((1, h, w, 3), np.uint8)
        self._binding.bind_output(self._out_name, "cpu", 0, np.uint8, self._out.shape, self._out.ctypes.data)

    def set_infer_size(self, size: tuple[int, int]) -> None:
        """Infer at ``size`` = (width, height) from the next call on (multiples of 4 keep the graph's shape)."""
        self.infer_size = (int(size[0]), int(size[1]))
        if self._sess is not None:
            self._bind_output()

    def _infer(self, image: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if self._sess is None:
            raise BackendError("OnnxRuntimeRunner.infer called before activate().", fix="Call activate() first.")
        x = np.ascontiguousarray(image)[None]
        self._binding.bind_cpu_input(self._in_name, x)
        if self._weights_name is not None:
            self._weights[0] = weights
            self._binding.bind_cpu_input(self._weights_name, self._weights)
        sm = self._smoother
        if sm is not None:
            self._binding.bind_cpu_input(contract.MIX_STATE, sm.state)
            self._binding.bind_cpu_input(contract.MIX_RATE, sm.before())
        self._sess.run_with_iobinding(self._binding)
        if sm is not None:
            sm.after()
        return self._out[0]

    def deactivate(self) -> None:
        self._sess = None
