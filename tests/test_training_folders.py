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

from tests.conftest import cli_env
from tests.support.cli import one_error_line, run_cli
from tests.test_training import make_photos

FAST = ["--size", "32", "--batch", "1", "--threads", "1", "--no-progress"]


def livestyle(args, home: Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli(args, home, cwd, timeout=timeout)


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_photos_are_read_stops_at_once(tmp_path, sig):
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
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + sig, err
    lines = [ln for ln in err.splitlines() if ln.startswith("livestyle: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{signal.Signals(sig).name} before its first step" in lines[0]
    assert took < 3, took  # 16 photos x 0.3 s would take 5 s more
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


# -- names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pastel", "mono"])
def test_a_bundled_looks_name_is_refused_by_train_and_mix(tmp_path, name):
    style, content = make_photos(tmp_path / "data", n=4)
    home = tmp_path / "home"
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", name, "--steps", 1,
                   *FAST], home, tmp_path)
    line = one_error_line(r)
    assert f"--name {name!r} is the name of a look bundled with livestyle" in line and "Pick another name" in line
    assert not (home / "styles" / name).exists() and not (tmp_path / "runs" / name).exists()
    for force in ([], ["--force"]):
        m = livestyle(["mix", name, "--from", "vintage:0.5,pencil:0.5", *force], home, tmp_path)
        assert "bundled with livestyle" in one_error_line(m)
        assert not (home / "styles" / name).exists()
    styles = livestyle(["styles", "--json"], home, tmp_path)
    default = [p for p in json.loads(styles.stdout) if p["default"]]
    assert [(p["name"], p["bundled"]) for p in default] == [("pastel", True)]


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "..", ""])
def test_a_name_with_a_path_in_it_is_refused(tmp_path, name):
    style, content = make_photos(tmp_path / "data", n=4)
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", name, "--steps", 1,
                   *FAST], tmp_path / "home", tmp_path)
    assert "is not a usable look name" in one_error_line(r)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "home").exists()


# -- resume on other photos -----------------------------------------------------------------------------------------


def test_resume_with_other_photo_folders_is_refused_unless_asked(tmp_path):
    style, content = make_photos(tmp_path / "data", n=4)
    other, _ = make_photos(tmp_path / "other", n=4, seed=7)
    home = tmp_path / "home"
    base = ["train", "--name", "r", "--run-dir", tmp_path / "run", *FAST]
    first = livestyle([*base, "--style-images", style, "--content-images", content, "--steps", 1], home, tmp_path)
    assert first.returncode == 0, first.stderr
    recorded = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]
    assert recorded["style_images"] == str(style.resolve()) and Path(recorded["content_images"]).is_absolute()
    engine = home / "styles" / "r" / "engine.safetensors"
    installed = engine.read_bytes()
    for flag, folder in (("--style-images", other), ("--content-images", style)):
        r = livestyle([*base, "--resume", "--steps", 2, flag, folder], home, tmp_path)
        line = one_error_line(r)
        assert f"--resume with {flag} {str(folder)!r}" in line and "--other-data" in line, line
        assert engine.read_bytes() == installed  # the installed look is not replaced
    # the same folders by another spelling (relative, through a link) are the same folders
    (tmp_path / "link").symlink_to(style)
    same = livestyle([*base, "--resume", "--steps", 2, "--style-images", "link",
                      "--content-images", os.path.relpath(content, tmp_path)], home, tmp_path)
    assert same.returncode == 0 and "resumed from step 1/2" in same.stderr, same.stderr
    asked = livestyle([*base, "--resume", "--steps", 3, "--style-images", other, "--other-data"], home, tmp_path)
    assert asked.returncode == 0 and "resumed from step 2/3" in asked.stderr, asked.stderr


# -- what the quality line was measured on --------------------------------------------------------------------------


def test_with_too_few_photos_the_check_says_it_ran_on_training_photos(tmp_path):
    style, content = make_photos(tmp_path / "data", n=8)  # under 10: nothing is held out
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "few", "--steps", 1,
                   *FAST], tmp_path / "home", tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "colour distance to the style photos" in ln)
    assert "held-out" not in line.split(":")[0].replace("not held-out", ""), line
    assert line.startswith("measured on training photos, not held-out ones (8 content, 8 style images"), line
    meta = json.loads((tmp_path / "home" / "styles" / "few" / "style.json").read_text())
    held = meta["looks"][0]["metrics"]["heldout"]
    assert held["content_held_out"] is False and held["style_held_out"] is False


def test_with_ten_photos_one_of_each_is_held_out_and_called_so(tmp_path):
    style, content = make_photos(tmp_path / "data", n=10)
    r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "ten", "--steps", 1,
                   *FAST], tmp_path / "home", tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "colour distance to the style photos" in ln)
    assert line.startswith("held-out (1 content, 1 style images):"), line


def test_a_run_folder_inside_a_photo_folder_is_refused(tmp_path):
    style, content = make_photos(tmp_path / "data", n=4)
    for folder, flag in ((style, "--style-images"), (content, "--content-images")):
        r = livestyle(["train", "--style-images", style, "--content-images", content, "--name", "x", "--steps", 1,
                       "--run-dir", folder / "run", *FAST], tmp_path / "home", tmp_path)
        assert f"is inside {flag}" in one_error_line(r)
        assert not (folder / "run").exists()
    # the default run folder (runs/NAME under the working folder) inside the photos: refused too
    r = livestyle(["train", "--style-images", ".", "--content-images", content, "--name", "x", "--steps", 1, *FAST],
                  tmp_path / "home", style)
    assert "is inside --style-images" in one_error_line(r)


def test_under_nohup_sighup_does_not_stop_training(tmp_path):
    """A signal ignored at start stays ignored: nohup's SIGHUP (a closed terminal) must not stop the run."""
    style, content = make_photos(tmp_path / "data", n=4)
    args = ["train", "--style-images", style, "--content-images", content, "--name", "n", "--steps", 5000,
            "--checkpoint-every", 1000, "--run-dir", tmp_path / "run", *FAST]

    def as_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # SIG_IGN survives exec, as under nohup

    p = subprocess.Popen([sys.executable, "-m", "livestyle", *map(str, args)], env=cli_env(tmp_path / "home"),
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_nohup)
    try:
        log = tmp_path / "run" / "losses.jsonl"
        deadline = time.monotonic() + 60
        while not (log.is_file() and log.read_text().count("\n") >= 2):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.02)
        p.send_signal(signal.SIGHUP)
        steps = log.read_text().count("\n")
        while log.read_text().count("\n") < steps + 3:  # still training after the SIGHUP
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.02)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143 and "stopped by SIGTERM" in err, err
