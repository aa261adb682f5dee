"""Screenshots of the OBS settings for the README, taken from a real OBS Studio under Xvfb.

Starts ``livestyle run --input demo --realtime --output stream:PORT`` and a
headless OBS (display :DISPLAY) with livestyle's script loaded, runs
``livestyle obs setup --url ...`` (which creates the Media Source), opens the
source's properties dialog (OpenInputPropertiesDialog) and the Tools -> Scripts
window (keyboard, through xdotool), and grabs the screen with Pillow.  Writes
small PNGs next to this file.

    .venv/bin/python benchmarks/obs/screenshots.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from PIL import ImageGrab  # noqa: E402

from livestyle.fsutil import atomic_path  # noqa: E402
from livestyle.obs import SCRIPT_PATH  # noqa: E402
from livestyle.obs.client import ObsClient  # noqa: E402
from tests.support.obs_studio import free_port, start_obs  # noqa: E402

DISPLAY = 77


def grab(name: str, box=None, width: int = 900) -> None:
    img = ImageGrab.grab(xdisplay=f":{DISPLAY}")
    if box:
        img = img.crop(box)
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)))
    img = img.convert("P", palette=1, colors=128)  # UI pictures: a palette keeps them small
    with atomic_path(HERE / name) as tmp:
        img.save(tmp, format="PNG", optimize=True)
    print(name, (HERE / name).stat().st_size, "bytes")


def xdo(*args: str) -> str:
    return subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=f":{DISPLAY}"), capture_output=True,
                          text=True).stdout.strip()


def main() -> int:
    port, control = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/livestyle?token=screenshot"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size",
                            "640x360", "--output", url, "--control", f"127.0.0.1:{control}", "--control-token",
                            "screenshot-token"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    for _ in range(100):  # the script asks for the look list when OBS loads it: let livestyle answer first
        try:
            socket.create_connection(("127.0.0.1", control), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    tmp = Path(tempfile.mkdtemp(prefix="obs-shots-"))
    os.environ["XAUTHORITY"] = str(tmp / "Xauthority")  # for Pillow's grab and xdotool
    obs = start_obs(tmp, display=DISPLAY, script=SCRIPT_PATH,
                    script_settings={"control_url": f"http://127.0.0.1:{control}", "token": "screenshot-token"})
    try:
        time.sleep(3)
        out = subprocess.run([sys.executable, "-m", "livestyle", "obs", "setup", "--obs", obs.url, "--obs-password",
                              obs.password, "--url", url], cwd=ROOT, env=env, capture_output=True, text=True)
        print(out.stdout, out.stderr)
        time.sleep(2)
        grab("obs_main.png")
        with ObsClient(obs.url, obs.password) as c:
            c.call("OpenInputPropertiesDialog", {"inputName": "livestyle"})
        time.sleep(2)
        grab("media_source_settings.png", box=(0, 0, 1010, 720))
        for win in xdo("search", "--name", "Properties").split():
            xdo("windowactivate", "--sync", win)
            xdo("key", "--window", win, "Escape")
        time.sleep(1)
        main_win = (xdo("search", "--name", "OBS 29").split() or [""])[0]
        if main_win:
            xdo("windowactivate", "--sync", main_win)
        xdo("key", "alt+t")
        time.sleep(0.7)
        for _ in range(3):
            xdo("key", "Down")
        xdo("key", "Return")
        time.sleep(2)
        scripts = (xdo("search", "--name", "Scripts").split() or [""])[0]
        if scripts:
            geo = xdo("getwindowgeometry", scripts)
            print(geo)
            xdo("windowmove", scripts, "0", "0")
            xdo("windowsize", scripts, "1000", "560")
            time.sleep(1)
            xdo("mousemove", "--sync", "120", "75")  # the first loaded script in the list
            xdo("click", "1")
            time.sleep(1.5)
            grab("scripts_window.png", box=(0, 0, 1000, 560))
        xdo("key", "Escape")
    finally:
        obs.stop()
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
