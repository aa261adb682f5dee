"""A transparent background reaches a real OBS with its alpha: livestyle's raw BGRA Matroska stream in a
Media Source over a red colour source shows the red through the background and the person on top."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from livestyle.obs.client import ObsClient
from livestyle.obs.setup import MEDIA_SOURCE_SETTINGS, screenshot
from livestyle.people import models
from tests.conftest import cli_env
from tests.support.obs_studio import obs_missing_reason, start_obs
from tests.support.portraits import astronaut, clip

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(obs_missing_reason() is not None, reason=obs_missing_reason() or ""),
              pytest.mark.skipif(any(models.status(m).state != "ok" for m in models.MODELS),
                                 reason="model files not fetched: run `livestyle models fetch`")]

SIZE = (640, 360)


def test_transparent_background_shows_the_scene_behind_the_person_in_obs(tmp_path, livestyle_home):
    video = tmp_path / "portrait.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, SIZE)
    wall = np.full((SIZE[1], SIZE[0], 3), (150, 160, 170), np.uint8)
    for f in clip(astronaut()[:, 150:], SIZE, 30, motion="still", noise=2, background=wall) * 20:
        w.write(f)
    w.release()
    obs = start_obs(tmp_path / "obs")
    run = None
    try:
        client = ObsClient(obs.url, obs.password).connect()
        client.call("CreateInput", {"sceneName": "Scene", "inputName": "red", "inputKind": "color_source_v3",
                                    "inputSettings": {"color": 0xFF0000FF, "width": SIZE[0], "height": SIZE[1]}})
        run = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", str(video), "--realtime",
                                "--output", "stream:0", "--style", "random", "--strength", "0", "--background",
                                "transparent", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env(livestyle_home))
        line = run.stdout.readline()
        m = re.search(r"network output (http://\S+)", line)
        assert m and "format=bgra" in m.group(1) and "alpha" in line, line
        client.call("CreateInput", {"sceneName": "Scene", "inputName": "livestyle", "inputKind": "ffmpeg_source",
                                    "inputSettings": {**MEDIA_SOURCE_SETTINGS, "input": m.group(1)}})
        deadline, shot = time.time() + 30, None
        while time.time() < deadline:
            shot = screenshot(client, "Scene", SIZE[0])
            if shot is not None and shot[200:300, 10:60, 2].mean() > 200 and shot[70:120, 240:290, 2].mean() < 200:
                break
            time.sleep(0.5)
        assert shot is not None
        wall_px = shot[120:300, 10:60].reshape(-1, 3).mean(axis=0)   # the wall: the red source shows through
        face_px = shot[75:115, 245:285].reshape(-1, 3).mean(axis=0)  # the face: the person, opaque
        assert wall_px[2] > 200 and wall_px[0] < 60 and wall_px[1] < 60, wall_px
        assert not (face_px[2] > 200 and face_px[0] < 60), face_px
        assert np.abs(face_px - np.array([130, 160, 210])).max() < 80, face_px  # skin, roughly
    finally:
        if run is not None:
            run.terminate()
            run.wait(timeout=20)
        obs.stop()
