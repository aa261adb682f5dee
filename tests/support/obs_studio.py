"""Start a real OBS Studio headless (under Xvfb) for tests and benchmarks, and end it by its pid.

:func:`start_obs` makes a throwaway HOME holding ``global.ini`` (websocket
server on a free port with a password, first-run wizard off), a profile with a
small canvas (640x360 at the given fps) and a scene collection; it can load
an OBS script at start-up through the collection's ``modules/scripts-tool``
entry.  It starts ``xvfb-run -a obs`` in its own process group and polls the
websocket until OBS answers.  :meth:`ObsProcess.stop` kills the process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

OBS_BIN = shutil.which("obs")
XVFB_RUN = shutil.which("xvfb-run")


def obs_missing_reason() -> str | None:
    """Why OBS tests cannot run here, or None when they can."""
    if OBS_BIN is None:
        return "OBS Studio is not installed (apt-get install obs-studio)"
    if XVFB_RUN is None:
        return "xvfb-run is not installed (apt-get install xvfb)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ObsProcess:
    proc: subprocess.Popen
    home: Path
    url: str
    password: str
    log_path: Path

    def stop(self) -> None:
        """End OBS (and xvfb-run's Xvfb) by the process group we started."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)

    def log_tail(self, n: int = 4000) -> str:
        parts = []
        logs = sorted((self.home / ".config/obs-studio/logs").glob("*.txt"))
        for p in [self.log_path, *logs[-1:]]:
            try:
                parts.append(p.read_text(errors="replace")[-n:])
            except OSError:
                pass
        return "\n".join(parts)


def write_config(home: Path, *, port: int, password: str, width: int = 640, height: int = 360, fps: int = 30,
                 script: Path | None = None, script_settings: dict | None = None) -> None:
    cfg = home / ".config" / "obs-studio"
    (cfg / "basic" / "profiles" / "Test").mkdir(parents=True, exist_ok=True)
    (cfg / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    (cfg / "global.ini").write_text(
        "[General]\nFirstRun=false\nLastVersion=486539266\nEnableAutoUpdates=false\n"
        "[Basic]\nProfile=Test\nProfileDir=Test\nSceneCollection=Test\nSceneCollectionFile=Test\n"
        "[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort=%d\nAlertsEnabled=false\n"
        "AuthRequired=true\nServerPassword=%s\n" % (port, password))
    (cfg / "basic" / "profiles" / "Test" / "basic.ini").write_text(
        "[General]\nName=Test\n"
        "[Video]\nBaseCX=%d\nBaseCY=%d\nOutputCX=%d\nOutputCY=%d\nFPSType=1\nFPSInt=%d\n"
        "[Audio]\nSampleRate=48000\nChannelSetup=Stereo\n" % (width, height, width, height, fps))
    scene = {
        "name": "Test", "current_scene": "Scene", "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}],
        "sources": [{"id": "scene", "versioned_id": "scene", "name": "Scene", "uuid": "5c0e0000-0000-4000-8000-000000000001",
                     "settings": {"items": [], "id_counter": 0}, "enabled": True, "mixers": 0}],
        "modules": {},
    }
    if script is not None:
        scene["modules"]["scripts-tool"] = [{"path": str(script), "settings": script_settings or {}}]
    (cfg / "basic" / "scenes" / "Test.json").write_text(json.dumps(scene))


def start_obs(tmp: Path, *, password: str = "livestyle-test", fps: int = 30, script: Path | None = None,
              script_settings: dict | None = None, timeout: float = 60.0, display: int | None = None) -> ObsProcess:
    """Start OBS headless with a fresh HOME under ``tmp``; return once its websocket answers GetVersion.

    ``display`` fixes the X display number (for screenshots of OBS's windows; its X authority file is
    ``tmp/Xauthority``); by default xvfb-run picks a free one.
    """
    from livestyle.obs.client import ObsClient, ObsError

    home = tmp / "obs-home"
    port = free_port()
    write_config(home, port=port, password=password, fps=fps, script=script, script_settings=script_settings)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), LIBGL_ALWAYS_SOFTWARE="1",
               QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    # importing cv2 points Qt at its own plugins (QT_QPA_PLATFORM_PLUGIN_PATH...); OBS must use the system's
    for key in [k for k in env if k.startswith("QT_") and k != "QT_QPA_PLATFORM"]:
        env.pop(key)
    log_path = tmp / "obs-stdout.txt"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [XVFB_RUN, *(["-n", str(display), "-f", str(tmp / "Xauthority")] if display is not None else ["-a"]), "-s", "-screen 0 1280x800x24", OBS_BIN, "--multi", "--disable-updater",
             "--disable-shutdown-check", "--collection", "Test", "--profile", "Test", "--scene", "Scene"],
            env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    obs = ObsProcess(proc=proc, home=home, url=f"ws://127.0.0.1:{port}", password=password, log_path=log_path)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"OBS exited with {proc.returncode} before answering:\n{obs.log_tail()}")
        try:
            with ObsClient(obs.url, password, timeout=3) as c:
                c.call("GetVersion")
                return obs
        except ObsError as e:
            last = str(e)
            time.sleep(0.5)
    obs.stop()
    raise RuntimeError(f"OBS did not answer on {obs.url} within {timeout:.0f} s ({last}):\n{obs.log_tail()}")
