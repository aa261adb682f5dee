"""Hostile training folders and `livestyle train` names/resumes, through the real CLI in a subprocess.

Link loops, links that repeat a photo, signals while the photos are read, bundled names, a resume on other data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, cli_env
from tests.test_training import make_photos

FAST = ["--size", "32", "--batch", "1", "--threads", "1", "--no-progress"]


def livestyle(args, home: Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(cli_env(home), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "livestyle", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("livestyle: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


# -- folders: each real file once, loops end ------------------------------------------------------------------------


def test_scan_counts_each_real_file_once_through_links_and_loops(tmp_path):
    from livestyle.training.data import scan_images

    style, _ = make_photos(tmp_path, n=6)
    (style / "self").symlink_to(".")              # a link to the folder itself
    (style / "sub" / "up").symlink_to("..")       # a link to a parent
    (style / "sub" / "again").symlink_to(style)   # and by absolute path
    (style / "copy.jpg").symlink_to(style / "look0.jpg")  # a second name for a photo already there
    os.link(style / "look2.jpg", style / "hard.jpg")     # a hard link: the same file too
    os.mkfifo(style / "pipe.jpg")                  # not a regular file: never opened (it would block)
    found = scan_images(style)
    assert len(found) == 6
    assert len({os.stat(p).st_ino for p in found}) == 6


def test_scan_refuses_more_files_than_the_cap_and_skips_folders_too_deep(tmp_path, caplog):
    from livestyle.errors import DataError
    from livestyle.training.data import scan_images

    for i in range(5):
        (tmp_path / f"{i}.png").write_bytes(b"x")
    with pytest.raises(DataError, match="more than 4 image files"):
        scan_images(tmp_path, max_files=4)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.png").write_bytes(b"x")
    assert len(scan_images(tmp_path, max_depth=2)) == 5
    assert "not searched" in caplog.text
    assert len(scan_images(tmp_path, max_depth=3)) == 6


@pytest.mark.parametrize("role", ["--style-images", "--content-images"])
def test_one_photo_and_a_loop_is_one_photo_not_dozens(tmp_path, role):
    style, content = make_photos(tmp_path / "data", n=5)  # one style photo moves out; 4 are left
    lonely = tmp_path / "lonely" / "photos"
    lonely.mkdir(parents=True)
    os.replace(style / "look0.jpg", lonely / "look0.jpg")
    (lonely / "loop").symlink_to("..")   # a link to its parent folder: the same photo again, dozens of times
    (lonely / "me").symlink_to(".")      # and to itself: a walk that follows both never ends
    folders = {"--style-images": style, "--content-images": content, role: lonely}
    t0 = time.monotonic()
    r = livestyle(["train", "--style-images", folders["--style-images"], "--content-images",
                   folders["--content-images"], "--name", "lonely", "--steps", 1, *FAST], tmp_path / "home", tmp_path)
    line = one_error_line(r)
    assert "Found 1 usable" in line and str(lonely) in line, line
    assert time.monotonic() - t0 < 30


def test_sigterm_while_the_photos_are_read_stops_at_once(tmp_path):
    style, content = make_photos(tmp_path / "data", n=8)
    marker = tmp_path / "reading"
    # the real CLI, with each photo's decoding slowed to 0.3 s so that the signal lands while they are read
    wrapper = ("import sys, time, pathlib; import livestyle.training.data as d; orig = d.read_image\n"
               "def slow(p):\n"
               f"    pathlib.Path({str(marker)!r}).touch(); time.sleep(0.3); return orig(p)\n"
               "d.read_image = slow\n"
               "from livestyle.cli import main; sys.exit(main(sys.argv[1:]))")
    args = ["train", "--style-images", style, "--content-images", content, "--name", "s", "--steps", 5000,
            "--run-dir", tmp_path / "run", *FAST]
    p = subprocess.Popen([sys.executable, "-c", wrapper, *map(str, args)], env=cli_env(tmp_path / "home"),
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.02)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, err
    lines = [ln for ln in err.splitlines() if ln.startswith("livestyle: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "SIGTERM before its first step" in lines[0]
    assert took < 3, took  # 16 photos x 0.3 s would take 5 s more
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()
