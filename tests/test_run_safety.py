"""`livestyle run` never harms a user's file and never calls a broken run a success (pipeline side).

Each case runs the real CLI in a subprocess on real video files and checks
the exit status, the one-line message and that the user's files are intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import cli_env
from tests.support.videos import write_test_video


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(home, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "livestyle", "run", "--style", "random", *args],
                          env=cli_env(home), capture_output=True, text=True, timeout=timeout)


def one_line_error(p) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.fixture()
def video(tmp_path) -> Path:
    return write_test_video(tmp_path / "talk.mp4", size=(160, 96), frames=20)


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_output_that_is_the_input_is_refused(tmp_path, livestyle_home, video, how):
    before = sha(video)
    target = {"same path": video, "relative path": Path(os.path.relpath(video))}.get(how)
    if how == "symlink":
        target = tmp_path / "link.mp4"
        target.symlink_to(video)
    elif how == "hard link":
        target = tmp_path / "hard.mp4"
        os.link(video, target)
    p = run_cli(livestyle_home, "--input", str(video), "--output", str(target))
    msg = one_line_error(p)
    assert "--output" in msg and "same file" in msg
    assert sha(video) == before


@pytest.mark.parametrize("victim", ["input", "output"])
def test_report_that_is_a_video_is_refused(tmp_path, livestyle_home, video, victim):
    out = tmp_path / "styled.mp4"
    if victim == "output":
        out.write_bytes(b"an earlier recording")
    target = video if victim == "input" else out
    before = sha(target)
    p = run_cli(livestyle_home, "--input", str(video), "--output", str(out), "--report", str(target))
    msg = one_line_error(p)
    assert "--report" in msg
    assert sha(target) == before


def test_report_into_a_folder_fails_before_the_run(tmp_path, livestyle_home, video):
    folder = tmp_path / "reports"
    folder.mkdir()
    p = run_cli(livestyle_home, "--input", str(video), "--output", "null", "--report", str(folder))
    msg = one_line_error(p)
    assert "folder" in msg
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*tmp*"))


def test_report_in_an_unwritable_place_fails_before_the_run(tmp_path, livestyle_home, video):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = run_cli(livestyle_home, "--input", str(video), "--output", "null", "--report", str(blocker / "r.json"))
    one_line_error(p)


@pytest.mark.parametrize("flags", [["--size", "16x16"], ["--infer-size", "16x16"], ["--size", "17x9"]])
def test_tiny_sizes_are_refused_up_front(tmp_path, livestyle_home, video, flags):
    out = tmp_path / "out.mp4"
    p = run_cli(livestyle_home, "--input", str(video), "--output", str(out), *flags)
    msg = one_line_error(p)
    assert "too small" in msg and "32" in msg
    assert not out.exists() and not list(tmp_path.glob("*partial*"))


def test_a_tiny_video_is_refused(tmp_path, livestyle_home):
    tiny = tmp_path / "tiny.avi"
    w = cv2.VideoWriter(str(tiny), cv2.VideoWriter_fourcc(*"MJPG"), 30, (17, 9))
    for i in range(5):
        w.write(np.full((9, 17, 3), i * 40, np.uint8))
    w.release()
    out = tmp_path / "out.mp4"
    p = run_cli(livestyle_home, "--input", str(tiny), "--output", str(out))
    msg = one_line_error(p)
    assert re.search(r"\b1[67]x[89]\b", msg) and ("small" in msg or "32" in msg)  # MJPG may round to 16x8
    assert not out.exists()


def test_report_states_what_was_written(tmp_path, livestyle_home, video):
    """An odd --size: the report's size is the size of the frames in the file."""
    out, rep = tmp_path / "odd.avi", tmp_path / "r.json"
    p = run_cli(livestyle_home, "--input", str(video), "--output", str(out), "--size", "135x99", "--report", str(rep))
    assert p.returncode == 0, p.stderr
    r = json.loads(rep.read_text())
    cap = cv2.VideoCapture(str(out))
    ok, img = cap.read()
    assert ok
    assert r["size"] == [img.shape[1], img.shape[0]]


def test_a_recording_killed_with_sigkill_is_cleaned_up_by_the_next_run(tmp_path, livestyle_home, video):
    """kill -9 leaves only the hidden temporary file (never a broken NAME.mp4); the next run to that name removes it."""
    import signal
    import time

    out = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--style", "random", "--input", "demo",
                             "--realtime", "--size", "160x96", "--fps", "30", "--max-frames", "100000",
                             "--output", str(out)], env=cli_env(livestyle_home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        temps: list[Path] = []
        while time.monotonic() < deadline and not any(t.stat().st_size > 0 for t in temps):
            time.sleep(0.2)
            temps = list(tmp_path.glob(".rec.mp4.*.tmp.mp4"))
        assert temps, "the run never started writing"
        assert f".rec.mp4.{proc.pid}." in temps[0].name  # the writer's PID is in the name
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists() and list(tmp_path.glob(".rec.mp4.*.tmp.mp4")) == temps   # nothing under the real name

    p = run_cli(livestyle_home, "--input", str(video), "--output", str(out))
    assert p.returncode == 0, p.stderr
    assert "unfinished recording of an earlier run" in p.stderr
    assert list(tmp_path.glob(".rec.mp4.*")) == [] and cv2.VideoCapture(str(out)).isOpened()


def test_a_temporary_file_of_a_live_writer_is_left_alone(tmp_path):
    from livestyle.fsutil import atomic_path, stale_temps

    target = tmp_path / "x.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        assert stale_temps(target) == []             # ours: this process is alive
        dead = tmp_path / ".x.bin.999999999.abcd.tmp"  # no such PID
        dead.write_bytes(b"left by a killed run")
        other = tmp_path / f".x.bin.{os.getppid()}.efgh.tmp"  # a living process (the test runner's parent)
        other.write_bytes(b"being written")
        assert stale_temps(target) == [dead]
    assert target.read_bytes() == b"partial"


def test_a_folder_write_killed_with_sigkill_is_tidied_and_the_old_folder_survives(tmp_path):
    """A pack export killed mid-way (a real SIGKILL) leaves the old pack whole; the next export removes the rest."""
    import signal

    from livestyle.fsutil import atomic_dir, stale_temps

    final = tmp_path / "mylook"
    final.mkdir()
    (final / "style.json").write_text("old")
    child = ("import sys, time; from livestyle.fsutil import atomic_dir\n"
             "with atomic_dir(sys.argv[1], replace=True) as d:\n"
             "    (d / 'style.json').write_text('new, half written')\n"
             "    print('inside', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", child, str(final)], stdout=subprocess.PIPE, text=True,
                            env=cli_env(tmp_path / "home"))
    try:
        assert proc.stdout.readline().strip() == "inside"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    left = stale_temps(final, folders=True)
    assert [p.name.split(".")[2] for p in left] == [str(proc.pid)] and left[0].name.endswith(".tmp")
    assert (final / "style.json").read_text() == "old"       # the user's pack is untouched
    with atomic_dir(final, replace=True) as d:
        (d / "style.json").write_text("new")
    assert (final / "style.json").read_text() == "new" and not left[0].exists()
    assert {p.name for p in tmp_path.iterdir()} - {"home"} == {"mylook"}

    # killed between the two renames: the previous folder is set aside and the new one not yet in place
    aside = tmp_path / ".mylook.999999999.abcd.old"            # no such PID
    final.rename(aside)
    (tmp_path / ".mylook.999999999.efgh.tmp").mkdir()
    with pytest.raises(FileExistsError):                       # the old folder is restored first ...
        with atomic_dir(final):
            pass
    assert (final / "style.json").read_text() == "new" and not aside.exists()
    assert not (tmp_path / ".mylook.999999999.efgh.tmp").exists()
