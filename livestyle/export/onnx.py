"""Export a float generator to ONNX under the runtime contract, and check it.

The graph takes ``bgr`` uint8 (1, H, W, 3) and returns ``out`` uint8
(1, H, W, 3); H and W are dynamic (multiples of 4).  Needs torch and onnx.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livestyle.fsutil import atomic_path, write_json_atomic
from livestyle.models.student import Student, StudentConfig, UInt8BGR

OPSET = 17


def trace_onnx(module: nn.Module, args: tuple, path: str | os.PathLike, *, inputs: list[str], outputs: list[str],
               dynamic: dict) -> Path:
    """Trace ``module`` on ``args`` to an ONNX file at ``path`` (opset :data:`OPSET`), written atomically.

    The one place livestyle calls the exporter: the student, the colour
    engine and the parts of a composed engine all go through here.
    ``dynamic`` names the dynamic axes per input/output.  Returns the path.
    """
    path = Path(path)
    with atomic_path(path, what="ONNX export") as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(tmp), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
    return path


def export_onnx(net: nn.Module, path: str | os.PathLike, *, sample_size: tuple[int, int] = (256, 256)) -> Path:
    """Write ``UInt8BGR(net)`` as ONNX to ``path`` atomically; returns the path.

    ``sample_size`` is the (width, height) of the tracing input; the exported
    graph accepts any multiple-of-4 size.
    """
    w, h = sample_size
    x = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    return trace_onnx(UInt8BGR(net), (x,), path, inputs=["bgr"], outputs=["out"],
                      dynamic={"bgr": {1: "height", 2: "width"}, "out": {1: "height", 2: "width"}})


def check_parity(net: nn.Module, onnx_path: str | os.PathLike, *, sizes=((256, 256), (320, 180)),
                 seed: int = 0) -> int:
    """Max abs difference (in uint8 levels) between PyTorch and ONNX Runtime outputs on random frames."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    wrapped = UInt8BGR(net).eval()
    rng = np.random.default_rng(seed)
    worst = 0
    for w, h in sizes:
        x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        with torch.no_grad():
            ref = wrapped(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"bgr": x})[0]
        worst = max(worst, int(np.abs(ref.astype(np.int16) - got.astype(np.int16)).max()))
    return worst


def random_student_pack(folder: str | os.PathLike, *, name: str = "random", seed: int = 0,
                        cfg: StudentConfig = StudentConfig(), meta: dict | None = None) -> Path:
    """A style pack holding a randomly initialised student: same cost as a trained one.

    Used by tests and benchmarks before (or without) trained styles.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = Student(cfg).eval()
    export_onnx(net, folder / "student.onnx")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "student.safetensors"))
    info = {"name": name, "student": cfg.to_dict(), "random_init": True, **(meta or {})}
    write_json_atomic(folder / "style.json", info)
    return folder
