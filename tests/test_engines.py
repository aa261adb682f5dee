"""The TensorRT engine cache, the ONNX rewrites for TensorRT, and the build-engine / doctor commands.

The cache logic (key, manifest, verification, rebuilds, atomic writes,
permissions) is exercised with a fake builder function, which tests the
cache and not TensorRT; the real builder is tested only where TensorRT and
a GPU are present (marked ``gpu``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livestyle.errors import BackendError, UsageError
from livestyle.runners.trt import cache as eng
from livestyle.runners.trt.cache import BuildTarget, EngineCache, engine_key, ensure_engine_entry
from livestyle.runners.contract import still_feeds
from tests.conftest import ROOT, cli_env

TARGET = BuildTarget(trt_version="10.9.0.34", gpu_name="Fake GPU", compute_capability="9.0",
                     versions={"tensorrt": "10.9.0.34"})
SIZE = (64, 48)


class FakeBuilder:
    """Writes a deterministic pseudo-engine (depends on the request) and counts calls."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after
        self.requests = []

    def payload(self, request) -> bytes:
        seed = f"{request.onnx_path.read_bytes()[:64]!r}{request.size}{request.precision}".encode()
        return (seed * 200)[:4096]

    def __call__(self, request, out) -> None:
        self.calls += 1
        self.requests.append(request)
        data = self.payload(request)
        if self.fail_after is not None:
            out.write(data[: self.fail_after])
            out.flush()
            raise RuntimeError("builder crashed half-way")
        out.write(data)


@pytest.fixture()
def onnx_file(random_pack) -> Path:
    return random_pack / "student.onnx"


def _ensure(onnx_file, cache, builder, **kw):
    return ensure_engine_entry(onnx_file, kw.pop("size", SIZE), kw.pop("precision", "fp16"), cache=cache,
                               target=kw.pop("target", TARGET), builder=builder, **kw)


# ----------------------------------------------------------------------------- key


def test_engine_key_changes_with_every_field_and_only_with_content(onnx_file, tmp_path):
    base = dict(trt_version="10.9.0", gpu_name="NVIDIA H200", compute_capability="9.0", precision="fp16",
                size=(1920, 1080))
    k0 = engine_key(onnx_file, **base)
    assert len(k0) == 64 and int(k0, 16) >= 0
    assert engine_key(onnx_file, **base) == k0
    variants = {"trt_version": "11.0.0", "gpu_name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9",
                "precision": "fp32", "size": (1280, 720)}
    keys = {k0}
    for field, value in variants.items():
        k = engine_key(onnx_file, **{**base, field: value})
        assert k not in keys, field
        keys.add(k)
    # swapped width/height is another shape
    assert engine_key(onnx_file, **{**base, "size": (1080, 1920)}) not in keys
    # the path does not matter, the bytes do
    copy = tmp_path / "elsewhere.onnx"
    shutil.copyfile(onnx_file, copy)
    assert engine_key(copy, **base) == k0
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01
    copy.write_bytes(bytes(data))
    assert engine_key(copy, **base) != k0


# ----------------------------------------------------------------------------- manifest round trip


def test_build_then_reuse_with_manifest(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    builder = FakeBuilder()
    first = _ensure(onnx_file, cache, builder)
    assert first.built and builder.calls == 1 and cache.builds == 1
    assert first.path.read_bytes() == builder.payload(builder.requests[0])
    manifest = json.loads(first.path.with_suffix(".json").read_text())
    assert manifest == first.manifest
    assert manifest["key"] == first.key == engine_key(onnx_file, TARGET.trt_version, TARGET.gpu_name,
                                                      TARGET.compute_capability, "fp16", SIZE)
    assert manifest["onnx_sha256"] == eng.sha256_file(onnx_file)
    assert manifest["engine_sha256"] == eng.sha256_file(first.path)
    assert manifest["engine_bytes"] == first.path.stat().st_size
    assert manifest["size"] == list(SIZE) and manifest["precision"] == "fp16"
    assert manifest["gpu_name"] == "Fake GPU" and manifest["trt_version"] == TARGET.trt_version
    assert manifest["builder_versions"] == {"tensorrt": "10.9.0.34"} and manifest["created"]
    # the request the builder saw: exact shape, precision, a private work dir and a timing cache path
    req = builder.requests[0]
    assert req.size == SIZE and req.precision == "fp16" and req.timing_cache.parent == cache.root
    assert not req.work_dir.exists()  # scratch space is removed after the build

    again = _ensure(onnx_file, cache, builder)
    assert not again.built and again.path == first.path and builder.calls == 1 and cache.builds == 1
    assert cache.read_verified(again) == first.path.read_bytes()
    # another shape or precision is another engine
    other = _ensure(onnx_file, cache, builder, size=(128, 96), precision="fp32")
    assert other.built and other.path != first.path and builder.calls == 2
    # force rebuilds a good engine
    forced = _ensure(onnx_file, cache, builder, force=True)
    assert forced.built and builder.calls == 3


def _flip(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _bad_json(path: Path):
    path.with_suffix(".json").write_text('{"format": 1, "key": ')


def _not_a_dict(path: Path):
    path.with_suffix(".json").write_text("[1, 2, 3]")


def _missing_engine(path: Path):
    path.unlink()


def _missing_manifest(path: Path):
    path.with_suffix(".json").unlink()


def _manifest_hash_edited(path: Path):
    m = json.loads(path.with_suffix(".json").read_text())
    m["engine_sha256"] = "0" * 64
    path.with_suffix(".json").write_text(json.dumps(m))


def _manifest_other_gpu(path: Path):
    m = json.loads(path.with_suffix(".json").read_text())
    m["gpu_name"] = "Other GPU"  # fields no longer hash to the key in the name
    path.with_suffix(".json").write_text(json.dumps(m))


def _engine_swapped(path: Path):
    # a different file of the same size: only the hash can tell
    data = path.read_bytes()
    path.write_bytes(bytes(reversed(data)))


@pytest.mark.parametrize("damage, reason", [
    (_flip, "hash mismatch"),
    (_engine_swapped, "hash mismatch"),
    (_truncate, "size mismatch"),
    (_bad_json, "bad manifest"),
    (_not_a_dict, "bad manifest"),
    (_missing_engine, "missing engine"),
    (_missing_manifest, "no manifest"),
    (_manifest_hash_edited, "hash mismatch"),
    (_manifest_other_gpu, "manifest fields do not match the key"),
])
def test_broken_entry_is_rebuilt_never_loaded(onnx_file, tmp_path, damage, reason):
    cache = EngineCache(tmp_path / "engines")
    builder = FakeBuilder()
    good = _ensure(onnx_file, cache, builder)
    damage(good.path)
    assert cache.lookup(good.key, SIZE, "fp16") is None
    assert cache.rebuild_reasons[-1] == reason
    rebuilt = _ensure(onnx_file, cache, builder)
    assert rebuilt.built and builder.calls == 2 and cache.builds == 2
    assert rebuilt.path == good.path
    assert rebuilt.path.read_bytes() == builder.payload(builder.requests[-1])
    assert cache.lookup(good.key, SIZE, "fp16") is not None  # the fresh pair verifies
    assert not _ensure(onnx_file, cache, builder).built and builder.calls == 2


def test_read_verified_refuses_an_engine_changed_after_lookup(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    entry = _ensure(onnx_file, cache, FakeBuilder())
    _flip(entry.path)
    with pytest.raises(BackendError, match="changed on disk"):
        cache.read_verified(entry)


def test_builder_crash_leaves_no_partial_file(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    crashing = FakeBuilder(fail_after=1000)
    with pytest.raises(RuntimeError, match="half-way"):
        _ensure(onnx_file, cache, crashing)
    engine_path, manifest_path = cache.paths(engine_key(onnx_file, TARGET.trt_version, TARGET.gpu_name,
                                                        TARGET.compute_capability, "fp16", SIZE), SIZE, "fp16")
    assert not engine_path.exists() and not manifest_path.exists()
    assert sorted(p.name for p in cache.root.iterdir()) == []  # no temp file, no work dir left behind
    # the next good build works normally
    good = FakeBuilder()
    entry = _ensure(onnx_file, cache, good)
    assert entry.built and entry.path == engine_path and cache.lookup(entry.key, SIZE, "fp16") is not None


def test_empty_engine_is_an_error_not_a_cache_entry(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    with pytest.raises(BackendError, match="empty engine"):
        _ensure(onnx_file, cache, lambda request, out: None)
    assert not any(cache.root.iterdir())


def test_bad_size_and_precision_are_usage_errors(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    with pytest.raises(UsageError, match="multiples of 4"):
        _ensure(onnx_file, cache, FakeBuilder(), size=(1918, 1080))
    with pytest.raises(UsageError, match="fp16, fp32"):
        _ensure(onnx_file, cache, FakeBuilder(), precision="int8")


# ----------------------------------------------------------------------------- permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_cache_folder_is_created_private(onnx_file, tmp_path):
    root = tmp_path / "deep" / "engines"
    _ensure(onnx_file, EngineCache(root), FakeBuilder())
    assert _mode(root) == 0o700
    for p in root.iterdir():
        assert _mode(p) & 0o077 == 0, p  # engine and manifest readable by the owner only


def test_world_writable_cache_is_repaired_and_emptied(onnx_file, tmp_path):
    root = tmp_path / "engines"
    builder = FakeBuilder()
    planted = _ensure(onnx_file, EngineCache(root), builder)
    os.chmod(root, 0o777)
    cache = EngineCache(root)
    entry = _ensure(onnx_file, cache, builder)
    assert _mode(root) == 0o700
    # anyone could have written the old entry: it was dropped and rebuilt, not trusted
    assert entry.built and builder.calls == 2 and entry.path == planted.path


def test_readable_cache_is_tightened_but_kept(onnx_file, tmp_path):
    root = tmp_path / "engines"
    builder = FakeBuilder()
    _ensure(onnx_file, EngineCache(root), builder)
    os.chmod(root, 0o755)
    entry = _ensure(onnx_file, EngineCache(root), builder)
    assert _mode(root) == 0o700 and not entry.built and builder.calls == 1


def test_engine_file_writable_by_others_is_not_loaded(onnx_file, tmp_path):
    cache = EngineCache(tmp_path / "engines")
    builder = FakeBuilder()
    entry = _ensure(onnx_file, cache, builder)
    os.chmod(entry.path, 0o666)
    rebuilt = _ensure(onnx_file, cache, builder)
    assert rebuilt.built and cache.rebuild_reasons[-1] == "engine writable by other users"
    assert _mode(rebuilt.path) & 0o077 == 0


def test_cache_that_is_a_file_is_refused(tmp_path, onnx_file):
    blocker = tmp_path / "engines"
    blocker.write_text("not a folder")
    with pytest.raises(BackendError) as info:
        _ensure(onnx_file, EngineCache(blocker), FakeBuilder())
    assert info.value.fix


def test_default_engines_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "home"))
    assert eng.default_engines_dir() == tmp_path / "home" / "engines"
    monkeypatch.delenv("LIVESTYLE_HOME")
    if (ROOT / ".git").exists():  # this test runs from a checkout
        assert eng.default_engines_dir() == ROOT / "engines"
    monkeypatch.setattr(eng, "_checkout_root", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert eng.default_engines_dir() == tmp_path / "xdg" / "livestyle" / "engines"


# ----------------------------------------------------------------------------- ONNX rewrites (ONNX Runtime on the CPU)


def _run_ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"bgr": x})[0]


def test_make_fp16_onnx_is_close_to_fp32(onnx_file, tmp_path):
    import onnx
    from onnx import TensorProto

    dst = eng.make_fp16_onnx(onnx_file, tmp_path / "fp16.onnx")
    model = onnx.load(str(dst))
    g = model.graph
    assert g.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert g.output[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert {i.data_type for i in g.initializer} == {TensorProto.FLOAT16}  # every weight converted
    casts = [a.i for n in g.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
    assert TensorProto.FLOAT16 in casts and TensorProto.FLOAT not in casts
    rng = np.random.default_rng(3)
    for w, h in ((320, 180), (128, 128)):
        x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        ref, got = _run_ort(onnx_file, x), _run_ort(dst, x)
        assert got.dtype == np.uint8 and got.shape == ref.shape
        diff = np.abs(ref.astype(np.int16) - got.astype(np.int16))
        assert diff.max() <= 3, diff.max()
        assert diff.mean() < 0.25


def test_prepare_for_tensorrt_moves_casts_to_uint8_io(onnx_file, tmp_path):
    import onnx

    dst = eng.prepare_onnx_for_tensorrt(onnx_file, tmp_path / "trt.onnx", fp16=False)
    g = onnx.load(str(dst)).graph
    first = [n for n in g.node if "bgr" in n.input]
    last = [n for n in g.node if "out" in n.output]
    assert [n.op_type for n in first] == ["Cast"] and [n.op_type for n in last] == ["Cast"]
    x = np.random.default_rng(4).integers(0, 256, (1, 96, 160, 3), dtype=np.uint8)
    assert np.array_equal(_run_ort(onnx_file, x), _run_ort(dst, x))  # same values exactly

    dst16 = eng.prepare_onnx_for_tensorrt(onnx_file, tmp_path / "trt16.onnx", fp16=True)
    diff = np.abs(_run_ort(onnx_file, x).astype(np.int16) - _run_ort(dst16, x))
    assert diff.max() <= 3


def test_unreadable_onnx_is_a_model_error(tmp_path):
    from livestyle.errors import ModelError

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file" * 10)
    with pytest.raises(ModelError):
        eng.make_fp16_onnx(bad, tmp_path / "out.onnx")


# ----------------------------------------------------------------------------- the real CLI


def _tensorrt_available() -> bool:
    from livestyle.runners.tensorrt import TensorRTRunner

    return TensorRTRunner.probe().available


def _cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "livestyle", *args], capture_output=True, text=True,
                          env=env or cli_env(), timeout=timeout, cwd=str(ROOT))


def test_build_engine_without_tensorrt_is_one_clear_line(random_pack, tmp_path):
    if _tensorrt_available():
        pytest.skip("TensorRT can build here, so the failure path cannot be reached")
    res = _cli("build-engine", str(random_pack), "--size", "320x180", "--engines-dir", str(tmp_path / "e"))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("livestyle: error: Cannot build a TensorRT engine here: ")
    from livestyle.runners.tensorrt import TensorRTRunner

    status = TensorRTRunner.probe()
    assert status.reason in lines[0] and status.fix in lines[0]  # the exact reason and the fix
    assert not (tmp_path / "e").exists()  # nothing was created


def test_build_engine_rejects_a_bad_size(random_pack):
    res = _cli("build-engine", str(random_pack), "--size", "1920by1080")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "--size" in res.stderr and "WIDTHxHEIGHT" in res.stderr


def test_doctor_lists_every_backend_with_reasons(tmp_path):
    env = cli_env(tmp_path / "home")
    res = _cli("doctor", env=env)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    for label in ("onnxruntime (cpu)", "torch (cpu)", "torch (cuda)", "tensorrt (cuda)"):
        assert label in res.stdout, label
    assert "--backend auto uses:" in res.stdout and "engine cache" in res.stdout

    res = _cli("doctor", "--json", env=env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    pairs = [(b["name"], b["device"]) for b in data["backends"]]
    assert sorted(pairs) == sorted([("onnxruntime", "cpu"), ("torch", "cpu"), ("torch", "cuda"),
                                    ("tensorrt", "cuda")])
    for b in data["backends"]:
        assert isinstance(b["available"], bool) and b["reason"], b
        if not b["available"]:
            assert b["fix"], b
    # the report agrees with the probes run in this process
    from livestyle.doctor import backend_statuses

    here = {(s.name, s.device): s.available for s in backend_statuses()}
    assert {(b["name"], b["device"]): b["available"] for b in data["backends"]} == here
    first = next(b for b in data["backends"] if b["available"])
    assert data["auto"] == {"name": first["name"], "device": first["device"]}
    assert data["system"]["cpu"]["logical_cores"] >= 1
    assert data["system"]["engine_cache"]["dir"] == str(tmp_path / "home" / "engines")
    assert "numpy" in data["system"]["versions"]


# ----------------------------------------------------------------------------- GPU (skipped without TensorRT + CUDA)


@pytest.mark.gpu
def test_real_tensorrt_build_is_cached(onnx_file, tmp_path):
    from livestyle.runners.tensorrt import TensorRTRunner

    status = TensorRTRunner.probe()
    if not status.available:
        pytest.skip(f"TensorRT cannot run here: {status.reason}")
    cache = EngineCache(tmp_path / "engines")
    phases = []
    entry = ensure_engine_entry(onnx_file, (320, 180), "fp16", cache=cache,
                                progress=lambda phase, done, total: phases.append((phase, done, total)))
    assert entry.built and entry.path.stat().st_size > 0
    assert entry.manifest["builder_versions"]["tensorrt"]
    assert cache.timing_cache_path(eng.detect_target()).is_file()
    again = ensure_engine_entry(onnx_file, (320, 180), "fp16", cache=cache)
    assert not again.built and cache.builds == 1


# ----------------------------------------------------------------------------- TensorRT 10 vs 11 build paths
#
# TensorRT cannot be installed here, so this drives tensorrt_builder through a
# stand-in module that records the calls.  It checks livestyle's own choices
# (which network flags, whether BuilderFlag.FP16 is set, which ONNX is parsed,
# the fixed optimisation profile, the timing cache round trip), not TensorRT.


def _fake_tensorrt(major: int, calls: dict):
    import types

    import onnx

    trt = types.ModuleType("tensorrt")
    trt.__version__ = f"{major}.1.0.5"
    trt.uint8 = "uint8"

    class Severity:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    class ILogger:
        pass

    ILogger.Severity = Severity
    trt.ILogger = ILogger

    class IProgressMonitor:
        pass

    trt.IProgressMonitor = IProgressMonitor
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
    trt.BuilderFlag = types.SimpleNamespace(FP16=0) if major == 10 else types.SimpleNamespace()
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")

    class Tensor:
        def __init__(self, name, dtype):
            self.name, self.dtype = name, dtype

    class Network:
        """The parsed ONNX's inputs and outputs (uint8 stays uint8, anything else is a float)."""

        def _io(self, which):
            g = calls["parsed"].graph
            return [Tensor(v.name, trt.uint8 if v.type.tensor_type.elem_type == onnx.TensorProto.UINT8 else "float")
                    for v in getattr(g, which)]

        @property
        def num_inputs(self):
            return len(self._io("input"))

        @property
        def num_outputs(self):
            return len(self._io("output"))

        def get_input(self, i):
            return self._io("input")[i]

        def get_output(self, i):
            return self._io("output")[i]

    class Parser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            calls["parsed"] = onnx.load(path)
            return True

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            calls["profile"] = (name, lo, opt, hi)

    class TimingCache:
        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return self.data + b"+more"

    class Config:
        def set_memory_pool_limit(self, pool, size):
            pass

        def set_flag(self, flag):
            calls.setdefault("flags", []).append(flag)

        def add_optimization_profile(self, p):
            pass

        def create_timing_cache(self, data):
            calls["timing_in"] = bytes(data)
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache

        def get_timing_cache(self):
            return self.cache

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls["network_flags"] = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            if getattr(config, "progress_monitor", None) is not None:
                m = config.progress_monitor
                m.phase_start("Building", None, 2)
                m.step_complete("Building", 0)
                m.phase_finish("Building")
            return b"ENGINE-BYTES"

    trt.Builder, trt.OnnxParser = Builder, Parser
    return trt


@pytest.mark.parametrize("major", [10, 11])
@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_builder_picks_the_right_precision_path(onnx_file, tmp_path, monkeypatch, major, precision):
    from onnx import TensorProto

    calls: dict = {}
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(major, calls))
    target = BuildTarget(trt_version=f"{major}.1.0.5", gpu_name="Fake GPU", compute_capability="9.0")
    cache = EngineCache(tmp_path / "engines")
    cache.ensure_private()
    cache.timing_cache_path(target).write_bytes(b"old-timings")
    phases = []
    entry = ensure_engine_entry(onnx_file, (160, 96), precision, cache=cache, target=target,
                                progress=lambda *a: phases.append(a))
    assert entry.path.read_bytes() == b"ENGINE-BYTES"
    assert calls["profile"] == ("bgr", (1, 96, 160, 3), (1, 96, 160, 3), (1, 96, 160, 3))
    legacy_fp16 = major == 10 and precision == "fp16"
    assert calls.get("flags", []) == ([0] if legacy_fp16 else [])          # BuilderFlag.FP16 only on 10
    assert calls["network_flags"] == (0 if legacy_fp16 else 1 << 1)        # else strongly typed
    weights = {i.data_type for i in calls["parsed"].graph.initializer}
    fp16_onnx = precision == "fp16" and major >= 11
    assert weights == {TensorProto.FLOAT16 if fp16_onnx else TensorProto.FLOAT}
    assert [n.op_type for n in calls["parsed"].graph.node if "bgr" in n.input] == ["Cast"]
    assert calls["timing_in"] == b"old-timings"
    assert cache.timing_cache_path(target).read_bytes() == b"old-timings+more"
    assert phases == [("Building", 0, 2), ("Building", 1, 2), ("Building", 2, 2)]


def test_make_fp16_onnx_keeps_resize_scales_float32_and_converts_scalar_constants(tmp_path):
    """A small hand-made graph: uint8 -> Cast -> Mul(Constant value_float) -> Resize(scales) -> Clip -> Cast uint8."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["bgr"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Constant", [], ["k"], value_float=0.5),
        helper.make_node("Mul", ["f", "k"], ["m"]),
        helper.make_node("Constant", [], ["scales"], value=helper.make_tensor("s", TensorProto.FLOAT, [4],
                                                                               [1.0, 2.0, 2.0, 1.0])),
        helper.make_node("Resize", ["m", "", "scales"], ["r"], mode="nearest"),
        helper.make_node("Constant", [], ["lo"], value_float=0.0),
        helper.make_node("Constant", [], ["hi"], value_float=255.0),
        helper.make_node("Clip", ["r", "lo", "hi"], ["c"]),
        helper.make_node("Cast", ["c"], ["out"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("bgr", TensorProto.UINT8, [1, 4, 6, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.UINT8, [1, 8, 12, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    src = tmp_path / "tiny.onnx"
    onnx.save(model, str(src))
    dst = eng.make_fp16_onnx(src, tmp_path / "tiny16.onnx")
    converted = onnx.load(str(dst))
    values = {n.output[0]: a.t.data_type for n in converted.graph.node if n.op_type == "Constant"
              for a in n.attribute if a.name == "value"}
    assert values == {"k": TensorProto.FLOAT16, "scales": TensorProto.FLOAT, "lo": TensorProto.FLOAT16,
                      "hi": TensorProto.FLOAT16}
    x = np.arange(72, dtype=np.uint8).reshape(1, 4, 6, 3) * 3
    assert np.array_equal(_run_ort(src, x), _run_ort(dst, x))  # halving small integers is exact in fp16


@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_preparation_keeps_a_multi_look_engine_within_one_level(tmp_path, fp16):
    """The ONNX rewrite TensorRT builds from keeps the colour engine's output (run here by ONNX Runtime)."""
    import onnxruntime as ort

    from livestyle.export.engine_pack import random_engine_pack

    folder = random_engine_pack(tmp_path, ["a", "b"], seed=1)
    prepared = eng.prepare_onnx_for_tensorrt(folder / "engine.onnx", tmp_path / "trt.onnx", fp16=fp16)
    ref = ort.InferenceSession(str(folder / "engine.onnx"), providers=["CPUExecutionProvider"])
    got = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
    types = {i.name: i.type for i in got.get_inputs()}
    assert types["bgr"] == "tensor(uint8)" and got.get_outputs()[0].type == "tensor(uint8)"
    # FP16 graphs take the look weights in float16 (the TensorRT runner must feed them so)
    assert types["weights"] == ("tensor(float16)" if fp16 else "tensor(float)")
    x = np.random.default_rng(0).integers(0, 256, (1, 72, 128, 3), dtype=np.uint8)
    w = np.array([[0.3, 0.7]], np.float32)
    a = ref.run(None, still_feeds(ref, x, w))[0].astype(int)
    feeds = still_feeds(ref, x, w)
    if fp16:  # every float input is float16 there
        feeds = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in feeds.items()}
    b = got.run(None, feeds)[0].astype(int)
    assert np.abs(a - b).max() <= 1


def test_builder_takes_an_engine_with_weights_and_mix_state(tmp_path, monkeypatch):
    """A colour engine's extra inputs have fixed shapes: only the image gets an optimisation profile."""
    from livestyle.export.engine_pack import random_engine_pack

    calls: dict = {}
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(10, calls))
    folder = random_engine_pack(tmp_path, ["a", "b"], seed=1)
    target = BuildTarget(trt_version="10.1.0.5", gpu_name="Fake GPU", compute_capability="9.0")
    cache = EngineCache(tmp_path / "engines")
    cache.ensure_private()
    entry = ensure_engine_entry(folder / "engine.onnx", (160, 96), "fp16", cache=cache, target=target)
    assert entry.path.read_bytes() == b"ENGINE-BYTES"
    assert calls["profile"] == ("bgr", (1, 96, 160, 3), (1, 96, 160, 3), (1, 96, 160, 3))
    assert [i.name for i in calls["parsed"].graph.input] == ["bgr", "weights", "mix_state", "mix_rate"]
    assert [o.name for o in calls["parsed"].graph.output] == ["out", "mix_next"]


@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_preparation_keeps_an_engine_with_a_texture_look(tmp_path, fp16):
    """The FP16 rewrite reaches into the texture look's If branch; uint8 is only ever touched by casts."""
    import onnx
    import onnxruntime as ort
    import torch

    from livestyle.export.lut import random_looks
    from livestyle.models.student import Student, StudentConfig
    from livestyle.export.engine_pack import write_engine_pack

    torch.manual_seed(0)
    student = Student(StudentConfig(stem=8, width=8, blocks=1, expansion=2)).eval()
    folder, _ = write_engine_pack(tmp_path, [("a", random_looks(1, seed=2)[0], {}), ("drawn", student, {})],
                                  folder_name="eng")
    prepared = eng.prepare_onnx_for_tensorrt(folder / "engine.onnx", tmp_path / "trt.onnx", fp16=fp16)
    model = onnx.load(str(prepared))

    def uint8_readers(graph):
        found = [n.op_type for n in graph.node if "bgr" in n.input]
        for n in graph.node:
            for a in n.attribute:
                if a.HasField("g"):
                    found += uint8_readers(a.g)
        return found

    assert set(uint8_readers(model.graph)) == {"Cast"}
    ref = ort.InferenceSession(str(folder / "engine.onnx"), providers=["CPUExecutionProvider"])
    got = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 256, (1, 72, 128, 3), dtype=np.uint8)
    for w in ([1.0, 0.0], [0.0, 1.0], [0.4, 0.6]):
        wt = np.array([w], np.float32)
        feeds = still_feeds(ref, x, wt)
        a = ref.run(None, feeds)[0].astype(int)
        if fp16:
            feeds = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in feeds.items()}
        b = got.run(None, feeds)[0].astype(int)
        diff = np.abs(a - b)
        assert diff.max() <= (3 if fp16 else 0) and diff.mean() < (0.3 if fp16 else 1e-9), (w, diff.max())
