"""Export a :class:`~livestyle.models.lut.LookEngine` (K colour looks) to ONNX, and check it.

The graph takes ``bgr`` uint8 (1, H, W, 3) BGR, ``weights`` float32 (1, K),
``mix_state`` float32 (K, bases) and ``mix_rate`` float32 (1,), and returns
``out`` uint8 (1, H, W, 3) BGR and ``mix_next`` float32 (K, bases) (see
:mod:`livestyle.runners.contract`); H and W are dynamic.  Needs torch and onnx.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from livestyle.export.onnx import trace_onnx
from livestyle.models.lut import LookEngine
from livestyle.runners.contract import MIX_NEXT, MIX_RATE, MIX_STATE, WEIGHTS

# The operators the exported engine may contain.  Each is marked supported ("Y") in the support matrix
# of onnx-tensorrt's docs/operators.md (github.com/onnx/onnx-tensorrt; read at commit 009d654, and
# still listed for TensorRT 10, whose parser covers opsets 9-20; the engine is exported at opset 17,
# :data:`livestyle.export.onnx.OPSET`).
# Not used on purpose: GridSample (5-D trilinear: 11.2 ms at 512x288 on this CPU).
# Added with texture looks (livestyle.export.compose), read in the same file at the ONNX-TensorRT 10.1 GA
# release (commit 96e7811): Greater, Identity, If ("output tensors of the two conditional branches must
# have the same rank and must have different names": both branches give rank 4), Pad (the student's
# reflection padding; "`axes` must be an initializer") and Tanh.
TRT10_SUPPORTED_OPS = frozenset({
    "Add", "AveragePool", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Equal",
    "Expand", "Flatten", "Floor", "Gather", "Gemm", "Greater", "Identity", "If", "MatMul", "Mul", "Pad",
    "ReduceMean", "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Slice", "Squeeze", "Sub", "Tanh",
    "Transpose", "Unsqueeze", "Where",
})


def export_engine(engine: LookEngine, path: str | os.PathLike, *, sample_size: tuple[int, int] = (256, 144)) -> Path:
    """Write ``engine`` as ONNX to ``path`` atomically; returns the path.

    An engine where some look has a local part is written by
    :func:`livestyle.export.compose.export_mixed_engine` (the local part runs in a branch).
    """
    if engine.local_index:
        raise ValueError("an engine with a local part is exported by livestyle.export.compose.export_mixed_engine")
    w, h = sample_size
    x = torch.zeros((1, h, w, 3), dtype=torch.uint8)
    wt = torch.zeros((1, engine.n_looks), dtype=torch.float32)
    wt[0, 0] = 1.0
    state = torch.zeros((engine.n_looks, engine.cfg.bases), dtype=torch.float32)
    rate = torch.ones(1, dtype=torch.float32)
    return trace_onnx(engine, (x, wt, state, rate), path, inputs=["bgr", WEIGHTS, MIX_STATE, MIX_RATE],
                      outputs=["out", MIX_NEXT],
                      dynamic={"bgr": {1: "height", 2: "width"}, "out": {1: "height", 2: "width"}})


def graph_ops(path: str | os.PathLike) -> set[str]:
    """The operator types used by the ONNX graph at ``path``, including those inside ``If`` branches."""
    import onnx

    def walk(graph) -> set[str]:
        ops = set()
        for node in graph.node:
            ops.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    ops |= walk(attr.g)
                for sub in attr.graphs:
                    ops |= walk(sub)
        return ops

    return walk(onnx.load(str(path)).graph)


def check_engine_parity(engine: LookEngine, onnx_path: str | os.PathLike, *, sizes=((256, 144), (320, 180)),
                        seed: int = 0) -> int:
    """Max abs difference (uint8 levels) between the torch engine and ONNX Runtime on random frames and blends.

    Each size is run twice: a first frame (``mix_rate`` 1) and a second,
    different frame smoothed toward the first's state (``mix_rate`` 0.3), so
    the state path is checked too.  The returned states must agree as well:
    one off by more than 1e-4 counts as 255 levels.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0
    for w, h in sizes:
        wt = rng.dirichlet(np.ones(engine.n_looks)).astype(np.float32)[None]
        state = np.zeros((engine.n_looks, engine.cfg.bases), np.float32)
        for rate in (1.0, 0.3):
            x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
            r = np.array([rate], np.float32)
            with torch.no_grad():
                ref, ref_state = engine(torch.from_numpy(x), torch.from_numpy(wt), torch.from_numpy(state),
                                        torch.from_numpy(r))
            got, got_state = sess.run(None, {"bgr": x, WEIGHTS: wt, MIX_STATE: state, MIX_RATE: r})
            worst = max(worst, int(np.abs(ref.numpy().astype(np.int16) - got.astype(np.int16)).max()))
            if not np.allclose(ref_state.numpy(), got_state, atol=1e-4):
                worst = 255
            state = got_state
    return worst


def random_looks(n: int, *, seed: int = 0, cfg=None) -> list:
    """``n`` smooth, monotone random colour looks (:class:`AdaptiveLUT`): tests and benchmarks before training.

    Each is the identity scaled and shifted per channel plus a gentle random
    curve, with a random (small) weight CNN so the adaptive path is exercised.
    """
    from livestyle.models.lut import AdaptiveLUT, LutConfig, identity_lut

    cfg = cfg or LutConfig(bases=2)  # two bases, so the adaptive mixing path is exercised too
    torch.manual_seed(seed)  # the weight CNN's initialisation
    gen = torch.Generator().manual_seed(seed)
    looks = []
    for _ in range(n):
        lk = AdaptiveLUT(cfg)
        with torch.no_grad():
            ident = identity_lut(cfg.grid)
            gain = 0.7 + 0.3 * torch.rand(3, 1, 1, 1, generator=gen)
            shift = 0.2 * (torch.rand(3, 1, 1, 1, generator=gen) - 0.5)
            curve = 0.15 * torch.sin(3.1416 * (ident + 1) / 2) * torch.rand(3, 1, 1, 1, generator=gen)
            lk.basis[0] = gain * ident + shift + curve
            lk.basis[1] = 0.1 * torch.sin(3.1416 * ident)
            for p in lk.weights.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        looks.append(lk.eval())
    return looks
