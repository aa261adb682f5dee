"""The torch and TensorRT runners and the backend probes.

On the CPU: TorchRunner against ONNX Runtime on the same pack, its errors,
the probes' reasons, and that importing the runtime pulls in neither torch
nor tensorrt.  On a GPU (marked ``gpu``, skipped elsewhere with the reason):
the CUDA torch runner and the TensorRT runner against ONNX Runtime.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from livestyle.errors import BackendError, ModelError
from livestyle.runners.onnxrt import OnnxRuntimeRunner
from livestyle.runners.pytorch import TorchRunner
from livestyle.runners.tensorrt import TensorRTRunner
from livestyle.styles.pack import load_pack
from tests.conftest import ROOT, cli_env


def _frames(size, n=3, seed=0):
    w, h = size
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n - 1)]
    # a smooth frame too (real images are mostly smooth)
    yy, xx = np.mgrid[0:h, 0:w]
    frames.append(np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                            ((xx + yy) * 127 // max(w + h - 2, 1))], -1).astype(np.uint8))
    return frames


def _diff(a, b) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def _outputs(runner_cls, pack, size, frames, **kw):
    with runner_cls(pack, infer_size=size, **kw) as r:
        return [r.infer(f).copy() for f in frames]


def test_runtime_imports_leave_torch_and_tensorrt_out():
    code = ("import sys\n"
            "import livestyle.runners.pytorch, livestyle.runners.tensorrt, livestyle.runners.trt.cache\n"
            "import livestyle.doctor, livestyle.export.cli\n"
            "print(sorted(m for m in ('torch', 'tensorrt', 'onnx', 'safetensors') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=str(ROOT),
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize("size", [(320, 180), (128, 96)])
def test_torch_cpu_matches_onnxruntime(random_pack, size):
    pack = load_pack(random_pack)
    frames = _frames(size)
    ours = _outputs(TorchRunner, pack, size, frames, device="cpu")
    ref = _outputs(OnnxRuntimeRunner, pack, size, frames)
    w, h = size
    for a, b in zip(ours, ref):
        assert a.shape == (h, w, 3) and a.dtype == np.uint8
        d = _diff(a, b)
        assert d.max() <= 1, d.max()
        assert (d > 0).mean() < 0.01


def test_parity_check_can_fail(random_pack, tmp_path):
    """Another student's output differs by far more than the 1 level allowed above."""
    from livestyle.export.onnx import random_student_pack

    other = load_pack(random_student_pack(tmp_path / "other", name="other", seed=7))
    size = (128, 96)
    frames = _frames(size, n=2)
    a = _outputs(TorchRunner, other, size, frames, device="cpu")
    b = _outputs(OnnxRuntimeRunner, load_pack(random_pack), size, frames)
    assert max(_diff(x, y).max() for x, y in zip(a, b)) > 1


def test_torch_runner_reuses_its_timing_and_checks_frames(random_pack):
    pack = load_pack(random_pack)
    with TorchRunner(pack, infer_size=(64, 48)) as r:
        r.infer(np.zeros((48, 64, 3), np.uint8))
        assert r.last_inference_time > 0
        with pytest.raises(BackendError, match=r"uint8 \(48, 64, 3\)"):
            r.infer(np.zeros((48, 64, 4), np.uint8))
        with pytest.raises(BackendError):
            r.infer(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(BackendError, match="before activate"):
        r.infer(np.zeros((48, 64, 3), np.uint8))
    r.deactivate()  # idempotent


def test_torch_runner_missing_weights_is_a_model_error(random_pack, tmp_path):
    folder = tmp_path / "noweights"
    shutil.copytree(random_pack, folder)
    (folder / "student.safetensors").unlink()
    with pytest.raises(ModelError) as info:
        TorchRunner(load_pack(folder), infer_size=(64, 48)).activate()
    assert "student.safetensors" in str(info.value) and info.value.fix


def test_torch_runner_weights_that_do_not_fit_the_config(random_pack, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(random_pack, folder)
    meta = json.loads((folder / "style.json").read_text())
    meta["student"]["width"] = 48
    (folder / "style.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not fit"):
        TorchRunner(load_pack(folder), infer_size=(64, 48)).activate()


def test_torch_runner_corrupt_weights(random_pack, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(random_pack, folder)
    (folder / "student.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}" + b"\x00" * 64)
    with pytest.raises(ModelError, match="safetensors"):
        TorchRunner(load_pack(folder), infer_size=(64, 48)).activate()


def test_torch_runner_rejects_bad_arguments(random_pack):
    pack = load_pack(random_pack)
    with pytest.raises(BackendError):
        TorchRunner(pack, infer_size=(64, 48), device="tpu")
    with pytest.raises(BackendError, match="multiples of 4"):
        TorchRunner(pack, infer_size=(66, 48)).activate()


def test_probes_give_reasons_and_fixes():
    cpu = TorchRunner.probe()
    assert cpu.name == "torch" and cpu.device == "cpu" and cpu.available and "torch" in cpu.reason
    for status in (TorchRunner.probe_cuda(), TorchRunner.probe("cuda"), TensorRTRunner.probe()):
        assert status.device == "cuda" and status.reason
        if not status.available:
            assert status.fix
    assert TensorRTRunner.probe().name == "tensorrt"


def test_tensorrt_runner_unavailable_raises_backend_error(random_pack):
    status = TensorRTRunner.probe()
    if status.available:
        pytest.skip("TensorRT can run here")
    runner = TensorRTRunner(load_pack(random_pack), infer_size=(64, 48))
    with pytest.raises(BackendError) as info:
        runner.activate()
    assert status.reason in str(info.value) and info.value.fix == status.fix
    runner.deactivate()


def test_backend_statuses_cover_every_backend_in_preference_order():
    from livestyle.doctor import backend_statuses, has_nvidia_driver

    statuses = backend_statuses()
    pairs = [(s.name, s.device) for s in statuses]
    assert sorted(pairs) == sorted([("onnxruntime", "cpu"), ("torch", "cpu"), ("torch", "cuda"),
                                    ("tensorrt", "cuda")])
    if has_nvidia_driver():
        assert pairs[:3] == [("tensorrt", "cuda"), ("torch", "cuda"), ("onnxruntime", "cpu")]
    else:
        assert pairs[0] == ("onnxruntime", "cpu")
        assert not any(s.available for s in statuses if s.device == "cuda")


def test_cuda_infer_size_applies_only_to_a_runner_on_a_gpu(random_pack):
    """`livestyle run` asks for the full frame on CUDA and the CPU size elsewhere, in one build."""
    from livestyle.doctor import has_nvidia_driver
    from livestyle.runners.registry import create_runner

    pack = load_pack(random_pack)
    choice = create_runner("auto", pack, infer_size=(64, 48), cuda_infer_size=(128, 96))
    try:
        expected = (128, 96) if choice.device == "cuda" else (64, 48)
        assert choice.runner.infer_size == expected
        if not has_nvidia_driver():
            assert choice.device == "cpu"
        frame = _frames(expected, n=1)[0]
        assert choice.runner.infer(frame).shape == (expected[1], expected[0], 3)
    finally:
        choice.runner.deactivate()


# ----------------------------------------------------------------------------- GPU


def _need(status):
    if not status.available:
        pytest.skip(f"{status.name} ({status.device}) cannot run here: {status.reason}")


@pytest.mark.gpu
@pytest.mark.parametrize("precision, tolerance", [("fp32", 2), ("fp16", 4)])
def test_torch_cuda_matches_onnxruntime(random_pack, precision, tolerance):
    _need(TorchRunner.probe_cuda())
    pack = load_pack(random_pack)
    size = (320, 180)
    frames = _frames(size)
    ref = _outputs(OnnxRuntimeRunner, pack, size, frames)
    graphed = _outputs(TorchRunner, pack, size, frames, device="cuda", precision=precision)
    eager = _outputs(TorchRunner, pack, size, frames, device="cuda", precision=precision, cuda_graph=False)
    for g, e, r in zip(graphed, eager, ref):
        assert np.array_equal(g, e)  # the CUDA graph replays exactly the eager computation
        d = _diff(g, r)
        assert d.max() <= tolerance and d.mean() < 0.5, (d.max(), d.mean())


@pytest.mark.gpu
def test_torch_cuda_1080p_runs_and_reuses_buffers(random_pack):
    _need(TorchRunner.probe_cuda())
    with TorchRunner(load_pack(random_pack), infer_size=(1920, 1080), device="cuda") as r:
        a = r.infer(np.zeros((1080, 1920, 3), np.uint8))
        b = r.infer(np.full((1080, 1920, 3), 128, np.uint8))
        assert a is b or np.shares_memory(a, b)  # one pinned output buffer, reused
        assert r.last_inference_time > 0


@pytest.mark.gpu
@pytest.mark.parametrize("precision, tolerance", [("fp32", 2), ("fp16", 4)])
def test_tensorrt_matches_onnxruntime(random_pack, tmp_path, precision, tolerance):
    _need(TensorRTRunner.probe())
    from livestyle.runners.trt.cache import EngineCache

    pack = load_pack(random_pack)
    size = (320, 180)
    frames = _frames(size)
    ref = _outputs(OnnxRuntimeRunner, pack, size, frames)
    cache = EngineCache(tmp_path / "engines")
    got = _outputs(TensorRTRunner, pack, size, frames, precision=precision, cache=cache)
    assert cache.builds == 1
    for g, r in zip(got, ref):
        d = _diff(g, r)
        assert d.max() <= tolerance and d.mean() < 0.5, (d.max(), d.mean())
    again = _outputs(TensorRTRunner, pack, size, frames[:1], precision=precision, cache=cache)
    assert cache.builds == 1 and np.array_equal(again[0], got[0])  # loaded from the cache
