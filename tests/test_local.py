"""The local part of a colour look (vignette, bloom): its maps, the engine's branch, blends, packs, the fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from livestyle.export.lut import TRT10_SUPPORTED_OPS, graph_ops, random_looks
from livestyle.models.lut import AdaptiveLUT, LookEngine, describe_local
from livestyle.runners.contract import still_feeds
from livestyle.export.engine_pack import write_engine_pack

SIZE = (160, 96)  # (w, h)
LOCAL = [[-0.3, -0.3, -0.2], [-0.1, -0.1, -0.1], [20.0, 25.0, 30.0], [10.0, 12.0, 15.0]]


def _looks():
    looks = random_looks(3, seed=3)
    with torch.no_grad():
        looks[1].local.copy_(torch.tensor(LOCAL))
    return looks


def _photo(w: int = SIZE[0], h: int = SIZE[1], seed: int = 0) -> np.ndarray:
    """A smooth frame with a few bright blobs (so the bloom has highlights to spread)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 60 + 40 * np.sin(xx / 17.0)[..., None] + 30 * np.cos(yy / 11.0)[..., None] + rng.uniform(0, 20, (1, 1, 3))
    for _ in range(3):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        img += 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    looks = _looks()
    names = ["a", "b", "c"]
    local, parity = write_engine_pack(root, list(zip(names, looks, [{}] * 3)), folder_name="local")
    with torch.no_grad():
        looks[1].local.zero_()
    plain, _ = write_engine_pack(root, list(zip(names, looks, [{}] * 3)), folder_name="plain")
    return {"local": local, "plain": plain, "parity": parity}


def _session(folder):
    import onnxruntime as ort

    return ort.InferenceSession(str(folder / "engine.onnx"), providers=["CPUExecutionProvider"])


def _run(sess, frame, weights):
    return sess.run(None, still_feeds(sess, frame[None], np.asarray([weights], np.float32)))[0][0]


def test_the_vignette_term_darkens_the_corners_by_its_coefficient_on_any_frame_shape():
    lk = AdaptiveLUT()
    with torch.no_grad():
        lk.local[0] = -0.3
    for w, h in ((160, 96), (64, 64), (90, 200)):
        x = torch.full((1, 3, h, w), 0.2)  # level 153, no highlights above the bloom's knee (160)
        term = lk.local_term(x)[0].numpy()  # (3, H, W) levels
        assert abs(term[:, h // 2, w // 2]).max() < 0.5
        corner = term[:, 0, 0] / 153.0
        assert np.all((corner < -0.26) & (corner > -0.3)), (w, h, corner)


def test_the_bloom_lifts_the_surroundings_of_highlights_only():
    lk = AdaptiveLUT()
    with torch.no_grad():
        lk.local[3] = torch.tensor([10.0, 20.0, 30.0])
    frame = np.full((96, 160, 3), 100, np.uint8)
    frame[40:56, 70:90] = 255
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() * (2 / 255) - 1
    term = lk.local_term(x)[0].numpy()
    near, far = term[:, 48, 60], term[:, 5, 5]
    assert np.all(near > 3 * far) and near[2] > near[1] > near[0] > 0.5  # its tint: B < G < R
    dark = lk.local_term(torch.full((1, 3, 96, 160), -0.2))
    assert float(dark.abs().max()) == 0.0  # nothing above the knee: no glow


def test_the_local_part_is_its_grid_maps_resized_up_bilinearly():
    import torch.nn.functional as F

    from livestyle.models.lut import LOCAL_SIDE, LocalMaps

    maps = LocalMaps()
    rng = np.random.default_rng(0)
    for w, h in ((160, 96), (90, 200), (64, 64), (37, 23)):
        xf = torch.from_numpy(np.stack([_photo(w, h, 0), _photo(w, h, 1)])).float()
        for coeffs in (torch.tensor(LOCAL)[None], torch.from_numpy(rng.normal(0, 1, (2, 4, 3))).float()
                       * torch.tensor([[0.3], [0.3], [20.0], [20.0]])):
            grid = maps.maps(xf).reshape(2, 4, LOCAL_SIDE * LOCAL_SIDE)          # the terms on the grid
            gain, offset = (F.interpolate((coeffs[:, t].transpose(1, 2) @ grid[:, t])
                                          .reshape(2, 3, LOCAL_SIDE, LOCAL_SIDE), size=(h, w), mode="bilinear",
                                          align_corners=False).permute(0, 2, 3, 1)
                            for t in (slice(0, 2), slice(2, 4)))                 # r^2, r^4 | the blooms
            want = gain * xf + offset
            got = maps(xf, coeffs)
            assert float((got - want).abs().max()) < 1e-3, (w, h)
            assert float(want.abs().max()) > 10.0
            g, o = maps.parts(xf, coeffs)
            assert float((g - gain).abs().max()) < 1e-5 and float((o - offset).abs().max()) < 1e-3
    # without bloom coefficients the bloom is not made, and the part is the vignette alone
    vignette = torch.tensor(LOCAL)[None].clone()
    vignette[:, 2:] = 0.0
    xf = torch.from_numpy(_photo())[None].float()
    assert torch.equal(maps(xf, vignette), maps(xf, vignette, bloom=False))
    assert torch.allclose(maps(xf, vignette, bloom=True), maps(xf, vignette), atol=1e-4)


def _local_ops(folder) -> set[str]:
    """The operator types of the engine's local part (its nodes are named "local/...", inside the If)."""
    import onnx

    def walk(graph):
        for node in graph.node:
            yield node
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    yield from walk(attr.g)

    ops = {n.op_type for n in walk(onnx.load(str(folder / "engine.onnx")).graph) if n.name.startswith("local/")}
    assert ops, "no local part in the graph"
    return ops


def test_an_engine_whose_looks_have_no_bloom_runs_no_bloom(packs, tmp_path):
    looks = _looks()
    with torch.no_grad():
        looks[1].local[2:] = 0.0
    folder, parity = write_engine_pack(tmp_path, list(zip("abc", looks, [{}] * 3)), folder_name="vignette")
    assert parity <= 1
    assert graph_ops(folder / "engine.onnx") <= TRT10_SUPPORTED_OPS
    # the bloom box-averages the frame's highlights: no AveragePool in the local part without one
    assert "AveragePool" not in _local_ops(folder) and "AveragePool" in _local_ops(packs["local"])
    sess, plain = _session(folder), _session(packs["plain"])
    frame = _photo()
    assert np.array_equal(_run(sess, frame, [0.3, 0, 0.7]), _run(plain, frame, [0.3, 0, 0.7]))
    diff = _run(sess, frame, [0, 1, 0]).astype(int) - _run(plain, frame, [0, 1, 0]).astype(int)
    assert diff[0, 0].mean() < -8 and abs(diff[SIZE[1] // 2, SIZE[0] // 2]).max() <= 1


def test_the_engine_with_a_local_look_matches_torch_and_uses_only_tensorrt_operators(packs):
    assert packs["parity"] <= 1
    assert graph_ops(packs["local"] / "engine.onnx") <= TRT10_SUPPORTED_OPS
    meta = json.loads((packs["local"] / "style.json").read_text())
    assert meta["format_version"] == 4
    assert json.loads((packs["plain"] / "style.json").read_text())["format_version"] == 3
    tensors = load_file(str(packs["local"] / "engine.safetensors"))
    assert [k for k in tensors if k.endswith(".local")] == ["look.1.local"]
    assert not [k for k in load_file(str(packs["plain"] / "engine.safetensors")) if k.endswith(".local")]


def test_looks_without_a_local_part_run_exactly_as_in_an_engine_without_one(packs):
    local, plain = _session(packs["local"]), _session(packs["plain"])
    frame = _photo()
    for wt in ([1, 0, 0], [0, 0, 1], [0.4, 0, 0.6]):
        assert np.array_equal(_run(local, frame, wt), _run(plain, frame, wt))
    # the look with one differs from its LUT alone by its local part
    diff = _run(local, frame, [0, 1, 0]).astype(int) - _run(plain, frame, [0, 1, 0]).astype(int)
    assert diff[0, 0].mean() < -8 and abs(diff[SIZE[1] // 2, SIZE[0] // 2]).max() <= 30


def test_a_blend_with_a_local_look_is_the_blend_of_the_looks_outputs(packs):
    sess = _session(packs["local"])
    for seed, (w, h) in enumerate(((160, 96), (200, 120))):
        frame = _photo(w, h, seed)
        a, b = _run(sess, frame, [0, 1, 0]).astype(np.float64), _run(sess, frame, [1, 0, 0]).astype(np.float64)
        for t in (0.25, 0.5, 0.8):
            got = _run(sess, frame, [1 - t, t, 0]).astype(np.float64)
            inside = (a > 0) & (a < 255) & (b > 0) & (b < 255)  # away from the final clip
            assert np.abs(got - (t * a + (1 - t) * b))[inside].max() <= 1.0


def test_the_engine_follows_the_float_look_with_its_local_part():
    looks = _looks()
    engine = LookEngine(looks).eval()
    frame = torch.from_numpy(_photo())[None]
    with torch.no_grad():
        got = engine(frame, torch.tensor([[0.0, 1.0, 0.0]])).numpy().astype(int)
        from livestyle.models.convert import from_unit, to_unit
        want = from_unit(looks[1](to_unit(frame))).numpy().astype(int)
    assert np.abs(got - want).mean() < 1.0 and np.abs(got - want).max() <= 8


def test_weights_without_a_local_tensor_load_as_a_look_without_one():
    lk = _looks()[1]
    state = {k: v for k, v in lk.state_dict().items() if k != "local"}
    fresh = AdaptiveLUT(lk.cfg)
    fresh.load_state_dict(state, strict=True)
    assert not fresh.has_local
    assert "local" not in fresh.state_dict()
    again = AdaptiveLUT(lk.cfg)
    again.load_state_dict(lk.state_dict(), strict=True)
    assert torch.equal(again.local, lk.local)
    assert "vignette" in describe_local(again.local) and "bloom" in describe_local(again.local)


def _vignetted(images, strength):
    out = []
    for im in images:
        h, w = im.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (((h - 1) / 2) ** 2 + ((w - 1) / 2) ** 2)
        out.append(np.clip(im * (1 - strength * r2)[..., None] + 0.5, 0, 255).astype(np.uint8))
    return out


def test_the_fit_finds_a_vignette_and_leaves_photos_without_one_alone():
    from livestyle.training.local import fit_local

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as training runs it (small tensors; 2 threads spin on a busy 2-core machine)
    try:
        photos = [_photo(96, 72, seed) for seed in range(64)]
        content, style = photos[:32], photos[32:]
        look = AdaptiveLUT()
        rec = fit_local(look, content[:20], _vignetted(style[:20], 0.35), content[20:],
                        _vignetted(style[20:], 0.35))
        assert rec["kept"] in ("vignette", "vignette+bloom"), rec
        corner = float((look.local[0] * 0.94 + look.local[1] * 0.94 ** 2).mean())
        assert -0.45 < corner < -0.2, look.local
        rec = fit_local(look, content[:20], style[:20], content[20:], style[20:])
        assert rec["kept"] == "none" and not look.has_local, rec
    finally:
        torch.set_num_threads(threads)


def test_compensation_keeps_the_mean_level_and_undo_takes_a_vignette_back_out():
    from livestyle.training.local import LocalMaps, _compensate, _means, undo_local

    photos = [_photo(96, 72, seed) for seed in range(6)]
    look = AdaptiveLUT()
    c = torch.zeros(4, 3)
    c[0] = -0.3
    with torch.no_grad():
        before = np.mean([look(torch.from_numpy(p).permute(2, 0, 1)[None].float() / 127.5 - 1).mean().item()
                          for p in photos])
        counts, means = _means(photos, look, LocalMaps())
        look.local.copy_(c)
        k = _compensate(look, counts, means, c)
        after = np.mean([look(torch.from_numpy(p).permute(2, 0, 1)[None].float() / 127.5 - 1).mean().item()
                         for p in photos])
    assert all(1.05 < v < 1.3 for v in k)  # a vignette darkens on average: the LUT is lifted to make up for it
    assert abs((after - before) * 127.5) < 1.0
    vignetted = [np.clip(p + LocalMaps()(torch.from_numpy(p).float()[None], c[None])[0].numpy() + 0.5, 0, 255)
                 .astype(np.uint8) for p in photos]
    back = undo_local(vignetted, c)
    assert np.abs(np.stack(back).astype(int) - np.stack(photos).astype(int)).mean() < 1.0


def test_export_lut_says_the_local_part_is_lost_and_writes_the_colour_part(packs, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    home = tmp_path / "home"
    shutil.copytree(packs["local"], home / "styles" / "local")
    env = dict(os.environ, LIVESTYLE_HOME=str(home))
    for look, lost in (("b", True), ("a", False)):
        out = tmp_path / f"{look}.cube"
        r = subprocess.run([sys.executable, "-m", "livestyle", "export-lut", look, "--out", str(out)],
                           capture_output=True, text=True, env=env, timeout=240)
        assert r.returncode == 0, r.stderr
        assert ("has a local part, a vignette" in r.stdout and "the local part is lost" in r.stdout) == lost, r.stdout
        assert "LUT_3D_SIZE 33" in out.read_text()
