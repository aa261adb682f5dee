"""`livestyle run --output vcam` through the real pyvirtualcam into an emulated (or real) v4l2loopback device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.support.fakecam import (build_fake_v4l2, fake_device_env, read_format_record,
                                   read_i420_frames, real_v4l2loopback_devices)
from tests.support.videos import write_test_video

DEVICE = "/dev/video42"

# Runs inside the preloaded subprocess: the real pipeline, with a sink that forwards every frame to the
# real VirtualCamSink and keeps a copy of what it forwarded, so the test can compare both ends.
TEE = r"""
import sys, numpy as np
from livestyle.session import RunConfig, run
from livestyle.sinks import virtualcam

sent = []
class Tee(virtualcam.VirtualCamSink):
    def send(self, frame, **kw):
        sent.append(frame.image.copy())
        super().send(frame, **kw)
virtualcam.VirtualCamSink = Tee
rep = run(RunConfig(input=sys.argv[1], output="vcam", style="random", vcam_device=sys.argv[2],
                    size=(int(sys.argv[3]), int(sys.argv[4])), report=sys.argv[5], temporal=False))
np.save(sys.argv[6], np.stack(sent))
"""


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory):
    return build_fake_v4l2(tmp_path_factory.mktemp("fakev4l2"))


@pytest.mark.parametrize("size", [(320, 240), (1280, 720)])
def test_vcam_frames_match_pipeline_output(size, tmp_path, livestyle_home, fake_lib):
    w, h = size
    src = write_test_video(tmp_path / "in.avi", size=(640, 360), fps=30, frames=12)
    out = tmp_path / "device.raw"
    rep_path, sent_path = tmp_path / "rep.json", tmp_path / "sent.npy"
    env = fake_device_env(fake_lib, DEVICE, out, LIVESTYLE_HOME=str(livestyle_home),
                          PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", TEE, str(src), DEVICE, str(w), str(h), str(rep_path), str(sent_path)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    fmt = read_format_record(out)
    assert (fmt["width"], fmt["height"]) == (w, h)
    frames = read_i420_frames(out, w, h)
    sent = np.load(sent_path)
    rep = json.loads(rep_path.read_text())
    assert len(frames) == len(sent) == rep["frames_out"] == 12
    for i, (got, want) in enumerate(zip(frames, sent)):
        ref = cv2.cvtColor(want, cv2.COLOR_BGR2YUV_I420).astype(np.int16)
        diff = np.abs(got.astype(np.int16) - ref)
        assert diff[:h].max() <= 2  # luma: same BT.601 conversion up to rounding
        assert diff[h:].mean() < 1.0  # chroma: averaging of the 2x2 cells may differ slightly
        if i:  # and it is this frame, not its neighbour
            prev = cv2.cvtColor(sent[i - 1], cv2.COLOR_BGR2YUV_I420).astype(np.int16)
            assert np.abs(got.astype(np.int16) - prev)[:h].mean() > diff[:h].mean()


def test_cli_vcam_and_missing_device(tmp_path, livestyle_home, fake_lib):
    out = tmp_path / "device.raw"
    env = fake_device_env(fake_lib, DEVICE, out, LIVESTYLE_HOME=str(livestyle_home),
                          PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "640x360",
                        "--output", "vcam", "--device", DEVICE, "--style", "random", "--max-frames", "20"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(read_i420_frames(out, 640, 360)) == 20
    assert read_format_record(out).get("closed", True)
    # no virtual camera at all: one line that says how to get one
    env_none = fake_device_env(fake_lib, None, None, LIVESTYLE_HOME=str(livestyle_home),
                               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "320x240",
                        "--output", "vcam", "--style", "random", "--max-frames", "5"],
                       env=env_none, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "v4l2loopback" in lines[0] and "exclusive_caps=1" in lines[0]


def test_real_v4l2loopback_device_when_present(tmp_path, livestyle_home):
    devices = real_v4l2loopback_devices()
    if not devices:
        pytest.skip("no real v4l2loopback device on this machine (the kernel module cannot be loaded here)")
    dev = devices[0]
    cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
    env = dict(os.environ, LIVESTYLE_HOME=str(livestyle_home))
    p = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "640x360",
                          "--output", "vcam", "--device", dev, "--style", "random", "--max-frames", "90",
                          "--realtime"], env=env, stderr=subprocess.PIPE, text=True)
    got = 0
    for _ in range(60):
        ok, img = cap.read()
        if ok:
            assert img.shape == (360, 640, 3)
            got += 1
    p.wait(60)
    assert p.returncode == 0 and got > 0
