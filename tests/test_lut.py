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
from livestyle.runners.contract import still_feeds
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
    a = sess.run(None, still_feeds(sess, img, np.array([[1, 0, 0]], np.float32)))[0].astype(np.float64)
    b = sess.run(None, still_feeds(sess, img, np.array([[0, 1, 0]], np.float32)))[0].astype(np.float64)
    for w in (0.0, 0.25, 0.5, 0.8, 1.0):
        mixed = sess.run(None, still_feeds(sess, img, np.array([[w, 1 - w, 0]], np.float32)))[0]
        expect = w * a + (1 - w) * b
        assert np.abs(mixed - expect).max() <= 1.0 + 1e-9, w
    assert np.abs(a - b).mean() > 3  # the two looks really differ


def test_engine_graph_contract_and_dynamic_size(engine_file):
    _, _, path = engine_file
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = {i.name: i for i in sess.get_inputs()}
    assert set(ins) == {"bgr", "weights", "mix_state", "mix_rate"}
    assert ins["bgr"].type == "tensor(uint8)" and ins["weights"].type == "tensor(float)"
    assert ins["weights"].shape == [1, 3] and ins["mix_state"].shape == [3, 2] and ins["mix_rate"].shape == [1]
    assert [o.name for o in sess.get_outputs()] == ["out", "mix_next"]
    out = sess.get_outputs()[0]
    assert out.name == "out" and out.type == "tensor(uint8)"
    for h, w in ((17, 31), (288, 512)):  # a LUT has no stride: any size
        got = sess.run(None, still_feeds(sess, np.zeros((1, h, w, 3), np.uint8), np.array([[0, 0, 1]], np.float32)))
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


def _brightness_look() -> AdaptiveLUT:
    """A look whose grade follows the frame's brightness strongly: a bright frame is lifted, a dark one is not.

    Basis 0 is the identity and basis 1 a flat +0.5 lift; the weight CNN
    averages the thumbnail (every conv a box filter, no bias), so basis 1's
    coefficient is about the thumbnail's mean in [-1, 1] where positive.
    """
    cfg = LutConfig(grid=9, bases=2)
    lk = AdaptiveLUT(cfg)
    with torch.no_grad():
        lk.basis[1] = 0.5
        for conv in lk.weights.body[::2]:
            conv.weight.fill_(1.0 / conv.weight[0].numel())
            conv.bias.zero_()
        lk.weights.head.weight.zero_()
        lk.weights.head.weight[1] = 1.0 / lk.weights.head.weight.shape[1]
        lk.weights.head.bias.copy_(torch.tensor([1.0, 0.0]))
    return lk.eval()


@pytest.fixture(scope="module")
def brightness_engine(tmp_path_factory):
    from livestyle.export.engine_pack import write_engine_pack
    from livestyle.styles.pack import load_pack

    lk = _brightness_look()
    folder, parity = write_engine_pack(tmp_path_factory.mktemp("bright"), [("lift", lk, {})])
    assert parity <= 1
    return lk, load_pack(folder)


def test_runner_smooths_the_per_frame_grade_and_starts_afresh(brightness_engine, monkeypatch):
    """One bright frame after many dark ones moves the grade a fifth of the way, as the exported state says."""
    from livestyle.runners import contract
    from livestyle.runners.onnxrt import OnnxRuntimeRunner

    lk, pack = brightness_engine
    w = np.ones(1, np.float32)
    img = _frame(64, 96, seed=3)
    dark, bright = img // 5, np.clip(img.astype(int) + 90, 0, 255).astype(np.uint8)
    runner = OnnxRuntimeRunner(pack, infer_size=(96, 64))
    runner.activate()
    fresh = runner.infer(bright, w).copy()            # the first frame: its own grade
    runner.reset_state()
    dark_out = [runner.infer(dark, w).copy() for _ in range(30)][-1]
    first = runner.infer(bright, w).copy()             # a sudden bright frame after a dark scene
    assert np.abs(fresh.astype(int) - first).mean() > 5     # it is not graded as if alone ...
    # ... but exactly as the smoothed state says: 0.2 of the way from the dark frame's coefficients
    engine = LookEngine([lk]).eval()
    with torch.no_grad():
        half = torch.from_numpy(bright)[None, ::2, ::2].permute(0, 3, 1, 2).float()
        half_dark = torch.from_numpy(dark)[None, ::2, ::2].permute(0, 3, 1, 2).float()
        c_dark, c_bright = engine.mix(half_dark).reshape(1, 2), engine.mix(half).reshape(1, 2)
        assert c_bright[0, 1] - c_dark[0, 1] > 0.1               # the look really adapts to brightness
        ref, state = engine(torch.from_numpy(bright)[None], torch.ones(1, 1), c_dark,
                            torch.tensor([contract.SMOOTHING_RATE]))
    assert np.abs(ref.numpy()[0].astype(int) - first).max() <= 1
    assert torch.allclose(state, c_dark + contract.SMOOTHING_RATE * (c_bright - c_dark), atol=1e-5)
    later = [runner.infer(bright, w).copy() for _ in range(40)][-1]
    assert np.abs(later.astype(int) - fresh).max() <= 1       # it settles on the frame's own grade
    runner.reset_state()
    assert np.array_equal(runner.infer(bright, w), fresh)     # a reset starts afresh
    assert not np.array_equal(dark_out, runner.infer(dark, w))  # (and the dark grade moved toward it)
    # a runner left idle (a look switched away and back) starts afresh too
    for _ in range(30):
        runner.infer(dark, w)
    runner._smoother.stale_s = 0.05
    import time

    time.sleep(0.1)
    assert np.array_equal(runner.infer(bright, w), fresh)


def test_evaluation_grades_each_still_on_its_own(brightness_engine):
    """`livestyle eval` scores held-out stills through the run's runner, reset before each (not a video)."""
    from livestyle.quality.evaluate import runner_stylizer

    _, pack = brightness_engine
    img = _frame(64, 96, seed=3)
    dark, bright = img // 5, np.clip(img.astype(int) + 90, 0, 255).astype(np.uint8)
    run = runner_stylizer(pack)
    alone = run(bright)
    for _ in range(10):
        run(dark)
    assert not np.array_equal(run(bright), alone)
    for _ in range(10):
        run(dark)
    run.reset()
    assert np.array_equal(run(bright), alone)


def test_bank_warm_up_frames_do_not_steer_the_first_real_frame(brightness_engine):
    from livestyle.runners.bank import RunnerBank
    from livestyle.runners.onnxrt import OnnxRuntimeRunner

    _, pack = brightness_engine

    def make(p):
        r = OnnxRuntimeRunner(p, infer_size=(96, 64))
        r.activate()
        return r

    img = _frame(64, 96, seed=3)
    bright = np.clip(img.astype(int) + 90, 0, 255).astype(np.uint8)
    alone = make(pack).infer(bright, np.ones(1, np.float32)).copy()
    bank = RunnerBank({"lift": pack}, make)
    bank.warm_at([(48, 32), (64, 48)])      # black frames at the adaptive controller's sizes
    bank.load({"lift": 1.0})
    assert np.array_equal(bank.infer(bright, {"lift": 1.0}), alone)


def test_exact_slopes_follow_a_curved_look_closer_and_export_cleanly(tmp_path):
    """A learned look bends sharply near black: the cells' mean slopes strayed 6-9 levels from its trilinear
    map on photographs; the gradient at each table cell's centre stays within 3 (17-node looks, 32 cells)."""
    from livestyle.styles.nets import load_engine_luts
    from livestyle.styles.pack import BUNDLED_DIR

    lk = load_engine_luts(BUNDLED_DIR / "looks")["pastel"]
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 96, (1, 96, 128, 3), dtype=np.uint8)        # where the look bends most
    with torch.no_grad():
        want = unit_to_frames(lk(frames_to_unit(dark)))[0].astype(int)
        worst = {}
        for slopes in ("cell", "exact"):
            got = LookEngine([lk], slopes=slopes).eval()(torch.from_numpy(dark), torch.ones(1, 1))[0].numpy()
            worst[slopes] = int(np.abs(got.astype(int) - want).max())
    assert worst["exact"] <= 3 < worst["cell"], worst
    engine = LookEngine(random_looks(2, seed=4), slopes="exact").eval()
    path = export_engine(engine, tmp_path / "exact.onnx")
    assert check_engine_parity(engine, path) <= 1
    assert graph_ops(path) <= TRT10_SUPPORTED_OPS
    with pytest.raises(ValueError, match="slopes"):
        LookEngine([lk], slopes="nearest")
