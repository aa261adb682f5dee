"""PyTorch backend: the student run by torch on the CPU or, in FP16 with CUDA graphs, on an NVIDIA GPU.

Importing this module does not import torch; :meth:`TorchRunner.activate`
does.  Weights come from the pack's ``student.safetensors`` (never a pickle).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from importlib import metadata

import numpy as np

from livestyle.errors import BackendError, ModelError
from livestyle.runners.base import NO_DRIVER_FIX, NO_DRIVER_REASON, BackendStatus, Runner, nvidia_driver

log = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda")
_TORCH_FIX = "pip install 'livestyle[train]' (installs torch==2.13.0 and safetensors)"
_CUDA_TORCH_FIX = ("install a CUDA build of torch on the GPU machine, e.g. "
                   "pip install torch --index-url https://download.pytorch.org/whl/cu128")
_DRIVER_FIX = NO_DRIVER_FIX


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def load_student(style, device: str = "cpu"):
    """The look's float network (eval mode, on ``device``): (N, 3, H, W) BGR in [-1, 1] -> same.

    A format-1 pack's Student, an engine look's adaptive LUT, or a mix of
    engine looks, all through the one pack-weight loader
    (:func:`livestyle.styles.nets.load_look_net`).  Raises ModelError when
    the weights are missing, unreadable or do not fit ``style.json``.
    """
    import torch

    from livestyle.styles.nets import load_look_net

    return load_look_net(style).eval().to(torch.device(device))


def _half_uint8_bgr(net, dtype):
    """The one ``UInt8BGR`` normalising in ``dtype`` (float16 on the GPU); NHWC uint8 in and out."""
    from livestyle.models.convert import UInt8BGR

    return UInt8BGR(net, dtype).eval()


class TorchRunner(Runner):
    """The student in PyTorch.

    ``device="cpu"``: the float32 ``UInt8BGR(Student)`` in eval mode under
    ``torch.inference_mode``.  ``device="cuda"``: the float net in FP16 (or
    ``precision="fp32"``), channels-last, with pinned host buffers and device
    buffers allocated once, a dedicated CUDA stream, and (by default) the
    forward pass captured as a CUDA graph after warm-up and replayed per
    frame, so a frame costs no allocation and one host sync.

    ``infer`` takes uint8 BGR (h, w, 3), (w, h) = ``infer_size``, and returns
    uint8 BGR (h, w, 3) in a buffer reused by the next call.
    """

    name = "torch"

    def __init__(self, style, *, infer_size: tuple[int, int], device: str = "cpu", precision: str = "fp16",
                 cuda_graph: bool = True, threads: int | None = None):
        super().__init__(style, infer_size=infer_size)
        if device not in DEVICES:
            raise BackendError(f"TorchRunner device must be one of {', '.join(DEVICES)}; got {device!r}.",
                               fix="Use device='cpu' or device='cuda'.")
        if precision not in ("fp16", "fp32"):
            raise BackendError(f"TorchRunner precision must be fp16 or fp32; got {precision!r}.",
                               fix="Use precision='fp16' (GPU default) or 'fp32'.")
        self.device = device
        self.precision = precision if device == "cuda" else "fp32"
        self.use_cuda_graph = cuda_graph
        self.threads = threads
        self._model = None
        self._graph = None

    # ------------------------------------------------------------------ probes

    @classmethod
    def probe(cls, device: str = "cpu") -> BackendStatus:
        """Whether torch (and safetensors) can run the student on ``device``; no model is loaded.

        For ``"cpu"`` this only looks for the packages (no import); for
        ``"cuda"`` see :meth:`probe_cuda`.
        """
        if device == "cuda":
            return cls.probe_cuda()
        if importlib.util.find_spec("torch") is None:
            return BackendStatus(cls.name, False, "cpu", "the torch package is not installed", _TORCH_FIX)
        if importlib.util.find_spec("safetensors") is None:
            return BackendStatus(cls.name, False, "cpu", "the safetensors package is not installed",
                                 "pip install safetensors")
        return BackendStatus(cls.name, True, "cpu", f"torch {_dist_version('torch')} on the CPU "
                                                    f"({_cpu_count()} threads)")

    @classmethod
    def probe_cuda(cls) -> BackendStatus:
        """Whether torch can run on an NVIDIA GPU here, with the exact reason when not.

        Checks, in order: torch installed, NVIDIA driver loaded (Linux, from
        /proc, before importing torch), torch built with CUDA, a GPU visible.
        """
        if importlib.util.find_spec("torch") is None:
            return BackendStatus(cls.name, False, "cuda", "the torch package is not installed", _CUDA_TORCH_FIX)
        if importlib.util.find_spec("safetensors") is None:
            return BackendStatus(cls.name, False, "cuda", "the safetensors package is not installed",
                                 "pip install safetensors")
        no_driver = None if nvidia_driver() else NO_DRIVER_REASON
        if no_driver:
            version = _dist_version("torch")
            if "+cpu" in version:  # a second blocker, told without importing torch
                return BackendStatus(cls.name, False, "cuda", f"{no_driver}, and torch {version} is a CPU-only build",
                                     f"{_DRIVER_FIX}, then {_CUDA_TORCH_FIX}")
            return BackendStatus(cls.name, False, "cuda", no_driver, _DRIVER_FIX)
        try:
            import torch
        except Exception as e:  # a broken install: say so rather than crash the probe
            return BackendStatus(cls.name, False, "cuda", f"torch does not import ({type(e).__name__}: {e})",
                                 "reinstall torch")
        if torch.version.cuda is None:
            return BackendStatus(cls.name, False, "cuda", f"torch {torch.__version__} is a CPU-only build",
                                 _CUDA_TORCH_FIX)
        try:
            usable = torch.cuda.is_available() and torch.cuda.device_count() > 0
        except Exception as e:  # pragma: no cover - driver trouble
            usable, err = False, f" ({e})"
        else:
            err = ""
        if not usable:
            return BackendStatus(cls.name, False, "cuda",
                                 f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable GPU{err}",
                                 "check `nvidia-smi`, CUDA_VISIBLE_DEVICES, and that the driver supports CUDA "
                                 f"{torch.version.cuda}")
        name = torch.cuda.get_device_name(0)
        return BackendStatus(cls.name, True, "cuda", f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}")

    # ------------------------------------------------------------------ lifecycle

    def activate(self) -> None:
        if self._model is not None:
            return
        status = self.probe(self.device)
        if not status.available:
            raise BackendError(f"The torch backend cannot run on {self.device} here: {status.reason}.", fix=status.fix)
        w, h = self.infer_size
        if w <= 0 or h <= 0 or w % 4 or h % 4:
            raise BackendError(f"The student needs an inference size in multiples of 4; got {w}x{h}.",
                               fix="Pick an --infer-size such as 640x360 or 1920x1080.")
        if self.device == "cpu":
            self._activate_cpu()
        else:
            self._activate_cuda()
        log.info("torch runner ready: %s, %dx%d, %s%s", self.device, w, h, self.precision,
                 ", CUDA graph" if self._graph is not None else "")

    def _activate_cpu(self) -> None:
        import torch

        from livestyle.models.student import UInt8BGR

        threads = self.threads or _cpu_count()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        self._model = UInt8BGR(load_student(self.style, "cpu")).eval()
        w, h = self.infer_size
        self.infer(np.zeros((h, w, 3), np.uint8))  # warm-up (first call allocates the thread pool)

    def _activate_cuda(self) -> None:
        import torch

        w, h = self.infer_size
        dev = torch.device("cuda", 0)
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        torch.backends.cudnn.benchmark = True  # fixed shape: let cuDNN pick the fastest kernels once
        net = load_student(self.style, "cpu").to(device=dev, dtype=dtype).to(memory_format=torch.channels_last)
        model = _half_uint8_bgr(net, dtype)
        self._stream = torch.cuda.Stream(device=dev)
        # pinned host memory: the copies are real DMA, asynchronous on our stream
        self._host_in = torch.empty((1, h, w, 3), dtype=torch.uint8, pin_memory=True)
        self._host_out = torch.empty((1, h, w, 3), dtype=torch.uint8, pin_memory=True)
        self._host_in_np = self._host_in.numpy()[0]
        self._host_out_np = self._host_out.numpy()[0]
        self._dev_in = torch.zeros((1, h, w, 3), dtype=torch.uint8, device=dev)
        self._dev_out = torch.empty((1, h, w, 3), dtype=torch.uint8, device=dev)
        self._model = model
        s = self._stream
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.inference_mode(), torch.cuda.stream(s):
            for _ in range(3):  # warm-up: cuDNN autotuning, lazy init, allocator pools
                self._dev_out.copy_(model(self._dev_in))
        s.synchronize()
        self._graph = None
        if self.use_cuda_graph:
            try:
                graph = torch.cuda.CUDAGraph()
                with torch.no_grad(), torch.cuda.graph(graph, stream=s):
                    self._dev_out.copy_(model(self._dev_in))
                s.synchronize()
                self._graph = graph
            except Exception as e:  # eager replay is slower but correct
                log.warning("CUDA graph capture failed (%s); running the torch model eagerly", e)
                self._graph = None
        self.infer(np.zeros((h, w, 3), np.uint8))

    def _infer(self, image: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """uint8 BGR (h, w, 3) -> uint8 BGR (h, w, 3); the result is reused by the next call."""
        if self._model is None:
            raise BackendError("TorchRunner.infer called before activate().", fix="Call activate() first.")
        if self.device == "cpu":
            import torch

            with torch.inference_mode():
                out = self._model(torch.from_numpy(np.ascontiguousarray(image))[None])
            return out.numpy()[0]
        return self._infer_cuda(image)

    def _infer_cuda(self, image: np.ndarray) -> np.ndarray:
        import torch

        np.copyto(self._host_in_np, image)
        s = self._stream
        with torch.cuda.stream(s):
            self._dev_in.copy_(self._host_in, non_blocking=True)
            if self._graph is not None:
                self._graph.replay()
            else:
                with torch.inference_mode():
                    self._dev_out.copy_(self._model(self._dev_in))
            self._host_out.copy_(self._dev_out, non_blocking=True)
        s.synchronize()
        return self._host_out_np

    def deactivate(self) -> None:
        self._graph = None
        self._model = None
        for attr in ("_dev_in", "_dev_out", "_host_in", "_host_out", "_host_in_np", "_host_out_np", "_stream"):
            if hasattr(self, attr):
                delattr(self, attr)
