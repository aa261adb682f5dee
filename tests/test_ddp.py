"""`livestyle train` under torchrun: two CPU processes (gloo) finish and rank 0 writes the pack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from tests.test_training import TINY, make_photos


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_run_produces_a_pack(tmp_path):
    style, content = make_photos(tmp_path / "data")
    env = dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()),
           "-m", "livestyle", "train", "--style-images", str(style), "--content-images", str(content),
           "--name", "ddp", "--teacher-steps", "20", "--student-steps", "20", "--checkpoint-every", "10",
           "--device", "cpu", *TINY]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    pack = tmp_path / "home" / "styles" / "ddp"
    meta = json.loads((pack / "style.json").read_text())
    assert meta["recipe"]["world_size"] == 2
    assert (pack / "student.onnx").is_file() and (pack / "teacher.safetensors").is_file()
    # one voice: only rank 0 reports, and one log line per step
    assert r.stderr.count("livestyle: teacher: CycleGAN") == 1
    rows = (tmp_path / "runs" / "ddp" / "losses.jsonl").read_text().splitlines()
    assert len(rows) == 40
    # the checkpoint holds both ranks' history pools (they saw different data)
    state = json.loads((tmp_path / "runs" / "ddp" / "checkpoint.json").read_text())
    assert state["world"] == 2 and state["student_step"] == 20


def test_two_process_ddp_colour_run_produces_an_engine(tmp_path):
    """The default colour path under torchrun: both ranks train, rank 0 alone measures and installs."""
    style, content = make_photos(tmp_path / "data")
    env = dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(_free_port()),
           "-m", "livestyle", "train", "--style-images", str(style), "--content-images", str(content),
           "--name", "ddpc", "--steps", "20", "--checkpoint-every", "10", "--size", "32", "--batch", "2",
           "--device", "cpu", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    meta = json.loads((tmp_path / "home" / "styles" / "ddpc" / "style.json").read_text())
    assert meta["looks"][0]["recipe"]["world_size"] == 2
    assert r.stderr.count("livestyle: colour look:") == 1 and r.stdout.count("learned: ") == 1
    assert len((tmp_path / "runs" / "ddpc" / "losses.jsonl").read_text().splitlines()) == 20
    assert json.loads((tmp_path / "runs" / "ddpc" / "checkpoint.json").read_text())["world"] == 2
