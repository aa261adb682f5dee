"""The colour student (image-adaptive 3D LUTs) and the multi-look engine: maths, export, ops, blends."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from livestyle.export.lut import (TRT10_SUPPORTED_OPS, check_engine_parity, export_engine, graph_ops,
                                  random_looks)
from livestyle.models.convert import frames_to_unit, unit_to_frames
from livestyle.models.lut import (AdaptiveLUT, LookEngine, LutConfig, apply_lut, engine_reference, identity_lut,
                                  monotonicity)
from livestyle.training.colour import curvature, sliced_wasserstein


def _frame(h=72, w=128, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], -1)
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def engine_file(tmp_path_factory):
    looks = random_looks(3, seed=1)
    engine = LookEngine(looks).eval()
    path = export_engine(engine, tmp_path_factory.mktemp("eng") / "engine.onnx")
    return looks, engine, path


def test_identity_lut_is_the_identity():
    lk = AdaptiveLUT(LutConfig()).eval()
    x = frames_to_unit(_frame()[None])
    with torch.no_grad():
        y = lk(x)
    assert torch.allclose(y, x, atol=1e-5)
    # the engine's table of the identity look reproduces every pixel within its cell (4 levels wide)
    engine = LookEngine([lk]).eval()
    img = torch.from_numpy(_frame()[None])
    with torch.no_grad():
        out = engine(img, torch.ones(1, 1)).numpy().astype(int)
    assert np.abs(out - img.numpy().astype(int)).max() <= 2


def test_trilinear_lookup_matches_a_known_grade():
    # a LUT holding 0.5*x + 0.1 in every channel: trilinear interpolation of an affine map is exact
    g = 9
    lut = (0.5 * identity_lut(g) + 0.1)[None]
    x = torch.rand(1, 3, 10, 12) * 2 - 1
    assert torch.allclose(apply_lut(lut, x), 0.5 * x + 0.1, atol=1e-5)


def test_regularisers_see_hue_flips_and_bends():
    ident = identity_lut(9)[None]
    assert monotonicity(ident).item() == 0.0
    assert monotonicity(-ident).item() > 0.05          # a falling channel curve: what flips a hue
    assert curvature(0.7 * ident + 0.2).item() < 1e-12  # affine grades cost nothing
    assert curvature(torch.sin(3 * ident)).item() > 1e-4
    # linear along every axis but bent across axes (out depends on b*g): only the mixed differences see it
    cross = ident + 0.3 * ident[:, 0:1] * ident[:, 1:2]
    assert all((cross.diff(n=2, dim=k) ** 2).max().item() < 1e-12 for k in (2, 3, 4))
    assert curvature(cross).item() > 1e-5


def test_sliced_wasserstein_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = torch.rand(2, 3, 16, 16) * 2 - 1
    assert sliced_wasserstein(a, a.clone(), np.random.default_rng(0), 8).item() < 1e-6
    near = sliced_wasserstein(a + 0.05, a, rng, 8).item()
    far = sliced_wasserstein(a + 0.3, a, rng, 8).item()
    assert 0 < near < far


def test_onnx_matches_torch_within_one_level(engine_file):
    looks, engine, path = engine_file
    assert check_engine_parity(engine, path, sizes=((128, 72), (200, 100), (96, 160))) <= 1


def test_engine_is_within_a_few_levels_of_the_trilinear_looks(engine_file):
    looks, engine, _ = engine_file
    img = torch.from_numpy(_frame(144, 256, seed=3)[None])
    w = torch.tensor([[0.2, 0.5, 0.3]])
    with torch.no_grad():
        got = engine(img, w).numpy().astype(int)
        ref = engine_reference(looks, img, w).numpy().astype(int)
    diff = np.abs(got - ref)
    # the table is first order inside each cell (value + slopes), so it tracks trilinear to rounding
    assert diff.max() <= 2 and diff.mean() < 0.2, (diff.max(), diff.mean())


def test_blend_of_two_looks_is_the_blend_of_their_outputs(engine_file):
    _, _, path = engine_file
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    img = _frame(96, 160, seed=5)[None]
    a = sess.run(None, {"bgr": img, "weights": np.array([[1, 0, 0]], np.float32)})[0].astype(np.float64)
    b = sess.run(None, {"bgr": img, "weights": np.array([[0, 1, 0]], np.float32)})[0].astype(np.float64)
    for w in (0.0, 0.25, 0.5, 0.8, 1.0):
        mixed = sess.run(None, {"bgr": img, "weights": np.array([[w, 1 - w, 0]], np.float32)})[0]
        expect = w * a + (1 - w) * b
        assert np.abs(mixed - expect).max() <= 1.0 + 1e-9, w
    assert np.abs(a - b).mean() > 3  # the two looks really differ


def test_engine_graph_contract_and_dynamic_size(engine_file):
    _, _, path = engine_file
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = {i.name: i for i in sess.get_inputs()}
    assert set(ins) == {"bgr", "weights"}
    assert ins["bgr"].type == "tensor(uint8)" and ins["weights"].type == "tensor(float)"
    assert ins["weights"].shape == [1, 3]
    out = sess.get_outputs()[0]
    assert out.name == "out" and out.type == "tensor(uint8)"
    for h, w in ((17, 31), (288, 512)):  # a LUT has no stride: any size
        got = sess.run(None, {"bgr": np.zeros((1, h, w, 3), np.uint8), "weights": np.array([[0, 0, 1]], np.float32)})
        assert got[0].shape == (1, h, w, 3) and got[0].dtype == np.uint8


def test_engine_uses_only_operators_tensorrt_10_supports(engine_file):
    _, _, path = engine_file
    ops = graph_ops(path)
    assert "Gather" in ops and "MatMul" in ops            # the table lookup and the LUT blend/resample
    assert not ops - TRT10_SUPPORTED_OPS, sorted(ops - TRT10_SUPPORTED_OPS)
    # the list names only operators of the ONNX standard (a typo would make the check meaningless)
    import onnx.defs

    assert all(onnx.defs.has(op) for op in TRT10_SUPPORTED_OPS)
    assert "GridSample" not in ops                         # 11 ms at 512x288 on the CPU: measured, avoided


def test_weight_cnn_adapts_to_the_frame():
    lk = random_looks(1, seed=4)[0]
    dark = frames_to_unit((_frame() // 4)[None])
    bright = frames_to_unit((255 - _frame() // 4)[None])
    with torch.no_grad():
        assert not torch.allclose(lk.mix(dark), lk.mix(bright))


def test_uint8_round_trip_is_exact():
    img = _frame(33, 47)[None]
    assert np.array_equal(unit_to_frames(frames_to_unit(img)), img)


def test_every_basis_learns():
    """No zero-initialisation saddle: every basis gets a gradient at once, every mixing weight after a step."""
    lk = AdaptiveLUT(LutConfig(grid=5, bases=3)).train()
    opt = torch.optim.SGD(lk.parameters(), lr=0.1)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    for step in range(2):
        opt.zero_grad()
        ((lk(x) - (0.5 * x + 0.2)) ** 2).mean().backward()
        if step == 0:
            assert all(lk.basis.grad[m].abs().sum() > 0 for m in range(lk.cfg.bases))
        opt.step()
    assert lk.weights.head.bias.grad.abs().min() > 0
