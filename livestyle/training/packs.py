"""Writing a trained style pack and loading its student back (safetensors only); its teacher is read by
:func:`livestyle.styles.nets.load_teacher`, beside the other pack readers."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from livestyle.models.student import Student
from livestyle.models.teacher import ResnetGenerator
from livestyle.styles.pack import META_FILE, ONNX_FILE, TEACHER_FILE, WEIGHTS_FILE, StylePack


def machine_info(device: torch.device | str = "cpu") -> dict:
    """CPU model, core count, torch version, and the GPU name when training on CUDA."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": str(device)}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def write_pack(out_dir: str | os.PathLike, name: str, *, student: Student, teacher: ResnetGenerator,
               meta: dict, parity_limit: int = 1) -> tuple[Path, int]:
    """Export ``student`` to ONNX, check parity, and install the pack at ``out_dir/name`` atomically.

    The pack is assembled in a temporary sibling folder and renamed into
    place, so a reader sees the old pack or the new one, never half of one.
    Returns (pack folder, parity in uint8 levels).  Raises TrainingError when
    the ONNX graph differs from PyTorch by more than ``parity_limit`` levels.
    """
    from safetensors.torch import save_file

    from livestyle.errors import TrainingError
    from livestyle.export.onnx import check_parity, export_onnx
    from livestyle.fsutil import atomic_dir, write_json_atomic

    final = Path(out_dir) / name
    # assembled beside the pack and swapped in whole (fsutil.atomic_dir): a reader, a kill -9 or a full disk
    # leaves the old pack or the new one, and what a killed export left is tidied by the next one
    with atomic_dir(final, replace=True) as tmp:
        student = student.eval().to("cpu")
        export_onnx(student, tmp / ONNX_FILE)
        parity = check_parity(student, tmp / ONNX_FILE)
        if parity > parity_limit:
            raise TrainingError(f"The exported ONNX differs from PyTorch by {parity} uint8 levels "
                                f"(allowed: {parity_limit}).",
                                fix="Report this with `livestyle --version` and the run folder; the run can be "
                                    "re-exported with `livestyle train --resume` after a fix.")
        save_file(_state(student), str(tmp / WEIGHTS_FILE))
        save_file(_state(teacher), str(tmp / TEACHER_FILE))
        meta = dict(meta)
        meta.setdefault("metrics", {})["export_parity_uint8"] = parity
        write_json_atomic(tmp / META_FILE, meta)
        umask = os.umask(0)
        os.umask(umask)
        for f in tmp.iterdir():  # safetensors makes private files; a pack is ordinary data
            os.chmod(f, 0o666 & ~umask)
    return final, parity


def load_student(pack: StylePack | str | os.PathLike) -> nn.Module:
    """The look's float network (eval mode, CPU) through the one pack-weight loader.

    A format-1 pack gives its :class:`Student`; an engine look its adaptive LUT.
    """
    from livestyle.styles.nets import as_pack, load_look_net

    return load_look_net(as_pack(pack))


def set_export_seconds(pack_dir: Path, seconds: float) -> None:
    """Record the export's wall time in an installed pack's style.json (atomic rewrite of that file)."""
    from livestyle.fsutil import write_json_atomic

    meta_path = Path(pack_dir) / META_FILE
    meta = json.loads(meta_path.read_text())
    meta.setdefault("recipe", {}).setdefault("wall_seconds", {})["export"] = seconds
    write_json_atomic(meta_path, meta)
