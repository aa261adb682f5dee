"""Texture looks (CNN students) inside a colour engine: one ONNX graph, real ONNX Runtime sessions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from livestyle.errors import TrainingError
from livestyle.export.lut import TRT10_SUPPORTED_OPS, graph_ops, random_looks
from livestyle.models.student import Student, StudentConfig
from livestyle.runners.onnxrt import OnnxRuntimeRunner
from livestyle.export.engine_pack import write_engine_pack
from livestyle.styles.pack import load_pack, load_packs

SIZE = (96, 64)  # (w, h), multiples of 4


def _student(seed: int) -> Student:
    torch.manual_seed(seed)
    net = Student(StudentConfig(stem=8, width=8, blocks=1, expansion=2))
    with torch.no_grad():  # a visible change, so a blend of it and a colour look really differs
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape))
    return net.eval()


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)


def _runner(pack):
    r = OnnxRuntimeRunner(pack, infer_size=SIZE, threads=1)
    r.activate()
    return r


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """An engine of colour look 'a', texture look 'drawn' and colour look 'b' (in that order), and its parts."""
    root = tmp_path_factory.mktemp("mixed")
    a, b = random_looks(2, seed=3)
    drawn = _student(1)
    folder, parity = write_engine_pack(root, [("a", a, {"look": "pastel"}), ("drawn", drawn, {"look": "pencil"}),
                                              ("b", b, {})], folder_name="eng")
    colour_only, _ = write_engine_pack(root, [("a", a, {}), ("b", b, {})], folder_name="colour")
    from livestyle.export.onnx import export_onnx

    single = root / "single"
    single.mkdir()
    export_onnx(drawn, single / "student.onnx")
    (single / "style.json").write_text(json.dumps({"name": "drawn1"}))
    return {"folder": folder, "parity": parity, "colour": colour_only, "single": single}


def test_the_pack_lists_the_texture_look_and_needs_multiples_of_4(mixed):
    packs = load_packs(mixed["folder"])
    assert [(p.name, p.look_index, p.meta.get("kind")) for p in packs] == [
        ("a", 0, None), ("drawn", 1, "texture"), ("b", 2, None)]
    assert all(p.size_multiple == 4 for p in packs)              # the student has two stride-2 stages
    assert load_packs(mixed["colour"])[0].size_multiple == 1     # a colour-only engine takes any size
    meta = json.loads((mixed["folder"] / "style.json").read_text())
    assert meta["format_version"] == 3 and meta["looks"][1]["student"]["width"] == 8
    assert mixed["parity"] <= 1


def test_every_operator_including_those_in_the_branches_is_on_the_tensorrt_list(mixed):
    ops = graph_ops(mixed["folder"] / "engine.onnx")
    assert {"If", "Conv", "Gather"} <= ops                       # Conv lives only inside the If branch
    assert not ops - TRT10_SUPPORTED_OPS, sorted(ops - TRT10_SUPPORTED_OPS)


def test_the_only_uint8_tensors_are_the_network_edges(mixed):
    """TensorRT takes uint8 only at the network's edge, in casts: the output comes from a top-level Cast, and
    no branch casts to uint8 (the clip moved into the last texture look's branches; the cast did not)."""
    import onnx

    model = onnx.load(str(mixed["folder"] / "engine.onnx"))
    (producer,) = [n for n in model.graph.node if "out" in n.output]
    assert producer.op_type == "Cast"

    def casts_to_uint8(graph) -> int:
        found = 0
        for node in graph.node:
            to = {a.name: a.i for a in node.attribute}.get("to")
            found += node.op_type == "Cast" and to == onnx.TensorProto.UINT8
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    found += casts_to_uint8(attr.g)
        return found

    assert casts_to_uint8(model.graph) == 1


def test_the_texture_look_alone_is_its_own_student_exactly(mixed):
    engine = _runner(load_pack(mixed["folder"], look="drawn"))
    single = _runner(load_pack(mixed["single"]))
    for seed in range(3):
        img = _frame(seed)
        got = engine.infer(img, np.array([0, 1, 0], np.float32)).copy()
        assert np.array_equal(got, single.infer(img))


def test_colour_looks_are_untouched_by_the_texture_branch(mixed):
    engine = _runner(load_pack(mixed["folder"]))
    colour = _runner(load_pack(mixed["colour"]))
    img = _frame(4)
    for w in ([1, 0, 0], [0, 0, 1], [0.3, 0, 0.7]):
        got = engine.infer(img, np.array(w, np.float32)).copy()
        want = colour.infer(img, np.array([w[0], w[2]], np.float32))
        assert np.array_equal(got, want), w


def test_a_blend_of_a_colour_and_a_texture_look_is_the_blend_of_their_outputs(mixed):
    engine = _runner(load_pack(mixed["folder"]))
    img = _frame(5)
    a = engine.infer(img, np.array([1, 0, 0], np.float32)).astype(np.float64)
    d = engine.infer(img, np.array([0, 1, 0], np.float32)).astype(np.float64)
    assert np.abs(a - d).mean() > 3                              # the two looks really differ
    for w in (0.25, 0.5, 0.8):
        got = engine.infer(img, np.array([w, 1 - w, 0], np.float32))
        assert np.abs(got - (w * a + (1 - w) * d)).max() <= 1.0 + 1e-9, w


def test_the_torch_backends_load_the_texture_look_as_its_student(mixed):
    from livestyle.styles.nets import load_look_net

    assert isinstance(load_look_net(load_pack(mixed["folder"], look="drawn")), Student)
    from livestyle.models.lut import AdaptiveLUT

    assert isinstance(load_look_net(load_pack(mixed["folder"], look="b")), AdaptiveLUT)


def test_a_mix_over_a_texture_engine_needs_multiples_of_4(mixed, tmp_path, monkeypatch):
    import shutil

    from livestyle.styles import find_style

    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path))
    shutil.copytree(mixed["folder"], tmp_path / "styles" / "eng")
    (tmp_path / "styles" / "half").mkdir()
    (tmp_path / "styles" / "half" / "style.json").write_text(
        json.dumps({"format_version": 2, "name": "half", "mix": {"a": 0.5, "drawn": 0.5}}))
    assert find_style("half").size_multiple == 4


def test_an_engine_of_texture_looks_only_is_refused(tmp_path):
    with pytest.raises(TrainingError, match="at least one colour look"):
        write_engine_pack(tmp_path, [("d", _student(2), {})])
    assert list(tmp_path.iterdir()) == []


def test_merging_an_installed_cnn_pack_makes_it_a_texture_look(tmp_path):
    """`merge_looks` (how the bundle is built) takes a format-1 pack beside colour looks; its output is unchanged."""
    from livestyle.export.engine_pack import random_engine_pack
    from livestyle.export.onnx import random_student_pack
    from livestyle.export.engine_pack import merge_looks

    colour = load_packs(random_engine_pack(tmp_path / "c", ["warm", "cold"], seed=5))
    cnn = load_pack(random_student_pack(tmp_path / "drawn", name="sketchy", seed=2,
                                        cfg=StudentConfig(stem=8, width=8, blocks=1, expansion=2),
                                        meta={"look": "pencil"}))
    folder, parity = merge_looks([colour[0], cnn, colour[1]], tmp_path / "out", "all")
    assert parity <= 1
    packs = {p.name: p for p in load_packs(folder)}
    assert packs["sketchy"].meta["kind"] == "texture" and packs["sketchy"].look == "pencil"
    img = _frame(7)
    alone = _runner(cnn).infer(img).copy()
    merged = _runner(packs["sketchy"]).infer(img, np.array([0, 1, 0], np.float32))
    assert np.array_equal(merged, alone)
    with pytest.raises(TrainingError, match="mix"):
        from dataclasses import replace

        merge_looks([colour[0], replace(colour[1], mix={"warm": 1.0})], tmp_path / "out", "bad")


def test_the_tensorrt_runner_tells_an_engine_with_branches_from_one_without(mixed):
    """What the TensorRT runner reads to skip CUDA graph capture (which would replay one branch whatever the
    weights); the capture itself needs a GPU and is not tested here."""
    from livestyle.runners.tensorrt import _has_conditionals

    assert _has_conditionals(mixed["folder"] / "engine.onnx")
    assert not _has_conditionals(mixed["colour"] / "engine.onnx")


def _nodes_run(path, feeds) -> set[str]:
    """Names of the graph nodes ONNX Runtime executed for one run (from its profiler), branches included."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.enable_profiling = True
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    prof = sess.end_profiling()
    try:
        events = json.loads(open(prof).read())
    finally:
        import os

        os.unlink(prof)
    return {(e["name"][: -len("_kernel_time")], e["args"].get("op_name")) for e in events
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")}


def test_only_the_parts_with_weight_run_and_the_colour_state_waits(mixed):
    """A drawn look alone skips the colour part (its state comes back unchanged); colour looks alone skip the
    student; a blend runs both."""
    from livestyle.runners.contract import still_feeds
    import onnxruntime as ort

    path = mixed["folder"] / "engine.onnx"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    img = _frame(8)[None]
    runs = {}
    for name, w in (("drawn", [0, 1, 0]), ("colour", [0.5, 0, 0.5]), ("blend", [0.5, 0.5, 0])):
        feeds = still_feeds(sess, img, np.array([w], np.float32))
        feeds["mix_state"] = np.full(feeds["mix_state"].shape, 0.25, np.float32)
        feeds["mix_rate"] = np.full(1, 0.2, np.float32)
        ran = _nodes_run(path, feeds)
        parts = set()
        if any(n.startswith("colour/") for n, _ in ran):         # the colour part's nodes (its If branch)
            parts.add("colour")
        if any(n.startswith("texture1/") and op == "Conv" for n, op in ran):  # the student's convolutions
            parts.add("texture1")
        runs[name] = (parts, sess.run(None, feeds)[1], {op for _, op in ran})
    assert runs["drawn"][0] == {"texture1"} and runs["colour"][0] == {"colour"}
    # with the drawn look off, its branch ends the graph (clip, cast) without first copying the frame's levels
    assert "Identity" not in runs["colour"][2]
    assert runs["blend"][0] == {"colour", "texture1"}
    assert np.array_equal(runs["drawn"][1], np.full(runs["drawn"][1].shape, 0.25, np.float32))  # state kept
    assert not np.allclose(runs["colour"][1], 0.25)                                            # state moved


def test_an_engine_with_two_texture_looks_gives_each_look_and_their_blends(tmp_path):
    """Only the last texture look's branches end the graph; the one before passes the levels on. Each look alone
    and a blend of all three match the torch reference within 1 level (the pack writer's own check), and a
    blend of the two drawn looks is the blend of their outputs."""
    (a,) = random_looks(1, seed=5)
    d1, d2 = _student(2), _student(3)
    folder, parity = write_engine_pack(tmp_path, [("a", a, {}), ("d1", d1, {}), ("d2", d2, {})], folder_name="two")
    assert parity <= 1
    import onnxruntime as ort

    sess = ort.InferenceSession(str(folder / "engine.onnx"), providers=["CPUExecutionProvider"])
    from livestyle.runners.contract import still_feeds

    img = _frame(4)[None]
    outs = {}
    for name, w in (("d1", [0, 1, 0]), ("d2", [0, 0, 1]), ("both", [0, 0.5, 0.5])):
        outs[name] = sess.run(None, still_feeds(sess, img, np.array([w], np.float32)))[0].astype(np.int16)
    assert not np.array_equal(outs["d1"], outs["d2"])
    assert np.abs(outs["both"] - (outs["d1"] + outs["d2"]) / 2).max() <= 1
