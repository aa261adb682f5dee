"""`livestyle train` end to end on a tiny configuration: pack, losses, exact resume after kill -9, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

TINY = ["--size", "32", "--teacher-width", "8", "--teacher-blocks", "1", "--disc-width", "16", "--disc-layers", "2",
        "--student-disc-width", "16", "--student-disc-layers", "2", "--threads", "1", "--no-progress"]


def make_photos(root: Path, n: int = 8, seed: int = 1) -> tuple[Path, Path]:
    """Content: gradients with coloured discs.  Style: other such scenes, channel-swapped, brightened, posterised."""
    rng = np.random.default_rng(seed)
    content, style = root / "content", root / "style"
    for d in (content, style / "sub"):
        d.mkdir(parents=True, exist_ok=True)

    def scene(h=80, w=104):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([x / w * 200 + 30, y / h * 180 + 40, np.full_like(x, 120)], -1)
        for _ in range(4):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.circle(img, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(8, 28)), colour, -1)
        return np.clip(img, 0, 255).astype(np.uint8)

    for i in range(n):
        cv2.imwrite(str(content / f"me{i}.png"), scene())
        s = scene().astype(np.float32)[..., ::-1] * 0.7 + 60
        cv2.imwrite(str(style / ("sub" if i % 2 else "") / f"look{i}.jpg"), ((s // 40) * 40).clip(0, 255).astype(np.uint8))
    return style, content


def livestyle(args, env, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "livestyle", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tiny_training_end_to_end_installs_a_playable_pack(tmp_path, env, monkeypatch):
    style, content = make_photos(tmp_path / "data")
    t0 = time.perf_counter()
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "tiny",
                   "--teacher-steps", 120, "--student-steps", 120, "--look", "warm", "--sample-every", 60, *TINY],
                  env, tmp_path)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert elapsed < 60
    pack = tmp_path / "home" / "styles" / "tiny"
    assert sorted(p.name for p in pack.iterdir()) == ["student.onnx", "student.safetensors", "style.json",
                                                      "teacher.safetensors"]
    meta = json.loads((pack / "style.json").read_text())
    assert meta["name"] == "tiny" and meta["look"] == "warm"
    assert meta["teacher"] == {"width": 8, "blocks": 1, "upsample": "resize", "residual": False}
    recipe = meta["recipe"]
    assert recipe["style_images"]["images"] == 8 and recipe["content_images"]["images"] == 8
    # paths relative to the run folder, never the machine's absolute paths (issue 12, item 11)
    assert recipe["style_images"]["folder"] == os.path.relpath(style.resolve(), (tmp_path / "runs" / "tiny").resolve())
    assert "run_dir" not in recipe and str(tmp_path) not in (pack / "style.json").read_text()
    assert recipe["teacher_steps"] == 120 and recipe["student_steps"] == 120 and recipe["size"] == 32
    assert set(recipe["wall_seconds"]) == {"teacher", "student", "export"}
    assert all(v > 0 for v in recipe["wall_seconds"].values())
    assert recipe["machine"]["cores"] == os.cpu_count() and recipe["machine"]["torch"] == torch.__version__
    assert meta["metrics"]["export_parity_uint8"] <= 1
    assert "pixel" in meta["metrics"]["student_final_losses"]

    # the run folder: samples, loss curves, the log
    run = tmp_path / "runs" / "tiny"
    for name in ("samples/teacher-000060.png", "samples/student-000120.png", "losses.png", "checkpoint.safetensors"):
        assert cv2.imread(str(run / name)) is not None or name.endswith("safetensors"), name
    grid = cv2.imread(str(run / "samples" / "student-000120.png"))
    assert grid.shape[0] > grid.shape[1] * 0.5  # three rows: content | teacher | student

    # losses fall on this data: the cycle loss of the teacher, the pixel loss of the student
    rows = _rows(run / "losses.jsonl")
    teacher = [r_["cycle"] for r_ in rows if r_["stage"] == "teacher"]
    student = [r_["pixel"] for r_ in rows if r_["stage"] == "student"]
    assert len(teacher) == 120 and len(student) == 120
    assert np.mean(teacher[-20:]) < 0.9 * np.mean(teacher[:20])
    assert np.mean(student[-20:]) < 0.8 * np.mean(student[:20])

    # the runtime finds it by name, and the weights load without pickle
    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "home"))
    from livestyle.styles import find_style
    from livestyle.styles.nets import load_teacher
    from livestyle.training.packs import load_student

    found = find_style("tiny")
    assert found.path == pack
    student_net, teacher_net = load_student(found), load_teacher(found)
    assert not teacher_net.training
    import onnxruntime as ort

    frame = cv2.resize(cv2.imread(str(content / "me0.png")), (64, 48))
    sess = ort.InferenceSession(str(found.onnx), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"bgr": frame[None]})[0]
    assert out.dtype == np.uint8 and out.shape == (1, 48, 64, 3)
    from livestyle.models.student import UInt8BGR

    with torch.no_grad():
        ref = UInt8BGR(student_net)(torch.from_numpy(frame[None])).numpy()
    assert np.abs(ref.astype(int) - out.astype(int)).max() <= 1
    with torch.no_grad():
        y = teacher_net(torch.zeros(1, 3, 32, 32))
    assert y.shape == (1, 3, 32, 32) and teacher_net.features.shape == (1, 32, 8, 8)

    listed = livestyle(["styles"], env, tmp_path)
    assert listed.returncode == 0 and "tiny" in listed.stdout

    # a second student distilled from this pack's teacher: no CycleGAN stage, the same teacher weights
    r2 = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "tiny2",
                    "--teacher-from", "tiny", "--student-steps", 30, "--consistency-weight", 0, *TINY], env, tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert "no CycleGAN stage" in r2.stderr
    pack2 = tmp_path / "home" / "styles" / "tiny2"
    assert (pack2 / "teacher.safetensors").read_bytes() == (pack / "teacher.safetensors").read_bytes()
    meta2 = json.loads((pack2 / "style.json").read_text())
    assert meta2["recipe"]["teacher_from"] == "tiny" and meta2["recipe"]["teacher_steps"] == 0
    assert meta2["recipe"]["losses"]["w_consistency"] == 0
    assert {r_["stage"] for r_ in _rows(tmp_path / "runs" / "tiny2" / "losses.jsonl")} == {"student"}

    # a third: colours and tone from a colour look, detail from the teacher (the blur split)
    r3 = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "tiny3",
                    "--teacher-from", "tiny", "--base-from", "pastel", "--split", "blur", "--split-sigma", 2,
                    "--student-steps", 20, *TINY], env, tmp_path)
    assert r3.returncode == 0, r3.stderr
    assert "colours and tone from the colour look 'pastel'" in r3.stderr
    recipe3 = json.loads((tmp_path / "home" / "styles" / "tiny3" / "style.json").read_text())["recipe"]
    assert recipe3["base_from"] == "pastel" and recipe3["split"] == "blur" and recipe3["split_sigma"] == 2
    assert recipe3["losses"]["w_adversarial"] == 1.0
    # a fourth, with the default split: only the teacher's dark strokes, and no adversarial term
    r4 = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "tiny4",
                    "--teacher-from", "tiny", "--base-from", "pastel", "--student-steps", 10, *TINY], env, tmp_path)
    assert r4.returncode == 0, r4.stderr
    assert "only its dark strokes narrower than 5 px" in r4.stderr and "no adversarial term" in r4.stderr
    recipe4 = json.loads((tmp_path / "home" / "styles" / "tiny4" / "style.json").read_text())["recipe"]
    assert recipe4["split"] == "strokes" and recipe4["stroke_radius"] == 2
    assert recipe4["losses"]["w_adversarial"] == 0.0
    rows4 = _rows(tmp_path / "runs" / "tiny4" / "losses.jsonl")
    assert rows4 and not any("D" in r_ or "adv" in r_ for r_ in rows4)  # its discriminator was never trained
    played = livestyle(["run", "--style", "tiny", "--input", "demo", "--output", "null", "--max-frames", "5"],
                       env, tmp_path)
    assert played.returncode == 0, played.stderr


def _wait_for_checkpoint(proc, sidecar: Path, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("training finished before it could be killed; make the run longer")
        try:
            state = json.loads(sidecar.read_text())
            if "step" in state:  # the colour path has one stage
                return int(state["step"])
            return int(state["teacher_step"]) + int(state["student_step"])
        except (OSError, ValueError):
            time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def test_resume_after_kill_9_is_exact(tmp_path, env):
    style, content = make_photos(tmp_path / "data")
    common = ["train", "--style-images", style, "--content-images", content, "--teacher-steps", 150,
              "--student-steps", 100, "--checkpoint-every", 10, *TINY]
    cmd = [sys.executable, "-m", "livestyle"]
    straight = subprocess.Popen([*cmd, *map(str, common), "--name", "a"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen([*cmd, *map(str, common), "--name", "b"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        at = _wait_for_checkpoint(victim, tmp_path / "runs" / "b" / "checkpoint.json")
        time.sleep(0.05)  # let it run past the checkpoint: those steps are lost and redone
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "home" / "styles" / "b").exists()
    state = json.loads((tmp_path / "runs" / "b" / "checkpoint.json").read_text())
    resumed_at = state["teacher_step"] + state["student_step"]
    assert resumed_at >= at and resumed_at < 250

    # --resume needs no data flags: the checkpoint holds the configuration
    r = livestyle(["train", "--name", "b", "--resume", "--threads", "1", "--no-progress"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"resumed from step {resumed_at} " in r.stderr
    out, err = straight.communicate(timeout=120)
    assert straight.returncode == 0, err
    assert "resumed" not in err

    from safetensors.torch import load_file

    for fname in ("teacher.safetensors", "student.safetensors"):
        a = load_file(str(tmp_path / "home" / "styles" / "a" / fname))
        b = load_file(str(tmp_path / "home" / "styles" / "b" / fname))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (fname, k)
    # the logs agree step by step too (the resumed run dropped the steps it redid)
    la, lb = _rows(tmp_path / "runs" / "a" / "losses.jsonl"), _rows(tmp_path / "runs" / "b" / "losses.jsonl")
    assert len(la) == len(lb) == 250 and la == lb


def _bad_case(tmp_path: Path, case: str) -> list:
    style, content = make_photos(tmp_path / "data", n=5)
    base = ["--name", "x", *TINY, "--teacher-steps", 2, "--student-steps", 2]
    if case == "missing":
        return ["train", "--style-images", tmp_path / "nowhere", "--content-images", content, *base]
    if case == "empty":
        (tmp_path / "empty").mkdir()
        return ["train", "--style-images", style, "--content-images", tmp_path / "empty", *base]
    if case == "too_few":
        few = tmp_path / "few"
        few.mkdir()
        for p in sorted(content.iterdir())[:2]:
            (few / p.name).write_bytes(p.read_bytes())
        return ["train", "--style-images", style, "--content-images", few, *base]
    if case == "corrupt_images":
        bad = tmp_path / "bad"
        bad.mkdir()
        for i in range(5):
            (bad / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated " + bytes([i]) * 50)
        return ["train", "--style-images", bad, "--content-images", content, *base]
    if case == "resume_without_checkpoint":
        return ["train", "--style-images", style, "--content-images", content, "--resume", *base]
    if case == "corrupt_checkpoint":
        run = tmp_path / "runs" / "x"
        run.mkdir(parents=True)
        (run / "checkpoint.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
        return ["train", "--style-images", style, "--content-images", content, "--resume", *base]
    if case == "checkpoint_exists":
        run = tmp_path / "runs" / "x"
        run.mkdir(parents=True)
        (run / "checkpoint.safetensors").write_bytes(b"whatever")
        return ["train", "--style-images", style, "--content-images", content, *base]
    if case == "cuda_without_cuda":
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        return ["train", "--style-images", style, "--content-images", content, "--device", "cuda", *base]
    if case == "bad_size":
        return ["train", "--style-images", style, "--content-images", content, *base, "--size", "30"]
    if case == "unknown_teacher":
        return ["train", "--style-images", style, "--content-images", content, "--name", "x", *TINY,
                "--student-steps", 2, "--teacher-from", "nope"]
    if case == "split_without_base":
        return ["train", "--style-images", style, "--content-images", content, *base, "--split-sigma", "3"]
    if case == "strokes_without_base":
        return ["train", "--style-images", style, "--content-images", content, *base, "--split", "strokes"]
    if case == "sigma_with_strokes":
        return ["train", "--style-images", style, "--content-images", content, *base, "--base-from", "pastel",
                "--split", "strokes", "--split-sigma", "3"]
    if case == "radius_with_blur":
        return ["train", "--style-images", style, "--content-images", content, *base, "--base-from", "pastel",
                "--split", "blur", "--stroke-radius", "3"]
    if case == "sigma_with_default_split":
        return ["train", "--style-images", style, "--content-images", content, *base, "--base-from", "pastel",
                "--split-sigma", "3"]
    if case == "negative_adversarial":
        return ["train", "--style-images", style, "--content-images", content, *base, "--adversarial-weight", "-1"]
    if case == "teacher_from_and_steps":
        return ["train", "--style-images", style, "--content-images", content, *base, "--teacher-from", "pastel",
                "--teacher-steps", "10"]
    raise AssertionError(case)


@pytest.mark.parametrize("case,expect", [
    ("missing", "does not exist"),
    ("empty", "Found 0 usable content images"),
    ("too_few", "Found 2 usable content images"),
    ("corrupt_images", "5 of 5 files skipped"),
    ("resume_without_checkpoint", "No checkpoint to resume from"),
    ("corrupt_checkpoint", "is corrupt"),
    ("checkpoint_exists", "already holds a checkpoint"),
    ("cuda_without_cuda", "sees no CUDA GPU"),
    ("bad_size", "multiple of 4"),
    ("unknown_teacher", "Unknown style 'nope'"),
    ("teacher_from_and_steps", "--teacher-from takes a finished teacher"),
    ("split_without_base", "--split-sigma only applies with --base-from"),
    ("strokes_without_base", "--split only applies with --base-from"),
    ("sigma_with_strokes", "--split-sigma only applies with --split blur"),
    ("radius_with_blur", "--stroke-radius only applies with --split strokes"),
    ("sigma_with_default_split", "--split-sigma only applies with --split blur"),
    ("negative_adversarial", "--adversarial-weight must be >= 0"),
])
def test_bad_input_is_one_clear_line(tmp_path, env, case, expect):
    r = livestyle(_bad_case(tmp_path, case), env, tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("livestyle: error:") and expect in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "home" / "styles" / "x").exists()


def test_lr_schedule_and_consistency_loss():
    from livestyle.training.losses import consistency, random_similarity, warp
    from livestyle.training.colour import LR_FLOOR
    from livestyle.training.loop import lr_at

    # the CycleGAN's schedule: constant for half the steps, then linear to 0
    assert lr_at(0, 100, 2e-4) == 2e-4 and lr_at(49, 100, 2e-4) == 2e-4
    assert lr_at(75, 100, 2e-4) == pytest.approx(1e-4) and lr_at(100, 100, 2e-4) == 0.0
    # the colour look's: the same, but down to a tenth
    assert LR_FLOOR == 0.1 and lr_at(49, 100, 2e-3, LR_FLOOR) == 2e-3
    assert lr_at(75, 100, 2e-3, LR_FLOOR) == pytest.approx(2e-3 * 0.55) and lr_at(100, 100, 2e-3, LR_FLOOR) == pytest.approx(2e-4)
    # the same floats, step by step, as the two schedules had before they became one function
    for total in (1, 7, 100, 801):
        for step in range(total + 2):
            half = total // 2
            frac = (step - half) / max(1, total - half)
            assert lr_at(step, total, 2e-4) == (2e-4 if step < half else 2e-4 * max(0.0, 1.0 - frac))
            assert lr_at(step, total, 2e-3, LR_FLOOR) == (2e-3 if step < half else 2e-3 * (1.0 - 0.9 * min(1.0, frac)))
    rng = np.random.default_rng(0)
    theta = random_similarity(rng, 2, 32)
    assert theta.shape == (2, 2, 3)
    assert torch.all((theta[:, 0, 0] - 1).abs() <= 0.05) and torch.all(theta[:, :, 2].abs() <= 4 * 2 / 32 + 1e-6)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    # an identity "generator" commutes with any warp; a non-equivariant one does not
    assert consistency(warp(x, theta), warp(x, theta), 6).item() == 0.0
    shifted = torch.zeros(1, 2, 3)
    shifted[0, 0, 0] = shifted[0, 1, 1] = 1.0
    shifted[0, 0, 2] = 2 * 2.0 / 32  # exactly 2 px
    ramp = torch.arange(32.0).expand(1, 1, 32, 32).contiguous()
    moved = warp(ramp, shifted)
    assert torch.allclose(moved[..., 4:-4, 4:-4], ramp[..., 4:-4, 6:-2])
    bias = lambda t: t + ramp / 32  # noqa: E731 - position-dependent: not shift-equivariant
    assert consistency(bias(warp(ramp, shifted)), warp(bias(ramp), shifted), 4).item() > 0.01


# -- the colour path (default: adaptive 3D LUTs learned unpaired) -------------------------------------------------

COLOUR_TINY = ["--size", "32", "--batch", "2", "--no-progress"]


def test_colour_look_by_default_installs_an_engine_and_reports_what_it_learned(tmp_path, env):
    style, content = make_photos(tmp_path / "data")
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "warmish",
                   "--steps", 40, "--sample-every", 20, *COLOUR_TINY], env, tmp_path)
    assert r.returncode == 0, r.stderr
    pack = tmp_path / "home" / "styles" / "warmish"
    assert sorted(p.name for p in pack.iterdir()) == ["engine.onnx", "engine.safetensors", "style.json"]
    meta = json.loads((pack / "style.json").read_text())
    assert meta["format_version"] == 3 and [lk["name"] for lk in meta["looks"]] == ["warmish"]
    look = meta["looks"][0]
    assert look["recipe"]["trainer"] == "colour" and look["recipe"]["steps"] == 40
    assert meta["engine"]["export_parity_uint8"] <= 1
    held = look["metrics"]["heldout"]
    assert held["colour_distance_styled"] >= 0 and held["warping_error_ratio"] > 0
    # the last lines say what it learned, its fidelity and its flicker on held-out images
    last = r.stdout.strip().splitlines()
    assert last[0].startswith("learned: ") and "colour distance to the style photos" in last[1]
    assert "flicker" in last[1] and "installed at" in last[-1]
    assert (tmp_path / "runs" / "warmish" / "samples" / "latest.png").is_file()
    curves = cv2.imread(str(tmp_path / "runs" / "warmish" / "losses.png"))  # one panel: the colour stage
    assert curves is not None and curves.shape[0] == 320 and (curves < 250).any()
    # it plays through the runtime's ONNX Runtime runner
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    from livestyle.styles.pack import load_pack

    runner = OnnxRuntimeRunner(load_pack(pack), infer_size=(48, 36))
    runner.activate()
    out = runner.infer(np.full((36, 48, 3), 100, np.uint8), weights=np.ones(1, np.float32))
    assert out.shape == (36, 48, 3) and out.dtype == np.uint8


def test_colour_resume_after_kill_9_is_exact(tmp_path, env):
    style, content = make_photos(tmp_path / "data")
    common = ["train", "--style-images", style, "--content-images", content, "--steps", 60,
              "--checkpoint-every", 5, "--threads", "1", *COLOUR_TINY]
    cmd = [sys.executable, "-m", "livestyle"]
    straight = subprocess.Popen([*cmd, *map(str, common), "--name", "a"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen([*cmd, *map(str, common), "--name", "b"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_checkpoint(victim, tmp_path / "runs" / "b" / "checkpoint.json")
        time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    state = json.loads((tmp_path / "runs" / "b" / "checkpoint.json").read_text())
    assert state["trainer"] == "colour" and 0 < state["step"] < 60
    r = livestyle(["train", "--name", "b", "--resume", "--no-progress"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"resumed from step {state['step']}/60" in r.stderr
    _, err = straight.communicate(timeout=120)
    assert straight.returncode == 0, err
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "home" / "styles" / "a" / "engine.safetensors"))
    b = load_file(str(tmp_path / "home" / "styles" / "b" / "engine.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = _rows(tmp_path / "runs" / "a" / "losses.jsonl"), _rows(tmp_path / "runs" / "b" / "losses.jsonl")
    assert len(la) == len(lb) == 60 and la == lb


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_sigterm_and_sighup_save_and_say_how_to_resume(tmp_path, env, sig):
    style, content = make_photos(tmp_path / "data")
    args = ["train", "--style-images", style, "--content-images", content, "--name", "s", "--steps", 5000,
            "--checkpoint-every", 1000, "--run-dir", tmp_path / "myrun", *COLOUR_TINY]
    p = subprocess.Popen([sys.executable, "-m", "livestyle", *map(str, args)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "myrun" / "losses.jsonl"
        deadline = time.time() + 90
        while time.time() < deadline and not (log.is_file() and log.read_text().count("\n") >= 3):
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == (130 if sig == signal.SIGINT else 143), err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("livestyle: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"stopped by {signal.Signals(sig).name}" in lines[0]
    resume = lines[0].split("Resume exactly where it stopped with: ", 1)[1]
    assert resume == f"livestyle train --name s --run-dir {tmp_path / 'myrun'} --resume"
    state = json.loads((tmp_path / "myrun" / "checkpoint.json").read_text())
    assert state["step"] >= 3
    # the printed command continues the run
    r = livestyle([*resume.split()[1:], "--steps", state["step"] + 2, "--no-progress"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"resumed from step {state['step']}/" in r.stderr


@pytest.mark.parametrize("flags,words", [
    (["--size", "16"], "--size 16 is not usable"),
    (["--lr", "-1"], "--lr -1.0 is not usable"),
    (["--threads", "-1"], "--threads -1 is not usable"),
    (["--seed", "-1"], "--seed -1 is not usable"),
    (["--disc-layers", "0"], "--disc-layers 0 is not usable"),
    (["--kind", "texture", "--size", "16", "--teacher-steps", "2", "--student-steps", "2"],
     "--disc-layers 3 needs crops of at least 24 px"),
    (["--kind", "texture", "--disc-layers", "0", "--teacher-steps", "2"], "--disc-layers 0 is not usable"),
    (["--out", "FILE/styles"], "is a file, so no folder can be made there"),
])
def test_bad_flags_fail_before_training_in_one_line(tmp_path, env, flags, words):
    style, content = make_photos(tmp_path / "data", n=5)
    (tmp_path / "FILE").write_text("a file, not a folder")
    flags = [str(tmp_path / f) if f.startswith("FILE") else f for f in flags]
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "x",
                   "--no-progress", *flags], env, tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livestyle: error:") and words in lines[0], r.stderr
    assert "colour look:" not in r.stderr and "teacher:" not in r.stderr  # nothing trained
    assert not (tmp_path / "runs" / "x" / "checkpoint.safetensors").exists()



def test_sigterm_on_the_texture_path_saves_and_says_how_to_resume(tmp_path, env):
    style, content = make_photos(tmp_path / "data")
    args = ["train", "--style-images", style, "--content-images", content, "--name", "t", "--teacher-steps", 5000,
            "--student-steps", 10, "--checkpoint-every", 1000, *TINY]
    p = subprocess.Popen([sys.executable, "-m", "livestyle", *map(str, args)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        log = tmp_path / "runs" / "t" / "losses.jsonl"
        deadline = time.time() + 90
        while time.time() < deadline and not (log.is_file() and log.read_text().count("\n") >= 3):
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, err
    line = [ln for ln in err.splitlines() if ln.startswith("livestyle: error:")]
    assert len(line) == 1 and "stopped by SIGTERM" in line[0]
    assert line[0].endswith("Resume exactly where it stopped with: livestyle train --name t --resume")
    state = json.loads((tmp_path / "runs" / "t" / "checkpoint.json").read_text())
    assert state["teacher_step"] >= 3


def test_train_help_states_the_colour_defaults_that_apply():
    """`livestyle train --help` is read by people choosing flags: its stated defaults must be the real ones."""
    import argparse
    import re

    from livestyle.training.cli import add_parsers
    from livestyle.training.colour import ColourConfig

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="cmd"))
    helps = {a.dest: a.help for a in parser._subparsers._group_actions[0].choices["train"]._actions}
    assert re.search(r"\(default (\d+)\)", helps["steps"]).group(1) == str(ColourConfig.steps)
    assert re.search(r"colour: default (\d+)", helps["size"]).group(1) == str(ColourConfig.size)


def test_black_and_white_style_photos_pick_their_own_settings():
    from livestyle.training.colour import GREY_SETTINGS, ColourConfig, auto_settings

    rng = np.random.default_rng(0)
    content = torch.from_numpy(rng.uniform(-1, 1, (5000, 3)).astype(np.float32))
    grey = content.mean(dim=1, keepdim=True).expand(-1, 3) + 0.01 * torch.randn(5000, 3)
    base = ColourConfig(style_images="s", content_images="c", name="n", out_dir="o", run_dir="r")
    cfg, line = auto_settings(base, grey, content, explicit=set())
    assert {k: getattr(cfg, k) for k in GREY_SETTINGS} == GREY_SETTINGS and "black and white" in line
    assert auto_settings(base, content.flip(0), content, explicit=set()) == (base, None)   # a colour look: unchanged
    cfg, _ = auto_settings(base, grey, content, explicit={"w_cycle"})                      # what the user set stays
    assert cfg.w_cycle == base.w_cycle and cfg.w_pool == GREY_SETTINGS["w_pool"]


def test_without_a_round_trip_the_reverse_student_is_not_trained():
    """w_cycle = 0 (black-and-white looks): F and its discriminator only cost time, so they are skipped."""
    from livestyle.training import dist
    from livestyle.training.colour import ColourConfig, _Run, _step, colour_pool
    from livestyle.training.data import ImageSet

    rng = np.random.default_rng(0)
    colour = [rng.integers(0, 256, (80, 80, 3), dtype=np.uint8) for _ in range(4)]
    grey = [np.repeat(im.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2) for im in colour]
    content = ImageSet(folder=Path("c"), images=colour, files=4, skipped=0, crop=64)
    style = ImageSet(folder=Path("s"), images=grey, files=4, skipped=0, crop=64)
    cfg = ColourConfig(style_images="s", content_images="c", name="n", out_dir="o", run_dir="r", steps=4,
                       w_cycle=0.0, w_pool=10.0, pool_pixels=512, device="cpu")
    ctx = dist.setup("cpu")
    try:
        run = _Run(cfg, ctx)
        before = {k: v.clone() for k, v in {**run.G.state_dict(), **{f"F.{k}": v for k, v in run.F.state_dict().items()},
                                            **{f"DA.{k}": v for k, v in run.D_A.state_dict().items()}}.items()}
        pools = (colour_pool(content.images), colour_pool(style.images))
        for step in range(2):
            values = _step(run, style, content, step, pools)
        assert values["cycle"] == 0.0 and values["pool"] > 0.0
        assert not torch.equal(run.G.basis, before["basis"])                       # G learns
        assert all(torch.equal(v, before[f"F.{k}"]) for k, v in run.F.state_dict().items())
        assert all(torch.equal(v, before[f"DA.{k}"]) for k, v in run.D_A.state_dict().items())
    finally:
        ctx.close()


def test_split_target_takes_colours_from_the_base_look_and_detail_from_the_teacher():
    from livestyle.training.losses import gaussian_blur, split_target

    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    base = (0.5 * (xx / 63.0) - 0.25).expand(1, 3, 64, 64)                                 # smooth colours
    strokes = (0.2 * (-1.0) ** (xx + yy)).expand(1, 3, 64, 64)                             # fine detail
    halo = (0.4 * torch.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 200.0)).expand(1, 3, 64, 64)  # a teacher's blob
    teacher = base + halo + strokes
    got = split_target(teacher, base, 2.0)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    err_teacher = (teacher - (base + strokes))[inner].abs().mean()
    err_split = (got - (base + strokes))[inner].abs().mean()
    assert err_split < 0.1 * err_teacher, (err_split, err_teacher)   # the blob is gone, the strokes stay
    assert torch.allclose(split_target(base, base, 2.0)[inner], base[inner], atol=1e-5)  # nothing to add


def test_stroke_target_draws_the_teachers_dark_lines_without_a_light_band_beside_them():
    """A dark 2 px line and a light blob in the teacher's output, on a flat grey: the stroke split takes the line
    (as dark as the teacher drew it) and nothing else, and never lightens the colour look; the blur split
    leaves a light band either side of the line (the rim the drawn look showed)."""
    from livestyle.training.losses import dark_strokes, split_target, stroke_target

    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    base = torch.full((1, 3, 64, 64), 0.2)
    line = ((xx >= 30) & (xx < 32)).float()
    blob = 0.3 * torch.exp(-((xx - 12) ** 2 + (yy - 12) ** 2) / 30.0)       # a teacher's colour blob
    wide = ((xx >= 44) & (xx < 60)).float()                                  # a dark area, not a stroke
    teacher = (base - 0.6 * line - 0.5 * wide + blob).clamp(-1, 1)
    strokes = stroke_target(teacher, base, radius=2)
    assert torch.all(strokes <= base + 1e-6)                                 # never lighter than the colour look
    assert torch.allclose(strokes[..., 30:32], base[..., 30:32] - 0.6, atol=1e-5)  # the line, as dark as drawn
    assert torch.allclose(strokes[..., 36:42], base[..., 36:42], atol=1e-6)  # beside it: the colour look
    assert torch.allclose(strokes[..., 48:56], base[..., 48:56], atol=1e-6)  # a wide dark area is no stroke
    assert torch.allclose(strokes[..., :20, :20], base[..., :20, :20], atol=0.01)  # a light blob: a trace at most
    blurred = split_target(teacher, base, 2.0)
    assert float((blurred[..., 33:36] - base[..., 33:36]).max()) > 0.05      # the unsharp mask's light band
    assert dark_strokes(teacher, 2).shape == (1, 1, 64, 64) and float(dark_strokes(teacher, 2).min()) >= 0


def test_base_from_must_be_a_colour_look(tmp_path):
    from livestyle.errors import TrainingError
    from livestyle.export.onnx import random_student_pack
    from livestyle.training.trainer import _load_base

    cnn = random_student_pack(tmp_path / "cnn")
    with pytest.raises(TrainingError, match="is not a colour look"):
        _load_base(str(cnn), "cpu")
    with pytest.raises(TrainingError, match="--base-from 'nowhere'"):
        _load_base("nowhere", "cpu")


def test_the_heldout_line_says_further_and_warns_when_the_look_was_not_found():
    from livestyle.training.colour import heldout_lines

    held = {"content_images": 40, "style_images": 40, "colour_distance_input": 17.4, "colour_distance_styled": 8.7,
            "closer_percent": 50.0, "warping_error_ratio": 1.11}
    (line,) = heldout_lines(held)
    assert "17.4 -> 8.7 levels (50% closer)" in line and "flicker" in line
    worse = heldout_lines({**held, "colour_distance_input": 9.0, "colour_distance_styled": 11.4, "closer_percent": -26.7})
    assert len(worse) == 2 and "(27% further)" in worse[0] and "-27%" not in worse[0]
    assert worse[1].startswith("warning: ") and "learned only in part" in worse[1]


def test_black_and_white_style_photos_give_a_look_with_only_their_tint(tmp_path, env):
    """Near-monochrome style photos: the trained look keeps only their own tint (no input colour survives)."""
    style, content = make_photos(tmp_path / "data")
    for p in [*style.rglob("*.jpg")]:
        grey = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2GRAY).astype(np.float32)
        sepia = np.stack([grey * 0.85, grey * 0.95, grey * 1.05], -1)  # BGR: a faint warm tint
        cv2.imwrite(str(p.with_suffix(".png")), sepia.clip(0, 255).astype(np.uint8))
        p.unlink()
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "bw",
                   "--steps", 40, "--sample-every", 20, *COLOUR_TINY], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "near-monochrome style photos" in r.stdout
    pack = tmp_path / "home" / "styles" / "bw"
    assert "tint" in json.loads((pack / "style.json").read_text())["looks"][0]["metrics"]
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    from livestyle.styles.pack import load_pack

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)  # every colour there is
    runner = OnnxRuntimeRunner(load_pack(pack), infer_size=(48, 36))
    runner.activate()
    out = runner.infer(frame, weights=np.ones(1, np.float32)).astype(np.int16)
    chroma = out.max(-1) - out.min(-1)
    assert np.percentile(frame.max(-1).astype(int) - frame.min(-1), 99) > 150
    assert np.percentile(chroma, 99) <= 40, np.percentile(chroma, 99)
