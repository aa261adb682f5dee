"""Building a TensorRT engine from a style's ONNX (the real builder of the engine cache).

Imports ``tensorrt`` only inside the functions that need it.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import BinaryIO

from livestyle.errors import BackendError, ModelError
from livestyle.runners.trt.files import atomic_write, private_file_ok
from livestyle.runners.trt.onnx_rewrite import prepare_onnx_for_tensorrt
from livestyle.runners import contract
from livestyle.runners.trt.target import BuildRequest, BuildTarget, ProgressFn

log = logging.getLogger(__name__)

__all__ = ["detect_target", "import_tensorrt", "progress_monitor", "read_driver_version", "tensorrt_builder",
           "trt_logger", "trt_major"]



def import_tensorrt():
    """``import tensorrt`` or a BackendError that says why and how to fix it."""
    try:
        import tensorrt as trt
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == "tensorrt":
            raise BackendError("TensorRT is not installed (no `tensorrt` Python package).",
                               fix="On a machine with an NVIDIA GPU: pip install 'livestyle[tensorrt]'.") from None
        raise BackendError(f"The tensorrt package is installed but does not load ({e}).",
                           fix="Reinstall it matching your CUDA version: pip install --force-reinstall tensorrt-cu12 "
                               "(or tensorrt-cu13).") from None
    if not hasattr(trt, "Builder"):
        raise BackendError(f"Only the TensorRT runtime is installed (tensorrt {getattr(trt, '__version__', '?')} has "
                           "no Builder); building engines needs the full package.",
                           fix="pip install 'livestyle[tensorrt]' (tensorrt-cu12 or tensorrt-cu13).")
    return trt


def trt_major(version: str) -> int:
    """Major version of a TensorRT version string ("10.9.0.34" -> 10)."""
    m = re.match(r"\s*(\d+)", str(version))
    return int(m.group(1)) if m else 0


def detect_target() -> BuildTarget:
    """This machine's TensorRT version and GPU 0 (name, compute capability), with versions for the manifest."""
    trt = import_tensorrt()
    try:
        import torch
    except ImportError:
        raise BackendError("The TensorRT backend needs torch (with CUDA) for its GPU buffers; torch is not installed.",
                           fix="pip install torch (a CUDA build) on the GPU machine.") from None
    if not torch.cuda.is_available():
        raise BackendError("CUDA is not usable from torch here (torch.cuda.is_available() is False).",
                           fix="Install the NVIDIA driver and a CUDA build of torch, or pick --backend onnxruntime.")
    props = torch.cuda.get_device_properties(0)
    versions = {"tensorrt": trt.__version__, "torch": torch.__version__, "cuda": str(torch.version.cuda),
                "python": sys.version.split()[0]}
    from livestyle import __version__ as livestyle_version

    versions["livestyle"] = livestyle_version
    driver = read_driver_version()
    if driver:
        versions["driver"] = driver
    return BuildTarget(trt_version=trt.__version__, gpu_name=props.name,
                       compute_capability=f"{props.major}.{props.minor}", versions=versions)


def read_driver_version() -> str | None:
    from livestyle.runners.base import nvidia_driver

    line = nvidia_driver()
    if line is None:
        return None
    m = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", line) or re.search(r"\s(\d+\.\d+(?:\.\d+)?)\s", line)
    return m.group(1) if m else line.strip()


def progress_monitor(trt, report: ProgressFn):
    """A ``trt.IProgressMonitor`` forwarding phases and steps to ``report(phase_path, done, total)``."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._parent: dict[str, str | None] = {}
            self._total: dict[str, int] = {}

        def _path(self, phase: str) -> str:
            parts, p, seen = [], phase, set()
            while p is not None and p not in seen:
                seen.add(p)
                parts.append(p)
                p = self._parent.get(p)
            return " > ".join(reversed(parts))

        def phase_start(self, phase_name, parent_phase, num_steps):
            try:
                with self._lock:
                    self._parent[phase_name] = parent_phase
                    self._total[phase_name] = int(num_steps)
                    path = self._path(phase_name)
                report(path, 0, int(num_steps))
            except Exception:  # never let a display problem escape into TensorRT
                log.debug("progress report failed", exc_info=True)

        def step_complete(self, phase_name, step):
            try:
                with self._lock:
                    path, total = self._path(phase_name), self._total.get(phase_name, 0)
                report(path, int(step) + 1, total)
            except Exception:
                log.debug("progress report failed", exc_info=True)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            try:
                with self._lock:
                    path, total = self._path(phase_name), self._total.get(phase_name, 0)
                report(path, total, total)
            except Exception:
                log.debug("progress report failed", exc_info=True)

    return Monitor()


def trt_logger(trt):
    """A TensorRT logger that forwards into ``logging`` (warnings and errors as such)."""

    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)

        def log(self, severity, msg):
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR):
                log.error("TensorRT: %s", msg)
            elif severity == sev.WARNING:
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


def tensorrt_builder(request: BuildRequest, out: BinaryIO) -> None:
    """Compile ``request.onnx_path`` into a serialised TensorRT engine written to ``out``.

    The engine's input ``bgr`` is uint8 (1, h, w, 3) BGR (an optimisation
    profile with min = opt = max = that shape) and its output ``out`` the
    same.  Precision: fp32 builds a strongly typed network from the ONNX as
    is.  fp16 on TensorRT 10 sets ``BuilderFlag.FP16`` on a weakly typed
    network; on TensorRT 11 (which removed that flag and weak typing) it
    builds a strongly typed network from an FP16 copy of the ONNX
    (:func:`make_fp16_onnx`).  The timing cache at ``request.timing_cache``
    is loaded when present and saved (atomically) after the build.
    """
    trt = import_tensorrt()
    w, h = request.size
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    legacy_fp16 = request.precision == "fp16" and hasattr(trt.BuilderFlag, "FP16")
    flag_enum = trt.NetworkDefinitionCreationFlag
    strongly_typed = not legacy_fp16 and hasattr(flag_enum, "STRONGLY_TYPED")
    flags = (1 << int(flag_enum.STRONGLY_TYPED)) if strongly_typed else 0
    network = builder.create_network(flags)

    onnx_for_trt = request.work_dir / "model.onnx"
    prepare_onnx_for_tensorrt(request.onnx_path, onnx_for_trt,
                              fp16=request.precision == "fp16" and not legacy_fp16)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_for_trt)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise BackendError(f"TensorRT could not parse {request.onnx_path.name}: {errors[:400]}.",
                           fix="Re-export the style with `livestyle train --resume`, or use --backend torch.")
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    # an engine's 'weights', 'mix_state' and 'mix_rate' have fixed shapes: only the image needs a profile
    image, image_out, _ = contract.split_io([t.name for t in inputs], [t.name for t in outputs],
                                            request.onnx_path.name, "Re-export the style pack.")
    inp = next(t for t in inputs if t.name == image)
    outp = next(t for t in outputs if t.name == image_out)
    if inp.dtype != trt.uint8 or outp.dtype != trt.uint8:
        raise ModelError(f"{request.onnx_path.name} takes {inp.dtype} and returns {outp.dtype}; expected uint8 "
                         "BGR in and out.", fix="Re-export the style pack.")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if legacy_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = (1, h, w, 3)
    profile.set_shape(inp.name, shape, shape, shape)
    config.add_optimization_profile(profile)

    timing_data = b""
    if request.timing_cache is not None and request.timing_cache.is_file() \
            and private_file_ok(request.timing_cache) is None:
        timing_data = request.timing_cache.read_bytes()
    try:
        timing = config.create_timing_cache(timing_data)
    except Exception:  # a corrupt timing cache only costs time: start empty
        log.warning("ignoring unreadable TensorRT timing cache %s", request.timing_cache)
        timing = config.create_timing_cache(b"")
    config.set_timing_cache(timing, True)  # ignore_mismatch: a cache from another device only costs time

    monitor = None
    if request.progress is not None and hasattr(trt, "IProgressMonitor"):
        monitor = progress_monitor(trt, request.progress)
        config.progress_monitor = monitor

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine for {request.onnx_path.name} at {w}x{h} "
                           f"({request.precision}).", fix="Run with -vv for TensorRT's log; try --precision fp32.")
    out.write(memoryview(serialized))

    if request.timing_cache is not None:
        try:
            data = bytes(memoryview(config.get_timing_cache().serialize()))
            atomic_write(request.timing_cache, lambda f: f.write(data))
        except Exception:  # the engine is fine without it
            log.warning("could not save the TensorRT timing cache", exc_info=True)
    del monitor
