"""The person and background stages through the real CLI on real portrait videos: blur, colour, image,
transparent refused where the output is opaque, look on one part, bad input, missing models, and the API."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import urllib.request

import cv2
import numpy as np
import pytest

from livestyle.people import models
from tests.conftest import cli_env
from tests.support.portraits import astronaut, clip, grace_hopper

SIZE = (640, 360)


def _models_ready() -> str | None:
    bad = [m.filename for m in models.MODELS if models.status(m).state != "ok"]
    return None if not bad else f"model files not fetched ({', '.join(bad)}): run `livestyle models fetch`"


needs_models = pytest.mark.skipif(_models_ready() is not None, reason=_models_ready() or "")


def _texture() -> np.ndarray:
    import skimage.data

    return cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), SIZE)


def _write(path, frames, fps=30.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for f in frames:
        w.write(f)
    w.release()
    return path


def _read(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def _run(home, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "livestyle", "run", "--quiet", *args], capture_output=True,
                          text=True, env=cli_env(home), timeout=timeout)


def _sharpness(img: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean())


@pytest.fixture(scope="module")
def portrait_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("people") / "portrait.avi"
    return _write(path, clip(astronaut()[:, 150:], SIZE, 20, motion="still", noise=2, background=_texture()))


@needs_models
def test_blur_blurs_the_background_and_keeps_the_person(tmp_path, livestyle_home, portrait_video):
    outs = {}
    for mode in ("keep", "blur"):
        out = tmp_path / f"{mode}.avi"
        r = _run(livestyle_home, "--input", str(portrait_video), "--output", str(out), "--style", "random",
                 "--strength", "0", "--background", mode, "--blur", "0.8")
        assert r.returncode == 0, r.stderr
        outs[mode] = _read(out)[-1]
    keep, blur = outs["keep"], outs["blur"]
    side = (slice(60, 300), slice(0, 90))      # the wall at the left: background
    face = (slice(70, 120), slice(240, 290))   # the astronaut's face
    assert _sharpness(blur[side]) < 0.5 * _sharpness(keep[side])
    assert np.abs(blur[face].astype(int) - keep[face].astype(int)).mean() < 3


@needs_models
def test_color_and_image_replace_the_background(tmp_path, livestyle_home, portrait_video):
    pic = tmp_path / "beach.png"
    cv2.imwrite(str(pic), np.full((50, 80, 3), (30, 200, 240), np.uint8))
    for spec, bgr in ((f"image:{pic}", (30, 200, 240)), ("color:#ff00ff", (255, 0, 255))):
        out = tmp_path / "o.avi"
        r = _run(livestyle_home, "--input", str(portrait_video), "--output", str(out), "--style", "random",
                 "--strength", "0", "--background", spec)
        assert r.returncode == 0, r.stderr
        last = _read(out)[-1]
        corner = last[40:120, 10:60].reshape(-1, 3).mean(axis=0)
        assert np.abs(corner - np.array(bgr)).max() < 12, (spec, corner)


@needs_models
def test_the_look_on_the_person_only_leaves_the_background_as_it_was(tmp_path, livestyle_home, portrait_video):
    outs = {}
    for on in ("both", "person"):
        out = tmp_path / f"{on}.avi"
        r = _run(livestyle_home, "--input", str(portrait_video), "--output", str(out), "--style", "random",
                 "--look-on", on)
        assert r.returncode == 0, r.stderr
        outs[on] = _read(out)[-1]
    src = _read(portrait_video)[-1]
    side = (slice(60, 300), slice(0, 90))
    face = (slice(70, 120), slice(240, 290))
    d = lambda a, b, where: np.abs(a[where].astype(int) - b[where].astype(int)).mean()  # noqa: E731
    assert d(outs["person"], src, side) < 4 < d(outs["both"], src, side)  # the wall keeps its colours
    assert d(outs["person"], outs["both"], face) < 4                      # the face is styled as before


@needs_models
def test_several_people_are_all_kept(tmp_path, livestyle_home):
    gh = grace_hopper()
    if gh is None:
        pytest.skip("Grace Hopper's portrait is not available")
    left = cv2.resize(astronaut()[:, 150:], (200, 280))
    right = cv2.resize(gh, (220, 220))
    frame = np.full((SIZE[1], SIZE[0], 3), (150, 160, 170), np.uint8)  # a plain wall behind two people
    frame[80:360, 20:220] = left
    frame[140:360, 400:620] = right
    video = _write(tmp_path / "two.avi", [frame] * 12)
    out = tmp_path / "o.avi"
    r = _run(livestyle_home, "--input", str(video), "--output", str(out), "--style", "random", "--strength", "0",
             "--background", "color:#00ff00")
    assert r.returncode == 0, r.stderr
    last = _read(out)[-1]
    green = lambda region: float((np.abs(region.astype(int) - [0, 255, 0]).max(axis=2) < 40).mean())  # noqa: E731
    assert green(last[105:155, 50:100]) < 0.2 and green(last[190:260, 480:545]) < 0.2  # both faces kept
    assert green(last[0:60, 250:380]) > 0.8                                            # between them: replaced


@needs_models
def test_no_person_in_the_frame_blurs_the_whole_frame_steadily(tmp_path, livestyle_home):
    video = _write(tmp_path / "empty.avi", [_texture()] * 15)
    out = tmp_path / "o.avi"
    r = _run(livestyle_home, "--input", str(video), "--output", str(out), "--style", "random", "--strength", "0",
             "--background", "blur")
    assert r.returncode == 0, r.stderr
    frames = _read(out)
    assert _sharpness(frames[-1]) < 0.5 * _sharpness(_texture())
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames[5:], frames[6:])]
    assert max(diffs) < 1.5  # a still empty shot stays still


@pytest.mark.parametrize("args,words", [
    (["--background", "sparkles"], "is not one of keep, blur"),
    (["--background", "color:#12345"], "is not a colour"),
    (["--background", "image:/no/such/file.png"], "no such file"),
    (["--background", "transparent", "--output", "OUT.mp4"], "needs an output that carries alpha"),
    (["--blur", "2"], "outside 0..1"),
    (["--blur", "nan"], "outside 0..1"),
])
def test_bad_background_input_is_one_line_and_exit_2(tmp_path, livestyle_home, args, words):
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    r = _run(livestyle_home, "--input", "demo", "--output", str(tmp_path / "o.avi"), "--max-frames", "2", *args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_background_image_that_is_no_picture_is_refused(tmp_path, livestyle_home):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    r = _run(livestyle_home, "--input", "demo", "--output", "null", "--max-frames", "2", "--background", f"image:{bad}")
    assert r.returncode == 2 and "is not a picture" in r.stderr and r.stderr.count("\n") == 1


def test_missing_models_leave_the_run_going_without_the_person_stage(tmp_path, livestyle_home):
    env = cli_env(livestyle_home)
    env["LIVESTYLE_MODELS"] = str(tmp_path / "none")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "selfie_segmentation_landscape.tflite").write_bytes(b"corrupt")
    rep = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "livestyle", "run", "--quiet", "--input", "demo", "--output", "null",
                        "--max-frames", "5", "--background", "blur", "--report", str(rep)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is corrupt" in lines[0] and "livestyle models fetch" in lines[0], r.stderr
    assert [s["name"] for s in json.loads(rep.read_text())["stages"]] == ["look"]


@needs_models
def test_the_api_switches_the_background_and_refuses_what_the_output_cannot_show(tmp_path, livestyle_home):
    from tests.support.obs_studio import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--output",
                             "null", "--style", "random", "--control", f"127.0.0.1:{port}", "--control-token", "tok",
                             "--max-frames", "400"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(livestyle_home))
    try:
        proc.stdout.readline()  # "control panel ..." once the server is up

        def post(path, body):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer tok", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, body = post("/api/background", {"mode": "blur"})
        assert status == 200 and body["state"]["background"] == "blur"
        status, body = post("/api/background", {"blur": 0.9})
        assert status == 200 and body["state"]["blur"] == 0.9
        status, body = post("/api/background", {"mode": "transparent"})
        assert status == 400 and "cannot carry alpha" in body["error"]
        status, body = post("/api/background", {"mode": "blur", "blur": 0.2})
        assert status == 400 and "exactly one" in body["error"]
        status, body = post("/api/look-on", {"value": "background"})
        assert status == 200 and body["state"]["look_on"] == "background"
        status, body = post("/api/beauty", {"smooth": 0.4, "eyes": 0.2})
        assert status == 200 and body["state"]["beauty"] == {"smooth": 0.4, "tone": 0.0, "slim": 0.0, "eyes": 0.2}
        status, body = post("/api/beauty", {"glow": 1})
        assert status == 400 and "Unknown beauty key" in body["error"]
        status, body = post("/api/command", {"name": "beauty-toggle"})
        assert status == 200 and body["state"]["beauty_on"] is False
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- beauty -------------------------------------------------------------------------------------------

@needs_models
def test_beauty_retouches_the_face_and_leaves_the_rest(tmp_path, livestyle_home):
    gh = grace_hopper()
    if gh is None:
        pytest.skip("Grace Hopper's portrait is not available")
    video = _write(tmp_path / "gh.avi", clip(gh, SIZE, 12, motion="still", noise=2))
    outs = {}
    for name, extra in (("plain", []), ("beauty", ["--beauty", "smooth=0.8,tone=0.5,slim=0.5,eyes=0.5"])):
        out = tmp_path / f"{name}.avi"
        r = _run(livestyle_home, "--input", str(video), "--output", str(out), "--style", "random", "--strength", "0",
                 *extra)
        assert r.returncode == 0, r.stderr
        outs[name] = _read(out)[-1].astype(int)
    diff = np.abs(outs["beauty"] - outs["plain"]).max(axis=2)
    face = diff[60:260, 220:420]       # Grace Hopper's face and jaw, at the middle of the frame
    wall = diff[:, :120]               # the plain wall at the left, far from the face
    assert (face > 6).mean() > 0.2     # retouched
    assert wall.max() <= 2             # untouched (JPEG noise only)


def test_beauty_without_a_face_changes_nothing(tmp_path, livestyle_home):
    video = _write(tmp_path / "empty.avi", [_texture()] * 6)
    outs = {}
    for name, extra in (("plain", []), ("beauty", ["--beauty", "smooth=1,tone=1,slim=1,eyes=1"])):
        out = tmp_path / f"{name}.avi"
        r = _run(livestyle_home, "--input", str(video), "--output", str(out), "--style", "random", "--strength", "0",
                 *extra)
        assert r.returncode == 0, r.stderr
        outs[name] = _read(out)
    assert all(np.array_equal(a, b) for a, b in zip(outs["plain"], outs["beauty"]))


@pytest.mark.parametrize("value,words", [("glow=0.3", "Unknown beauty key 'glow'"), ("smooth=1.5", "outside 0..1"),
                                         ("smooth=lots", "is not a number"), ("smooth", "is not KEY=VALUE")])
def test_bad_beauty_is_one_line_and_exit_2(livestyle_home, value, words):
    r = _run(livestyle_home, "--input", "demo", "--output", "null", "--max-frames", "2", "--beauty", value)
    assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_beauty_without_face_models_runs_on_and_says_so(tmp_path, livestyle_home):
    env = cli_env(livestyle_home)
    env["LIVESTYLE_MODELS"] = str(tmp_path / "none")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    r = subprocess.run([sys.executable, "-m", "livestyle", "run", "--quiet", "--input", "demo", "--output", "null",
                        "--max-frames", "3", "--beauty", "smooth=0.5"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is missing" in lines[0] and "Running without beauty" in lines[0], r.stderr


# -- the panel's people controls in a real Chromium ---------------------------------------------------

@needs_models
def test_panel_people_controls_in_chromium(tmp_path, livestyle_home):
    import os

    from tests.support.obs_studio import free_port
    from tests.test_control import _chromium_or_skip, launch_chromium

    sync_playwright = _chromium_or_skip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--output",
                             "null", "--style", "random", "--control", f"127.0.0.1:{port}", "--control-token", "tok",
                             "--background", "blur", "--max-frames", "2000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(livestyle_home))

    def state():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/state", headers={"Authorization": "Bearer tok"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def until(pred, timeout=10.0):
        import time

        end = time.time() + timeout
        while time.time() < end:
            s = state()
            if pred(s):
                return s
            time.sleep(0.1)
        raise AssertionError(state())

    try:
        proc.stdout.readline()
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                # bypass_csp lets the test evaluate its own probes; the page runs its script as it would anyway
                page = browser.new_page(viewport={"width": 560, "height": 1400}, bypass_csp=True)
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{port}/?token=tok")
                page.wait_for_selector("#bg-modes button[data-mode='color']", timeout=30000)
                assert page.get_attribute("#bg-modes button[data-mode='blur']", "aria-checked") == "true"
                assert not page.query_selector("#bg-modes button[data-mode='transparent']")  # not on this output
                page.click("#bg-modes button[data-mode='color']")
                until(lambda s: s["background"] == "color")
                page.focus("#blur")
                page.keyboard.press("End")
                until(lambda s: s["blur"] == 1.0)
                page.focus("#b-smooth")
                page.keyboard.press("End")
                page.focus("#b-eyes")
                page.keyboard.press("ArrowRight")
                s = until(lambda s: s["beauty"]["smooth"] == 1.0 and s["beauty"]["eyes"] > 0)
                assert s["beauty"]["tone"] == 0.0 and s["beauty_on"]
                page.select_option("#look-on", "person")
                until(lambda s: s["look_on"] == "person")
                page.click("#beauty-toggle")
                until(lambda s: s["beauty_on"] is False)
                page.wait_for_function("document.getElementById('beauty-toggle').textContent === 'off'", timeout=5000)
                shot = Path(os.environ.get("LIVESTYLE_PEOPLE_PANEL_SHOT", tmp_path / "panel-people.png"))
                page.screenshot(path=str(shot), full_page=True)
                assert not errors, errors
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
