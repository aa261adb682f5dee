"""The runner bank and the template Runner.infer, on real ONNX Runtime sessions.

A tiny two-look engine is built here with the ONNX helper API: look 0 is the
identity, look 1 the negative (255 - x), mixed by the ``weights`` input, so
every expected output is known exactly.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from livestyle.errors import BackendError
from livestyle.runners.bank import RunnerBank
from livestyle.runners.onnxrt import OnnxRuntimeRunner


def two_look_engine(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("bgr", TensorProto.UINT8, [1, "h", "w", 3])
    w = helper.make_tensor_value_info("weights", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("out", TensorProto.UINT8, [1, "h", "w", 3])
    c255 = helper.make_tensor("c255", TensorProto.FLOAT, [], [255.0])
    i0 = helper.make_tensor("i0", TensorProto.INT64, [1], [0])
    i1 = helper.make_tensor("i1", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Cast", ["bgr"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["c255", "xf"], ["neg"]),
        helper.make_node("Gather", ["weights", "i0"], ["w0"], axis=1),
        helper.make_node("Gather", ["weights", "i1"], ["w1"], axis=1),
        helper.make_node("Mul", ["xf", "w0"], ["a"]),
        helper.make_node("Mul", ["neg", "w1"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("Round", ["s"], ["r"]),
        helper.make_node("Cast", ["r"], ["out"], to=TensorProto.UINT8),
    ]
    g = helper.make_graph(nodes, "two_looks", [x, w], [y], initializer=[c255, i0, i1])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def make_runner(pack, size=(64, 32)):
    r = OnnxRuntimeRunner(pack, infer_size=size)
    r.activate()
    return r


@pytest.fixture()
def engine_packs(tmp_path):
    onnx_path = two_look_engine(tmp_path / "engine.onnx")
    return {"same": SimpleNamespace(name="same", onnx=onnx_path, look_index=0),
            "negative": SimpleNamespace(name="negative", onnx=onnx_path, look_index=1)}


def test_engine_runner_needs_weights_and_checks_their_count(engine_packs):
    r = make_runner(engine_packs["same"])
    assert r.n_looks == 2
    img = np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    with pytest.raises(BackendError):
        r.infer(img)
    with pytest.raises(BackendError):
        r.infer(img, np.ones(3, np.float32))
    with pytest.raises(BackendError):
        r.infer(img[:16], np.array([1, 0], np.float32))  # the template checks the frame first
    assert np.array_equal(r.infer(img, np.array([1, 0], np.float32)), img)
    assert r.last_inference_time > 0


def test_bank_sends_one_inference_per_engine_with_the_weight_vector(engine_packs):
    bank = RunnerBank(engine_packs, make_runner)
    bank.load({"same": 1.0})
    assert len(bank.runners) == 1
    assert bank.request({"negative": 1.0}) == "ready"  # same file: nothing more to load
    img = np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    assert np.array_equal(bank.infer(img, {"same": 1.0}), img)
    assert np.array_equal(bank.infer(img, {"negative": 1.0}), 255 - img)
    mid = bank.infer(img, {"same": 0.25, "negative": 0.75}).astype(float)
    want = 0.25 * img + 0.75 * (255.0 - img)
    assert np.abs(mid - want).max() <= 1.0  # the blend of looks is the blend of their outputs
    out1 = bank.infer(img, {"same": 1.0})
    out2 = bank.infer(img, {"negative": 1.0})
    assert not np.shares_memory(out1, out2)  # the bank hands out its own copy, not the runner's buffer
    bank.close()


def test_bank_blends_looks_from_different_files(random_pack, tmp_path):
    from livestyle.export.onnx import random_student_pack
    from livestyle.styles.pack import load_pack

    other = random_student_pack(tmp_path / "r2", name="r2", seed=3)
    packs = {"random": load_pack(random_pack), "r2": load_pack(other)}
    bank = RunnerBank(packs, lambda p: make_runner(p, (96, 64)))
    bank.load({"random": 0.5, "r2": 0.5})
    img = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    a = bank.infer(img, {"random": 1.0}).astype(float)
    b = bank.infer(img, {"r2": 1.0}).astype(float)
    mix = bank.infer(img, {"random": 0.3, "r2": 0.7}).astype(float)
    assert np.abs(mix - (0.3 * a + 0.7 * b)).max() <= 1.0
    assert np.abs(a - b).mean() > 1.0  # the two looks do differ
    bank.close()


def test_a_failed_load_is_reported_and_not_retried_until_asked(tmp_path, random_pack):
    from livestyle.styles.pack import load_pack

    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / "student.onnx").write_bytes(b"garbage")
    packs = {"good": load_pack(random_pack), "bad": SimpleNamespace(name="bad", onnx=bad_dir / "student.onnx")}
    calls = []

    def factory(p):
        calls.append(p.name)
        return make_runner(p, (96, 64))
    bank = RunnerBank(packs, factory)
    bank.load({"good": 1.0})
    assert bank.request({"bad": 1.0}) == "loading"
    deadline = time.time() + 10
    while bank.request({"bad": 1.0}) == "loading" and time.time() < deadline:
        time.sleep(0.02)
    assert bank.request({"bad": 1.0}) == "failed"
    assert "bad" in bank.error({"bad": 1.0}) and "\n" not in bank.error({"bad": 1.0})
    assert calls.count("bad") == 1
    bank.forget_failure({"bad": 1.0})
    assert bank.request({"bad": 1.0}) == "loading"
    bank.close()


def test_preload_loads_every_look_in_the_background(random_pack, tmp_path):
    from livestyle.export.onnx import random_student_pack
    from livestyle.styles.pack import load_pack

    packs = {"a": load_pack(random_pack),
             "b": load_pack(random_student_pack(tmp_path / "b", name="b", seed=5))}
    bank = RunnerBank(packs, lambda p: make_runner(p, (96, 64)))
    bank.load({"a": 1.0})
    bank.preload(["a", "b"]).join(30)
    assert bank.request({"b": 1.0}) == "ready" and len(bank.runners) == 2
    assert bank.set_infer_size((64, 32)) and all(r.infer_size == (64, 32) for r in bank.runners)
    img = np.zeros((32, 64, 3), np.uint8)
    assert bank.infer(img, {"a": 0.5, "b": 0.5}).shape == (32, 64, 3)
    bank.close()
