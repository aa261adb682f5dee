"""What a TensorRT build is for: the target (TensorRT version, GPU) and the request (ONNX, shape, precision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["BuildRequest", "BuildTarget", "ProgressFn"]

#: ``progress(phase, done, total)``: ``phase`` is a " > "-joined path of
#: TensorRT optimiser phases, ``done`` of ``total`` steps are finished.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildTarget:
    """What an engine is specialised to besides the ONNX file: TensorRT version and GPU.

    ``versions`` records the builder's software (tensorrt, torch, CUDA,
    driver) in the manifest; it is informational and not part of the key.
    """

    trt_version: str
    gpu_name: str
    compute_capability: str
    versions: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BuildRequest:
    """Everything a builder needs: the ONNX to compile, the exact input shape and precision."""

    onnx_path: Path
    size: tuple[int, int]           # (width, height); the engine's input is uint8 (1, h, w, 3) BGR
    precision: str                  # "fp16" | "fp32"
    target: BuildTarget
    work_dir: Path                  # private scratch folder for intermediate files (removed afterwards)
    timing_cache: Path | None = None  # TensorRT timing cache to read and update, if any
    progress: ProgressFn | None = None
