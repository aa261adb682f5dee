"""ONNX rewrites before a TensorRT build: FP16 conversion and casts moved next to the uint8 I/O.

Needs ``onnx`` (imported inside the functions).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from livestyle.errors import BackendError, ModelError
from livestyle.runners.trt.files import atomic_write

log = logging.getLogger(__name__)

__all__ = ["make_fp16_onnx", "move_casts_next_to_uint8_io", "prepare_onnx_for_tensorrt"]



# (op_type, input index) whose float inputs must stay float32 in an FP16 graph
_KEEP_FLOAT32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise BackendError("Building a TensorRT engine needs the onnx package, which is not installed.",
                           fix="pip install 'livestyle[tensorrt]' (or pip install onnx).") from None
    return onnx


def _load_onnx(path):
    onnx = _import_onnx()
    try:
        return onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"{path} is not a readable ONNX model ({type(e).__name__}).",
                         fix="Re-export the style pack with `livestyle train --resume`.") from None


def _consumers(graph, *, deep: bool = False) -> dict[str, list[tuple[object, int]]]:
    """Every (node, input index) reading each value; ``deep`` also counts nodes inside ``If`` branches."""
    uses: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                uses.setdefault(name, []).append((node, i))
        if deep:
            for a in node.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    for name, found in _consumers(sub, deep=True).items():
                        uses.setdefault(name, []).extend(found)
    return uses


def _stays_float32(name: str, uses: dict) -> bool:
    keep = [(n.op_type, i) in _KEEP_FLOAT32_INPUTS for n, i in uses.get(name, [])]
    if any(keep) and not all(keep):
        raise ModelError(f"Tensor {name!r} feeds both float32-only inputs and ordinary ones; cannot convert to FP16.",
                         fix="Build with --precision fp32.")
    return bool(keep) and all(keep)


def _tensor_to_fp16(tensor):
    import numpy as np
    from onnx import numpy_helper

    arr = numpy_helper.to_array(tensor)
    if np.isfinite(arr).all() and np.abs(arr).max(initial=0.0) > 65504.0:
        raise ModelError(f"Constant {tensor.name!r} holds values beyond FP16's range.", fix="Build with --precision fp32.")
    return numpy_helper.from_array(arr.astype(np.float16), tensor.name)


def make_fp16_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write an FP16 copy of a float32 ONNX graph, keeping uint8 I/O; returns ``dst``.

    Float32 initializers and ``Constant``/``ConstantOfShape`` values become
    float16, ``Cast(to=FLOAT)`` becomes ``Cast(to=FLOAT16)`` (so the uint8
    input is cast straight to half and the final cast to uint8 starts from
    half), float graph inputs/outputs become float16.  Inputs that ONNX
    requires in float32 (Resize ``roi``/``scales``) stay float32.  The result
    is type-checked with ONNX's strict shape inference; a graph this cannot
    convert raises ModelError.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper

    model = _load_onnx(src)
    graph = model.graph
    f32, f16 = TensorProto.FLOAT, TensorProto.FLOAT16
    _graph_to_fp16(graph, onnx, helper, f32, f16)
    for vi in list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == f32:
            vi.type.tensor_type.elem_type = f16
    del graph.value_info[:]  # stale float32 annotations; re-inferred below
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(inferred)
    except Exception as e:
        raise ModelError(f"The FP16 conversion of {Path(src).name} is not a consistent graph ({str(e)[:300]}).",
                         fix="Build with --precision fp32.") from None
    dst = Path(dst)
    data = model.SerializeToString()
    atomic_write(dst, lambda f: f.write(data))
    return dst


def _graph_to_fp16(graph, onnx, helper, f32, f16) -> None:
    """Convert ``graph`` in place (see :func:`make_fp16_onnx`), and the ``If`` branches inside it."""
    uses = _consumers(graph, deep=True)
    for init in graph.initializer:
        if init.data_type == f32 and not _stays_float32(init.name, uses):
            init.CopyFrom(_tensor_to_fp16(init))
    for node in graph.node:
        out = node.output[0] if node.output else ""
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == f32 and not _stays_float32(out, uses):
                    a.i = f16
        elif node.op_type in ("Constant", "ConstantOfShape"):
            if _stays_float32(out, uses):
                continue
            for a in list(node.attribute):
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR and a.t.data_type == f32:
                    a.t.CopyFrom(_tensor_to_fp16(a.t))
                elif a.name in ("value_float", "value_floats") and node.op_type == "Constant":
                    import numpy as np
                    from onnx import numpy_helper

                    vals = np.array(a.f if a.name == "value_float" else list(a.floats), dtype=np.float16)
                    node.attribute.remove(a)
                    node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(vals)))
            if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
                # the default value is float32 zero
                node.attribute.append(helper.make_attribute(
                    "value", helper.make_tensor("value", f16, [1], [0.0])))
        elif node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike"):
            raise ModelError(f"{node.op_type} in the graph is not supported by the FP16 conversion.",
                             fix="Build with --precision fp32.")
        for a in node.attribute:  # a texture look's branch: the same conversion, and its outputs in half
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _graph_to_fp16(sub, onnx, helper, f32, f16)
                for vi in sub.output:
                    if vi.type.tensor_type.elem_type == f32:
                        vi.type.tensor_type.elem_type = f16


def move_casts_next_to_uint8_io(graph) -> int:
    """Rewrite ``uint8 in -> Transpose -> Cast`` as ``Cast -> Transpose`` and ``Cast(uint8) -> Transpose -> out``
    as ``Transpose -> Cast``, so no layer but a cast touches a uint8 tensor (TensorRT allows uint8 only at
    network I/O through casts).  The two orders compute the same values.  Returns the number of swaps.
    """
    from onnx import TensorProto

    swaps = 0
    nodes = list(graph.node)
    index = {id(n): i for i, n in enumerate(nodes)}
    uses = _consumers(graph)
    for vi in graph.input:
        if vi.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        users = uses.get(vi.name, [])
        if len(users) != 1 or users[0][0].op_type != "Transpose":
            continue
        t = users[0][0]
        after = uses.get(t.output[0], [])
        if len(after) != 1 or after[0][0].op_type != "Cast":
            continue
        c = after[0][0]
        mid, final = t.output[0], c.output[0]
        c.input[0], c.output[0] = vi.name, mid
        t.input[0], t.output[0] = mid, final
        i, j = index[id(t)], index[id(c)]
        nodes[i], nodes[j] = nodes[j], nodes[i]
        index[id(t)], index[id(c)] = j, i
        swaps += 1
    producers = {o: n for n in nodes for o in n.output}
    for vi in graph.output:
        if vi.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        t = producers.get(vi.name)
        if t is None or t.op_type != "Transpose":
            continue
        c = producers.get(t.input[0])
        if c is None or c.op_type != "Cast" or len(uses.get(c.output[0], [])) != 1:
            continue
        src, mid = c.input[0], c.output[0]
        t.input[0], t.output[0] = src, mid
        c.input[0], c.output[0] = mid, vi.name
        i, j = index[id(c)], index[id(t)]
        nodes[i], nodes[j] = nodes[j], nodes[i]
        index[id(c)], index[id(t)] = j, i
        swaps += 1
    if swaps:
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.value_info[:]
    return swaps


def prepare_onnx_for_tensorrt(src: str | os.PathLike, dst: str | os.PathLike, *, fp16: bool) -> Path:
    """The ONNX TensorRT compiles: casts moved next to the uint8 I/O, and FP16 when ``fp16``; returns ``dst``.

    Same contract as the source: ``bgr`` uint8 (1, H, W, 3) BGR in, ``out``
    uint8 (1, H, W, 3) BGR out.
    """
    onnx = _import_onnx()
    dst = Path(dst)
    source = Path(src)
    if fp16:
        make_fp16_onnx(source, dst)
        source = dst
    model = _load_onnx(source)
    move_casts_next_to_uint8_io(model.graph)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # pragma: no cover - the rewrite keeps the graph valid
        raise ModelError(f"Preparing {Path(src).name} for TensorRT broke the graph ({str(e)[:300]}).",
                         fix="Build with --precision fp32, or use --backend torch.") from None
    data = model.SerializeToString()
    atomic_write(dst, lambda f: f.write(data))
    return dst
