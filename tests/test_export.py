"""ONNX export under the runtime contract, parity, pack writing/loading, and the MAC budget."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from livestyle.errors import ModelError, StyleError, TrainingError
from livestyle.export.onnx import check_parity, export_onnx
from livestyle.models.student import Student, StudentConfig
from livestyle.models.teacher import ResnetGenerator, TeacherConfig
from livestyle.styles.nets import load_teacher
from livestyle.training.packs import load_student, write_pack

ROOT = Path(__file__).resolve().parents[1]


def _macs_module():
    spec = importlib.util.spec_from_file_location("bench_macs", ROOT / "benchmarks" / "macs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("cfg", [StudentConfig(), StudentConfig(stem=8, width=24, blocks=2, expansion=3)])
def test_export_contract_and_parity(tmp_path, cfg):
    torch.manual_seed(0)
    net = Student(cfg).eval()
    path = export_onnx(net, tmp_path / "s.onnx", sample_size=(64, 64))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "bgr" and inp.type == "tensor(uint8)" and out.name == "out" and out.type == "tensor(uint8)"
    rng = np.random.default_rng(0)
    for w, h in ((64, 48), (320, 180)):  # other sizes than the traced one
        x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        y = sess.run(None, {"bgr": x})[0]
        assert y.shape == (1, h, w, 3) and y.dtype == np.uint8
    assert check_parity(net, path) <= 1


def test_parity_detects_a_different_graph(tmp_path):
    torch.manual_seed(0)
    a, b = Student().eval(), Student().eval()
    path = export_onnx(a, tmp_path / "a.onnx")
    assert check_parity(b, path) > 1  # a net that is not the exported one is caught


def _nets():
    torch.manual_seed(1)
    return Student(StudentConfig(stem=8, width=16, blocks=1)), ResnetGenerator(TeacherConfig(width=8, blocks=1))


def test_write_pack_installs_atomically_and_loads_back(tmp_path):
    student, teacher = _nets()
    meta = {"name": "p", "student": student.cfg.to_dict(), "teacher": teacher.cfg.to_dict()}
    pack, parity = write_pack(tmp_path, "p", student=student, teacher=teacher, meta=meta)
    assert parity <= 1 and json.loads((pack / "style.json").read_text())["metrics"]["export_parity_uint8"] == parity
    s2, t2 = load_student(pack), load_teacher(pack)
    for k, v in student.state_dict().items():
        assert torch.equal(v, s2.state_dict()[k])
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, t2.state_dict()[k])
    # a second export replaces the first; a failing export leaves the installed pack alone
    torch.manual_seed(5)
    other = Student(student.cfg)
    write_pack(tmp_path, "p", student=other, teacher=teacher, meta=meta)
    assert torch.equal(load_student(pack).down1.weight, other.down1.weight)
    with pytest.raises(TrainingError, match="differs from PyTorch"):
        write_pack(tmp_path, "p", student=student, teacher=teacher, meta=meta, parity_limit=-1)
    assert torch.equal(load_student(pack).down1.weight, other.down1.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no temporary folders left


def test_loading_a_damaged_pack_is_a_style_error(tmp_path):
    student, teacher = _nets()
    meta = {"name": "p", "student": student.cfg.to_dict(), "teacher": teacher.cfg.to_dict()}
    pack, _ = write_pack(tmp_path, "p", student=student, teacher=teacher, meta=meta)
    (pack / "teacher.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(StyleError, match="corrupt"):
        load_teacher(pack)
    (pack / "student.safetensors").unlink()
    # the one pack-weight loader (shared with the torch runners) says it as a ModelError
    with pytest.raises(ModelError, match="no student.safetensors"):
        load_student(pack)


def test_mac_counter_and_student_budget():
    macs = _macs_module()
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                         nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1))
    # 16*16*8*3*9 + 16*16*8*1*9 + (input 16*16*8)*4*9
    assert macs.count_macs(conv, (16, 16)) == 16 * 16 * 8 * 27 + 16 * 16 * 8 * 9 + 16 * 16 * 8 * 36
    teacher = macs.count_macs(ResnetGenerator(TeacherConfig(width=64, blocks=9)), (256, 256))
    student = macs.count_macs(Student(StudentConfig()), (256, 256))
    assert 45e9 < teacher < 60e9  # the canonical CycleGAN ResNet-9 generator
    assert student <= 0.01 * teacher


def test_residual_teacher_starts_at_the_identity_and_old_configs_load_as_before():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert TeacherConfig().residual is False  # the original CycleGAN output by default
    residual = ResnetGenerator(TeacherConfig(width=8, blocks=1, residual=True))
    with torch.no_grad():
        assert torch.equal(residual(x), x)  # zero-initialised head: no change before training
    plain = ResnetGenerator(TeacherConfig(width=8, blocks=1, residual=False))
    with torch.no_grad():
        assert (plain(x) - x).abs().mean() > 0.1
    # same parameters either way, so the two kinds share checkpoint and pack formats
    assert residual.state_dict().keys() == plain.state_dict().keys()
    # a config written before the fields existed is the original CycleGAN generator
    old = TeacherConfig.from_dict({"width": 8, "blocks": 1})
    assert old.upsample == "transposed" and old.residual is False
    assert TeacherConfig.from_dict(TeacherConfig().to_dict()) == TeacherConfig()
