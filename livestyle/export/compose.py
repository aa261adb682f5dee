"""An engine that holds texture looks (CNN students) beside its colour looks, as one ONNX graph.

A drawn look (strokes, ink lines) is not a colour map, so it cannot be a LUT.
It joins the engine as a *texture look*: its CNN student runs inside an ONNX
``If`` whose condition is "this look's weight is above 0", so colour-only
frames never pay for it, and a blend is still one inference::

    levels, mix_next = If(sum(weights[colour looks]) > 0,
                          LookEngine.levels(bgr, weights[colour looks], mix_state, mix_rate),  # +0.5 per weight
                          (0, mix_state))
    for each texture look j:  levels = If(w_j > 0, levels + w_j * (student_j(bgr) + 0.5), levels)
    out = Cast<uint8>(Clip(levels, 0, 255))   # the clip inside both branches of the last look's If

The last texture look's branches end with the clip themselves, so with that
look off nothing copies the frame's levels (an ``Identity`` there cost
0.2 ms at 512x288); the cast to uint8 stays at the top level, the network's
edge, where TensorRT takes uint8.

With a drawn look alone the colour part is skipped too (its state passes
through unchanged).

Where some colour look has a local part (vignette, bloom:
:class:`livestyle.models.lut.LocalMaps`), the colour branch holds the colour
part twice::

    If(sum(weights[looks with a local part]) > 0,
       LookEngine.levels(...) + LookEngine.local_levels(frame, weights[colour looks]),
       LookEngine.levels(...))

so a look without one runs exactly the nodes it runs in an engine without
any local part, and the local part's maps are made once for any blend (its
coefficients are blended first: the local part is linear in them).  The
bloom's maps are in that branch only where some look of the engine has a
bloom; a vignette costs one MatMul, one Mul and one Add over the frame.

The graph keeps the engine contract (:mod:`livestyle.runners.contract`):
inputs ``bgr``, ``weights`` (1, K) over *all* looks in the pack's order,
``mix_state`` (colour looks, bases), ``mix_rate``; outputs ``out`` and
``mix_next``.  A texture look alone gives exactly its student's output; a
blend gives ``sum_k w_k out_k`` (the colour part exact, each texture part
within rounding).  Every operator, including those inside the branches, is in
:data:`livestyle.export.lut.TRT10_SUPPORTED_OPS`.  Needs torch and onnx.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livestyle.export.onnx import OPSET, trace_onnx
from livestyle.fsutil import atomic_path
from livestyle.models.lut import LookEngine
from livestyle.runners.contract import MIX_NEXT, MIX_RATE, MIX_STATE, WEIGHTS


class _Levels(nn.Module):
    """The colour part for export: float levels instead of uint8."""

    def __init__(self, engine: LookEngine):
        super().__init__()
        self.engine = engine

    def forward(self, bgr, weights, mix_state, mix_rate):
        return self.engine.levels(bgr, weights, mix_state, mix_rate, local=False)


class _Local(nn.Module):
    """The colour looks' local part for export: float frame (1, H, W, 3) 0..255 and their weights -> levels."""

    def __init__(self, engine: LookEngine):
        super().__init__()
        self.engine = engine

    def forward(self, frame, weights):
        return self.engine.local_levels(frame, weights)


class _FloatStudent(nn.Module):
    """A texture look for export: float levels (1, H, W, 3) 0..255 in, its uint8 output as float out.

    Exactly ``UInt8BGR(student)`` in value, but no uint8 tensor inside: the
    composed graph casts the frame once, and TensorRT takes uint8 only in
    casts at the network's edge.
    """

    def __init__(self, student: nn.Module):
        super().__init__()
        self.student = student

    def forward(self, xf: torch.Tensor) -> torch.Tensor:
        from livestyle.models.convert import SCALE

        y = self.student(xf.permute(0, 3, 1, 2) * SCALE - 1.0)
        return torch.floor(torch.clamp((y + 1.0) * 127.5 + 0.5, 0.0, 255.0)).permute(0, 2, 3, 1)


class MixedEngine(nn.Module):
    """The torch reference of a composed engine: colour looks (a :class:`LookEngine`) and texture looks.

    ``colour_index`` / ``texture_index``: where each part's looks sit in the
    engine's weight vector of ``n_looks``.  ``textures``: float students,
    (N, 3, H, W) BGR in [-1, 1] -> same.
    """

    def __init__(self, colour: LookEngine, colour_index: list[int], textures: list[nn.Module],
                 texture_index: list[int]):
        super().__init__()
        self.colour = colour
        self.textures = nn.ModuleList([_FloatStudent(t).eval() for t in textures])  # also what is exported
        self.colour_index = list(colour_index)
        self.texture_index = list(texture_index)
        self.n_looks = len(colour_index) + len(texture_index)
        self.cfg = colour.cfg

    def forward(self, bgr, weights, mix_state=None, mix_rate=None):
        frame = bgr.to(torch.float32)
        colour_weights = weights[:, self.colour_index]
        if float(colour_weights.sum()) > 0:
            levels, state = self.colour.levels(bgr, colour_weights, mix_state, mix_rate)
        else:  # drawn looks only: the colour part is skipped and its state kept as it was
            levels, state = torch.zeros_like(frame), mix_state
        for i, net in zip(self.texture_index, self.textures):
            w = weights[0, i]
            if float(w) > 0:
                levels = levels + w * (net(frame) + 0.5)
        out = torch.clamp(levels, 0.0, 255.0).to(torch.uint8)
        return out if mix_state is None else (out, state)


def _prefixed(graph, prefix: str, keep: set[str]):
    """The nodes and initializers of ``graph`` with every value name (except ``keep``) prefixed."""
    def rename(name: str) -> str:
        return name if (not name or name in keep) else prefix + name

    nodes = []
    for node in graph.node:
        n = type(node)()
        n.CopyFrom(node)
        n.name = prefix + (node.name or node.op_type)
        n.input[:] = [rename(x) for x in node.input]
        n.output[:] = [rename(x) for x in node.output]
        nodes.append(n)
    inits = []
    for init in graph.initializer:
        t = type(init)()
        t.CopyFrom(init)
        t.name = rename(init.name)
        inits.append(t)
    return nodes, inits


def _clip(levels: str, prefix: str):
    """The node that clips float ``levels`` to 0..255; its output is ``prefix + "clipped"``."""
    from onnx import helper

    return helper.make_node("Clip", [levels, "compose/lo", "compose/hi"], [prefix + "clipped"], name=prefix + "clip")


def export_mixed_engine(engine: MixedEngine, path: str | os.PathLike, *,
                        sample_size: tuple[int, int] = (256, 144)) -> Path:
    """Write ``engine`` as one ONNX graph to ``path`` atomically (see the module docstring); returns the path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = sample_size
    x = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    kc = len(engine.colour_index)
    with tempfile.TemporaryDirectory(prefix="livestyle-compose-") as tmp:
        colour_path = os.path.join(tmp, "colour.onnx")
        wt = torch.zeros((1, kc), dtype=torch.float32)
        wt[0, 0] = 1.0
        state = torch.zeros((kc, engine.cfg.bases), dtype=torch.float32)
        trace_onnx(_Levels(engine.colour), (x, wt, state, torch.ones(1)), colour_path,
                   inputs=["bgr", "colour_weights", MIX_STATE, MIX_RATE], outputs=["colour_levels", MIX_NEXT],
                   dynamic={"bgr": {1: "height", 2: "width"}, "colour_levels": {1: "height", 2: "width"}})
        colour = onnx.load(colour_path)
        local = None
        if engine.colour.local_index:
            local_path = os.path.join(tmp, "local.onnx")
            trace_onnx(_Local(engine.colour), (x.to(torch.float32), wt), local_path,
                       inputs=["frame", "colour_weights"], outputs=["local_levels"],
                       dynamic={"frame": {1: "height", 2: "width"}, "local_levels": {1: "height", 2: "width"}})
            local = onnx.load(local_path)
        textures = []
        for j, net in enumerate(engine.textures):
            tpath = os.path.join(tmp, f"texture{j}.onnx")
            trace_onnx(net, (x.to(torch.float32),), tpath, inputs=["frame"], outputs=["out"],
                       dynamic={"frame": {1: "height", 2: "width"}, "out": {1: "height", 2: "width"}})
            textures.append(onnx.load(tpath))

    g = colour.graph
    inits = [numpy_helper.from_array(np.asarray(engine.colour_index, np.int64), "colour_index"),
             numpy_helper.from_array(np.zeros((), np.float32), "compose/zero"),
             numpy_helper.from_array(np.asarray(0.5, np.float32), "compose/half"),
             numpy_helper.from_array(np.zeros((0,), np.int64), "compose/scalar_shape"),
             numpy_helper.from_array(np.asarray([0.0], np.float32), "compose/lo"),
             numpy_helper.from_array(np.asarray([255.0], np.float32), "compose/hi")]
    nodes = [helper.make_node("Gather", [WEIGHTS, "colour_index"], ["colour_weights"], axis=1,
                              name="compose/colour_weights"),
             helper.make_node("Cast", ["bgr"], ["compose/frame"], to=TensorProto.FLOAT, name="compose/frame"),
             helper.make_node("ReduceSum", ["colour_weights"], ["compose/colour_sum"], keepdims=0,
                              name="compose/colour_sum"),
             helper.make_node("Greater", ["compose/colour_sum", "compose/zero"], ["compose/colour_on"],
                              name="compose/colour_on")]
    # The colour part runs only while a colour look has weight: with a drawn look alone its per-pixel
    # lookup would cost ~7 ms for nothing. Off, the frame's levels start at 0 and the state passes through.
    keep = {"bgr", "colour_weights", MIX_STATE, MIX_RATE}

    def colour_part(prefix: str):
        sub_nodes, sub_inits = _prefixed(g, prefix, keep)
        casts = [n for n in sub_nodes if n.op_type == "Cast" and list(n.input) == ["bgr"]]
        for cast in casts:  # the colour part reads the frame cast once outside, like the texture looks
            sub_nodes.remove(cast)
            for n in sub_nodes:
                n.input[:] = ["compose/frame" if x == cast.output[0] else x for x in n.input]
        return sub_nodes, sub_inits

    def outputs_of(names):
        return [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]

    sub_nodes, sub_inits = colour_part("colour/")
    if local is None:
        colour_on = helper.make_graph(sub_nodes, "colour_on", [],
                                      outputs_of(["colour/colour_levels", "colour/" + MIX_NEXT]),
                                      initializer=sub_inits)
    else:
        # The local part runs only while a look with one has weight: the colour part is held twice, once
        # with the local part added and once without, so a look without one runs exactly the nodes it ran
        # before (no copy of the frame's levels, as an Identity in an "off" branch would make).
        local_index = [engine.colour_index[i] for i in engine.colour.local_index]
        inits.append(numpy_helper.from_array(np.asarray(local_index, np.int64), "local_index"))
        nodes += [helper.make_node("Gather", [WEIGHTS, "local_index"], ["compose/local_weights"], axis=1,
                                   name="compose/local_weights"),
                  helper.make_node("ReduceSum", ["compose/local_weights"], ["compose/local_sum"], keepdims=0,
                                   name="compose/local_sum"),
                  helper.make_node("Greater", ["compose/local_sum", "compose/zero"], ["compose/local_on"],
                                   name="compose/local_on")]
        with_nodes, with_inits = colour_part("colour+local/")
        term_nodes, term_inits = _prefixed(local.graph, "local/", {"colour_weights"})
        for n in term_nodes:  # the local part reads the frame the main graph cast once
            n.input[:] = ["compose/frame" if x == "local/frame" else x for x in n.input]
        with_nodes += term_nodes + [helper.make_node("Add", ["colour+local/colour_levels", "local/local_levels"],
                                                     ["colour+local/levels"], name="colour+local/add")]
        local_on = helper.make_graph(with_nodes, "local_on", [],
                                     outputs_of(["colour+local/levels", "colour+local/" + MIX_NEXT]),
                                     initializer=with_inits + term_inits)
        local_off = helper.make_graph(sub_nodes, "local_off", [],
                                      outputs_of(["colour/colour_levels", "colour/" + MIX_NEXT]),
                                      initializer=sub_inits)
        colour_on = helper.make_graph(
            [helper.make_node("If", ["compose/local_on"], ["colour_on/levels", "colour_on/" + MIX_NEXT],
                              then_branch=local_on, else_branch=local_off, name="compose/local_if")],
            "colour_on", [], outputs_of(["colour_on/levels", "colour_on/" + MIX_NEXT]))
    colour_off = helper.make_graph(
        [helper.make_node("Mul", ["compose/frame", "compose/zero"], ["colour_off/levels"], name="colour_off/zero"),
         helper.make_node("Identity", [MIX_STATE], ["colour_off/" + MIX_NEXT], name="colour_off/state")],
        "colour_off", [], [helper.make_tensor_value_info("colour_off/levels", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("colour_off/" + MIX_NEXT, TensorProto.FLOAT, None)])
    nodes.append(helper.make_node("If", ["compose/colour_on"], ["colour_levels", MIX_NEXT], then_branch=colour_on,
                                  else_branch=colour_off, name="compose/colour_if"))
    total = "colour_levels"
    for j, (i, model) in enumerate(zip(engine.texture_index, textures)):
        p = f"texture{i}/"
        inits.append(numpy_helper.from_array(np.asarray([i], np.int64), p + "index"))
        nodes += [
            helper.make_node("Gather", [WEIGHTS, p + "index"], [p + "w11"], axis=1, name=p + "weight"),
            helper.make_node("Reshape", [p + "w11", "compose/scalar_shape"], [p + "w"], name=p + "scalar"),
            helper.make_node("Greater", [p + "w", "compose/zero"], [p + "on"], name=p + "on"),
        ]
        sub_nodes, sub_inits = _prefixed(model.graph, p, set())
        for n in sub_nodes:  # the branch reads the frame the main graph cast once
            n.input[:] = ["compose/frame" if x == p + "frame" else x for x in n.input]
        sub_nodes += [
            helper.make_node("Add", [p + "out", "compose/half"], [p + "rounded"], name=p + "round"),
            helper.make_node("Mul", [p + "rounded", p + "w"], [p + "term"], name=p + "weighted"),
            helper.make_node("Add", [total, p + "term"], [p + "with"], name=p + "add"),
        ]
        last = j == len(textures) - 1
        if last:  # the last look's branches each end with the clip, so "off" makes its output without a copy
            sub_nodes.append(_clip(p + "with", p + "on/"))
            off_nodes = [_clip(total, p + "off/")]
        else:  # off: the levels so far, untouched (no add of zeros)
            off_nodes = [helper.make_node("Identity", [total], [p + "off/levels"], name=p + "off")]
        then_out = helper.make_tensor_value_info(sub_nodes[-1].output[0], TensorProto.FLOAT, None)
        else_out = helper.make_tensor_value_info(off_nodes[-1].output[0], TensorProto.FLOAT, None)
        then_branch = helper.make_graph(sub_nodes, f"{p}on", [], [then_out], initializer=sub_inits)
        else_branch = helper.make_graph(off_nodes, f"{p}off", [], [else_out])
        total = "compose/clipped" if last else p + "sum"
        nodes.append(helper.make_node("If", [p + "on"], [total], then_branch=then_branch,
                                      else_branch=else_branch, name=p + "if"))
    if not textures:  # no texture look whose branches clip
        nodes.append(_clip(total, "compose/"))
    # the one uint8 tensor is the network's output, made by a cast at the top level (TensorRT's rule)
    nodes.append(helper.make_node("Cast", ["compose/clipped"], ["out"], to=TensorProto.UINT8, name="compose/uint8"))
    inputs = [i for i in g.input if i.name != "colour_weights"]
    weights_in = helper.make_tensor_value_info(WEIGHTS, TensorProto.FLOAT, [1, engine.n_looks])
    inputs.insert(1, weights_in)
    out_info = helper.make_tensor_value_info("out", TensorProto.UINT8, [1, "height", "width", 3])
    outputs = [out_info] + [o for o in g.output if o.name == MIX_NEXT]
    graph = helper.make_graph(nodes, "livestyle_engine", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="livestyle")
    model.ir_version = colour.ir_version
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp_path:
        onnx.save(model, str(tmp_path))
    return path


def check_mixed_parity(engine: MixedEngine, onnx_path: str | os.PathLike, *, sizes=((256, 144), (320, 180)),
                       seed: int = 0) -> int:
    """Max abs difference (uint8 levels) between the torch reference and ONNX Runtime.

    For each size: every look alone, then a random blend of all looks (the
    state path as in :func:`livestyle.export.lut.check_engine_parity`).
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0
    k = engine.n_looks
    for w, h in sizes:
        blends = [np.eye(k, dtype=np.float32)[i] for i in range(k)] + [rng.dirichlet(np.ones(k)).astype(np.float32)]
        for wt in blends:
            x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
            state = np.zeros((len(engine.colour_index), engine.cfg.bases), np.float32)
            r = np.ones(1, np.float32)
            with torch.no_grad():
                ref, ref_state = engine(torch.from_numpy(x), torch.from_numpy(wt[None]), torch.from_numpy(state),
                                        torch.from_numpy(r))
            got, got_state = sess.run(None, {"bgr": x, WEIGHTS: wt[None], MIX_STATE: state, MIX_RATE: r})
            worst = max(worst, int(np.abs(ref.numpy().astype(np.int16) - got.astype(np.int16)).max()))
            if not np.allclose(ref_state.numpy(), got_state, atol=1e-4):
                worst = 255
    return worst
