"""Output paths: a report or any output is a regular file or a new name, never a device, a pipe, a socket, a folder,
an input or another program's file of another kind.  Through the real CLI in a subprocess, on real files and nodes.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from livestyle.errors import UsageError
from livestyle.fsutil import check_output_path, write_json_atomic
from tests.conftest import cli_env
from tests.support.cli import one_error_line, run_cli
from tests.support.videos import write_test_video


def cli(args, home: Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(args, home, cwd, timeout=timeout)


def full_device(tmp_path: Path) -> Path:
    """A private copy of /dev/full (char 1,7) in ``tmp_path``: what a run may not replace, without risking the
    machine's own /dev/full when the test runs before the fix."""
    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, AttributeError):
        pytest.skip("mknod needs root (CAP_MKNOD)")
    return node


def unix_socket(tmp_path: Path) -> tuple[Path, socket.socket]:
    path = tmp_path / "sock.json"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    return path, s


@pytest.fixture
def specials(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    sock, s = unix_socket(tmp_path)
    yield {"device": full_device(tmp_path), "pipe": fifo, "socket": sock}
    s.close()


KINDS = {"device": ("character device", stat.S_ISCHR), "pipe": ("named pipe", stat.S_ISFIFO),
         "socket": ("socket", stat.S_ISSOCK)}


@pytest.mark.parametrize("what", sorted(KINDS))
def test_run_report_to_a_device_pipe_or_socket_is_refused_and_the_node_kept(tmp_path, specials, what):
    node = specials[what]
    r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--report", node], tmp_path / "h",
            tmp_path, timeout=60)
    words, is_kind = KINDS[what]
    assert f"is a {words}, not a regular file" in one_error_line(r)
    assert is_kind(os.lstat(node).st_mode)


def test_run_and_eval_report_over_a_video_is_refused_and_the_video_kept(tmp_path):
    video = write_test_video(tmp_path / "talk.mp4", frames=10)
    before = video.read_bytes()
    for args in (["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--report", video],
                 ["eval", "pastel", "--report", video, "--test-images", 1, "--frames", 2]):
        line = one_error_line(cli(args, tmp_path / "h", tmp_path))
        assert "already exists and is not a JSON file" in line and "ending in .json" in line, line
        assert video.read_bytes() == before


def test_eval_report_onto_its_own_clip_through_a_link_is_refused(tmp_path):
    clip = write_test_video(tmp_path / "clip.avi", frames=10)
    before = clip.read_bytes()
    (tmp_path / "r.json").symlink_to(clip)
    line = one_error_line(cli(["eval", "pastel", "--clip", clip, "--report", tmp_path / "r.json"], tmp_path / "h",
                              tmp_path))
    assert "is the same file as --clip" in line
    assert clip.read_bytes() == before


def test_run_report_to_a_folder_is_refused(tmp_path):
    (tmp_path / "reports").mkdir()
    assert "is a folder" in one_error_line(cli(["run", "--input", "demo", "--output", "null", "--report",
                                                tmp_path / "reports"], tmp_path / "h", tmp_path, timeout=60))


def test_a_json_report_replaces_an_earlier_report_or_a_json_text_file(tmp_path):
    old = tmp_path / "r.json"
    old.write_text('{"old": 1}')
    txt = tmp_path / "notes.txt"
    txt.write_text('  [1, 2]\n')
    r = cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--report", old, "--quiet"],
            tmp_path / "h", tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(old.read_text())["frames_out"] == 2
    assert check_output_path(txt, flag="--report", kind="json") == txt
    assert check_output_path(tmp_path / "new.mp4", flag="--report", kind="json")  # a new name takes any suffix


def test_every_atomic_writer_refuses_to_replace_a_device_or_pipe(tmp_path, specials):
    for what in ("device", "pipe"):
        with pytest.raises(UsageError, match="not a regular file"):
            write_json_atomic(specials[what], {"a": 1})
        assert KINDS[what][1](os.lstat(specials[what]).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- folders livestyle replaces: only its own ------------------------------------------------------------------------


def test_train_and_mix_never_replace_a_folder_or_file_that_is_not_a_look(tmp_path):
    from tests.test_training import make_photos

    style, content = make_photos(tmp_path / "data", n=4)
    home = tmp_path / "home"
    styles = home / "styles"
    (styles / "notes").mkdir(parents=True)
    (styles / "notes" / "diary.txt").write_text("mine")
    (styles / "plain").write_text("a file")
    for name, words in (("notes", "is a folder of other files"), ("plain", "is a file")):
        r = cli(["train", "--style-images", style, "--content-images", content, "--name", name, "--steps", 1,
                 "--size", 32, "--no-progress"], home, tmp_path)
        assert words in one_error_line(r)
        m = cli(["mix", name, "--from", "vintage:0.5,pencil:0.5", "--force"], home, tmp_path)
        assert "is not a look" in one_error_line(m)
    assert (styles / "notes" / "diary.txt").read_text() == "mine" and (styles / "plain").read_text() == "a file"


def test_capture_never_reuses_a_frame_name_after_a_gap(tmp_path):
    out = tmp_path / "me"
    out.mkdir()
    (out / "frame-000001.jpg").write_bytes(b"first")
    (out / "frame-000003.jpg").write_bytes(b"third")  # frame 2 was deleted by the user
    r = cli(["capture", "--camera", "demo", "--frames", 2, "--out", out, "--interval", 0, "--min-diff", 0,
             "--no-progress"], tmp_path / "h", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "frame-000001.jpg").read_bytes() == b"first" and (out / "frame-000003.jpg").read_bytes() == b"third"
    assert sorted(p.name for p in out.iterdir()) == ["frame-000001.jpg", "frame-000003.jpg", "frame-000004.jpg",
                                                     "frame-000005.jpg"]


# -- write errors: one line, non-zero, the earlier file kept -------------------------------------------------------


def file_size_limit(limit: int):
    """preexec_fn: writes past ``limit`` bytes per file fail with EFBIG, as ENOSPC on a full disk (no root, no mount)."""
    import resource
    import signal

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # SIG_IGN survives exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def limited_cli(args, home: Path, cwd: Path, limit: int, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livestyle", *map(str, args)], capture_output=True, text=True,
                          env=dict(cli_env(home), OMP_NUM_THREADS="1"), cwd=cwd, timeout=timeout,
                          preexec_fn=file_size_limit(limit))


def test_run_report_on_a_full_disk_is_one_line_and_keeps_the_earlier_report(tmp_path):
    report = tmp_path / "r.json"
    report.write_text('{"earlier": true}')
    r = limited_cli(["run", "--input", "demo", "--output", "null", "--max-frames", 2, "--report", report, "--quiet"],
                    tmp_path / "h", tmp_path, limit=300)
    line = one_error_line(r)
    assert f"Cannot write {str(report)!r}: File too large (the earlier file of that name is kept)" in line, line
    assert report.read_text() == '{"earlier": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary file left


@pytest.mark.parametrize("blocker", ["home", "styles"])
def test_mix_and_train_where_a_file_stands_for_the_styles_folder_is_one_line(tmp_path, blocker):
    from tests.test_training import make_photos

    style, content = make_photos(tmp_path / "data", n=4)
    home = tmp_path / "home"
    if blocker == "home":
        home.write_text("not a folder")  # LIVESTYLE_HOME pointing at a file
        in_the_way = home
    else:
        home.mkdir()
        (home / "styles").write_text("not a folder")  # the styles folder cannot be made (root ignores chmod)
        in_the_way = home / "styles"
    m = cli(["mix", "mine", "--from", "vintage:0.5,pencil:0.5"], home, tmp_path)
    assert f"{str(in_the_way)!r} is a file, not a folder" in one_error_line(m)
    t = cli(["train", "--style-images", style, "--content-images", content, "--name", "t", "--steps", 1, "--size", 32,
             "--no-progress"], home, tmp_path)
    assert f"{str(in_the_way)!r} is a file, so no folder can be made there" in one_error_line(t)
    assert cli(["styles"], home, tmp_path).returncode == 0


def test_train_export_on_a_full_disk_is_one_line_and_keeps_the_installed_look(tmp_path):
    from tests.test_training import make_photos

    style, content = make_photos(tmp_path / "data", n=4)
    home = tmp_path / "home"
    first = cli(["train", "--style-images", style, "--content-images", content, "--name", "t", "--steps", 1,
                 "--size", 32, "--no-progress"], home, tmp_path)
    assert first.returncode == 0, first.stderr
    pack = home / "styles" / "t"
    before = {p.name: p.read_bytes() for p in pack.iterdir()}
    assert len(before["engine.onnx"]) > 50_000
    # the run is complete, so the resume only exports: engine.onnx is the first file over the limit
    r = limited_cli(["train", "--name", "t", "--resume", "--no-progress"], home, tmp_path, limit=50_000)
    line = one_error_line(r)
    assert "File too large" in line and "any look installed before are kept" in line, line
    assert line.endswith("then go on with: livestyle train --name t --resume")
    assert {p.name: p.read_bytes() for p in pack.iterdir()} == before
    assert sorted(p.name for p in pack.parent.iterdir()) == ["t"]  # no half-built pack beside it


def test_train_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path):
    from tests.test_training import make_photos

    style, content = make_photos(tmp_path / "data", n=4)
    # the colour run's checkpoint (several MB) is the first file over 1 MB: safetensors reports it as its own error
    r = limited_cli(["train", "--style-images", style, "--content-images", content, "--name", "t", "--steps", 2,
                     "--size", 32, "--no-progress", "--run-dir", tmp_path / "run"], tmp_path / "home", tmp_path,
                    limit=1_000_000)
    line = one_error_line(r)
    assert f"Training could not write {str(tmp_path / 'run' / 'checkpoint.safetensors')!r} (File too large)" in line
    assert "then go on with: livestyle train --name t --run-dir" in line, line
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []
    assert not (tmp_path / "home" / "styles" / "t").exists()


def test_run_output_and_bench_out_onto_a_pipe_are_refused(tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    r = cli(["run", "--input", "demo", "--output", fifo, "--max-frames", 2], tmp_path / "h", tmp_path, timeout=60)
    assert "is a named pipe, not a regular file" in one_error_line(r)
    b = cli(["bench", "--seconds", 1, "--out", fifo], tmp_path / "h", tmp_path, timeout=60)
    assert "is a named pipe, not a regular file" in one_error_line(b)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_texture_pack_export_killed_hard_is_tidied_by_the_next_one(tmp_path):
    """write_pack goes through fsutil.atomic_dir: what a kill -9 mid-export leaves is removed by the next export."""
    code = (
        "import sys, torch\n"
        "from livestyle.models.student import Student, StudentConfig\n"
        "from livestyle.models.teacher import ResnetGenerator, TeacherConfig\n"
        "from livestyle.training.packs import write_pack\n"
        "torch.manual_seed(0)\n"
        "s, t = Student(StudentConfig(stem=8, width=16, blocks=1)), ResnetGenerator(TeacherConfig(width=8, blocks=1))\n"
        "meta = {'name': 'p', 'student': s.cfg.to_dict(), 'teacher': t.cfg.to_dict()}\n"
        "while True:\n"
        "    write_pack(sys.argv[1], 'p', student=s, teacher=t, meta=meta)\n"
        "    print('exported', flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "exported"
        p.stdout.readline()  # a second one done: the third is under way
        import time

        time.sleep(0.2)
        p.kill()
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    import torch

    from livestyle.models.student import Student, StudentConfig
    from livestyle.models.teacher import ResnetGenerator, TeacherConfig
    from livestyle.training.packs import load_student, write_pack

    s, t = Student(StudentConfig(stem=8, width=16, blocks=1)), ResnetGenerator(TeacherConfig(width=8, blocks=1))
    write_pack(tmp_path, "p", student=s, teacher=t, meta={"name": "p", "student": s.cfg.to_dict(),
                                                           "teacher": t.cfg.to_dict()})
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p"]
    assert torch.equal(load_student(tmp_path / "p").down1.weight, s.down1.weight)


def test_run_report_onto_the_input_video_through_a_link_is_refused(tmp_path):
    video = write_test_video(tmp_path / "in.mp4", frames=10)
    before = video.read_bytes()
    (tmp_path / "r.json").symlink_to(video)
    r = cli(["run", "--input", video, "--output", "null", "--report", tmp_path / "r.json"], tmp_path / "h", tmp_path,
            timeout=60)
    assert "is the same file as --input" in one_error_line(r)
    assert video.read_bytes() == before
