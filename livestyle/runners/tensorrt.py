"""TensorRT backend: the style's ONNX compiled into an engine for this GPU (cached in ``engines/``).

Importing this module imports neither tensorrt nor torch; :meth:`TensorRTRunner.activate`
does.  GPU buffers are CUDA tensors from PyTorch (so no pycuda/cuda-python is
needed); they are allocated once, bound with ``set_tensor_address``, and each
frame is one H2D copy from pinned memory, ``execute_async_v3`` (or the replay
of a CUDA graph that captured it) and one D2H copy, all queued on a
dedicated stream with a single synchronisation.
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np

from livestyle.errors import BackendError, ModelError
from livestyle.runners import contract
from livestyle.runners.base import NO_DRIVER_FIX, NO_DRIVER_REASON, BackendStatus, Runner, nvidia_driver
from livestyle.runners.pytorch import TorchRunner

log = logging.getLogger(__name__)

_TRT_FIX = ("on a machine with an NVIDIA GPU: pip install 'livestyle[tensorrt]' (the tensorrt-cu12/cu13 wheels "
            "fetch their libraries from pypi.nvidia.com)")


def _has_conditionals(onnx_path) -> bool:
    """Whether the ONNX graph at ``onnx_path`` has ``If``/``Loop`` nodes (False when onnx cannot read it)."""
    try:
        import onnx

        return any(n.op_type in ("If", "Loop") for n in onnx.load(str(onnx_path)).graph.node)
    except Exception:  # onnx missing or the file unreadable: the build itself reports a bad file
        return False


class TensorRTRunner(Runner):
    """The style's ``student.onnx`` as a TensorRT engine built for ``infer_size`` and this GPU.

    ``infer`` takes uint8 BGR (h, w, 3), (w, h) = ``infer_size``, and returns
    uint8 BGR (h, w, 3) in a pinned buffer reused by the next call.  The
    engine comes from :func:`livestyle.runners.trt.cache.ensure_engine_entry`
    (built on first use, several seconds to a minute; cached afterwards).
    """

    name = "tensorrt"
    device = "cuda"

    def __init__(self, style, *, infer_size: tuple[int, int], precision: str = "fp16", cuda_graph: bool = True,
                 cache=None, progress=None):
        super().__init__(style, infer_size=infer_size)
        self.precision = precision
        self.use_cuda_graph = cuda_graph
        self.cache = cache
        self.progress = progress
        self.engine_path = None
        self._context = None
        self._graph = None

    @classmethod
    def probe(cls) -> BackendStatus:
        """Whether TensorRT can build and run engines here, with the exact reason when not.

        Checks, in order: the tensorrt package, the NVIDIA driver (Linux,
        from /proc), that tensorrt imports and has a builder, and that torch
        can use the GPU (it holds the buffers).
        """
        if importlib.util.find_spec("tensorrt") is None:
            return BackendStatus(cls.name, False, "cuda", "the tensorrt package is not installed", _TRT_FIX)
        if not nvidia_driver():
            return BackendStatus(cls.name, False, "cuda", NO_DRIVER_REASON, NO_DRIVER_FIX)
        from livestyle.runners.trt.cache import import_tensorrt

        try:
            trt = import_tensorrt()
        except BackendError as e:
            return BackendStatus(cls.name, False, "cuda", e.message.rstrip("."), e.fix or _TRT_FIX)
        cuda = TorchRunner.probe_cuda()
        if not cuda.available:
            return BackendStatus(cls.name, False, "cuda",
                                 f"TensorRT {trt.__version__} is installed but its GPU buffers need torch with CUDA: "
                                 f"{cuda.reason}", cuda.fix)
        import torch

        gpu = torch.cuda.get_device_name(0)
        return BackendStatus(cls.name, True, "cuda", f"TensorRT {trt.__version__}, {gpu}")

    # ------------------------------------------------------------------ lifecycle

    def activate(self) -> None:
        if self._context is not None:
            return
        status = self.probe()
        if not status.available:
            raise BackendError(f"The tensorrt backend cannot run here: {status.reason}.", fix=status.fix)
        import torch

        from livestyle.runners.trt.cache import EngineCache, ensure_engine_entry, import_tensorrt
        from livestyle.runners.trt.cache import trt_logger as _trt_logger

        trt = import_tensorrt()
        cache = self.cache if self.cache is not None else EngineCache()
        self._logger = _trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        engine = None
        for attempt in (1, 2):
            entry = ensure_engine_entry(self.style.onnx, self.infer_size, self.precision, cache=cache,
                                        progress=self.progress, force=attempt == 2)
            engine = self._runtime.deserialize_cuda_engine(cache.read_verified(entry))
            if engine is not None:
                break
            # hash matched but TensorRT refused it (e.g. a driver update): drop it and build afresh once
            log.warning("TensorRT could not deserialise %s; rebuilding it", entry.path.name)
            cache.invalidate(entry)
        if engine is None:
            raise BackendError(f"TensorRT cannot load the engine it just built for style {self.style.name!r}.",
                               fix="Run with -vv to see TensorRT's log, or use --backend torch.")
        self.engine_path = entry.path
        self._engine = engine
        self._bind(trt, torch)

    def _bind(self, trt, torch) -> None:
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._in_name, self._out_name, has_state = contract.split_io(
            inputs, outputs, f"The engine for style {self.style.name!r}", "Re-export the style pack.")
        for n in (self._in_name, self._out_name):
            if engine.get_tensor_dtype(n) != trt.uint8:
                raise ModelError(f"The engine's tensor {n!r} is {engine.get_tensor_dtype(n)}; expected uint8.",
                                 fix="Re-export the style pack (uint8 BGR in and out).")
        w, h = self.infer_size
        shape = (1, h, w, 3)
        context = engine.create_execution_context()
        if context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?).",
                               fix="Free GPU memory (close other GPU programs) or use a smaller --infer-size.")
        if not context.set_input_shape(self._in_name, shape):
            raise ModelError(f"The engine does not accept input shape {shape}.",
                             fix="Rebuild it: livestyle build-engine STYLE --size " f"{w}x{h}")
        out_shape = tuple(context.get_tensor_shape(self._out_name))
        if out_shape != shape:
            raise ModelError(f"The engine maps {shape} to {out_shape}; expected the same shape.",
                             fix="Re-export the style pack.")
        dev = torch.device("cuda", 0)
        self._stream = torch.cuda.Stream(device=dev)
        self._dev_in = torch.zeros(shape, dtype=torch.uint8, device=dev)
        self._dev_out = torch.empty(shape, dtype=torch.uint8, device=dev)
        self._host_in = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
        self._host_out = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
        self._host_in_np = self._host_in.numpy()[0]
        self._host_out_np = self._host_out.numpy()[0]
        context.set_tensor_address(self._in_name, self._dev_in.data_ptr())
        context.set_tensor_address(self._out_name, self._dev_out.data_ptr())
        # an engine's small float tensors, in the engine's own float type (float16 in a TensorRT 11 FP16 build):
        # weights and rate are copied up per frame from pinned memory; the mix state stays on the device
        self._aux: dict[str, tuple] = {}
        for n in [x for x in inputs if x in contract.AUX_INPUTS] + ([contract.MIX_NEXT] if has_state else []):
            dt = engine.get_tensor_dtype(n)
            if dt not in (trt.float32, trt.float16):
                raise ModelError(f"The engine's tensor {n!r} is {dt}; expected float32 or float16.",
                                 fix="Re-export the style pack.")
            tshape = tuple(int(d) for d in engine.get_tensor_shape(n))
            if any(d < 0 for d in tshape):
                raise ModelError(f"The engine's tensor {n!r} has no fixed shape ({tshape}).",
                                 fix="Re-export the style pack.")
            tdt = torch.float16 if dt == trt.float16 else torch.float32
            dev_t = torch.zeros(tshape, dtype=tdt, device=dev)
            host_t = torch.zeros(tshape, dtype=tdt, pin_memory=True)
            context.set_tensor_address(n, dev_t.data_ptr())
            self._aux[n] = (dev_t, host_t)
        self.n_looks = int(self._aux[contract.WEIGHTS][0].shape[1]) if contract.WEIGHTS in self._aux else None
        self._smoother = contract.MixSmoother(tuple(self._aux[contract.MIX_STATE][0].shape), host=False) \
            if has_state else None
        self._context = context
        s = self._stream
        for _ in range(2):  # the first enqueue applies shape/address changes; it must not be captured
            if not context.execute_async_v3(s.cuda_stream):
                self._context = None
                raise BackendError("TensorRT failed to run the engine.", fix="Run with -vv for TensorRT's log.")
        s.synchronize()
        self._graph = None
        branches = _has_conditionals(self.style.onnx)
        if self.use_cuda_graph and branches:
            # a texture look's If picks its branch from the weights at run time; a captured graph would replay
            # whichever branch ran at capture, so such engines are enqueued per frame
            log.info("the engine has conditional branches (a texture look): no CUDA graph")
        if self.use_cuda_graph and not branches:
            try:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=s):
                    context.execute_async_v3(s.cuda_stream)
                s.synchronize()
                self._graph = graph
            except Exception as e:
                log.warning("CUDA graph capture of the TensorRT engine failed (%s); enqueueing per frame", e)
                self._graph = None
        weights = None if self.n_looks is None else np.eye(self.n_looks, dtype=np.float32)[0]
        self.infer(np.zeros((h, w, 3), np.uint8), weights)
        self.reset_state()
        log.info("tensorrt runner ready: %s, %dx%d%s", self.engine_path.name if self.engine_path else "?", w, h,
                 ", CUDA graph" if self._graph is not None else "")

    def _put(self, name: str, values) -> None:
        """Copy ``values`` into the engine's input ``name`` (on the runner's stream, from pinned memory)."""
        dev_t, host_t = self._aux[name]
        host_t.numpy()[...] = np.asarray(values).reshape(host_t.shape)
        dev_t.copy_(host_t, non_blocking=True)

    def _infer(self, image: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """uint8 BGR (h, w, 3) -> uint8 BGR (h, w, 3); the result is reused by the next call."""
        if self._context is None:
            raise BackendError("TensorRTRunner.infer called before activate().", fix="Call activate() first.")
        import torch

        np.copyto(self._host_in_np, image)
        s = self._stream
        sm = self._smoother
        with torch.cuda.stream(s):
            self._dev_in.copy_(self._host_in, non_blocking=True)
            if weights is not None:
                self._put(contract.WEIGHTS, weights)
            if sm is not None:
                self._put(contract.MIX_RATE, sm.before())
            if self._graph is not None:
                self._graph.replay()
            elif not self._context.execute_async_v3(s.cuda_stream):
                raise BackendError("TensorRT failed to run the engine.", fix="Run with -vv for TensorRT's log.")
            if sm is not None:  # this frame's smoothed coefficients are the next frame's state
                self._aux[contract.MIX_STATE][0].copy_(self._aux[contract.MIX_NEXT][0])
            self._host_out.copy_(self._dev_out, non_blocking=True)
        s.synchronize()
        if sm is not None:
            sm.after()
        return self._host_out_np

    def deactivate(self) -> None:
        self._graph = None
        self._context = None
        for attr in ("_engine", "_runtime", "_dev_in", "_dev_out", "_host_in", "_host_out", "_host_in_np",
                     "_host_out_np", "_stream", "_aux"):
            if hasattr(self, attr):
                delattr(self, attr)
