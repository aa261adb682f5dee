"""OBS hotkey -> livestyle look change, and the lip-sync offset against livestyle's measured delay, in a real OBS.

Starts a headless OBS with livestyle's script loaded (pointed at the control
API), a mic input with a user offset of 20 ms, and ``livestyle run --input
demo --realtime --output stream:... --control ... --obs ... --obs-mic Mic``.
Then triggers hotkeys over obs-websocket (TriggerHotkeyByName) and times:

* hotkey -> the first frame at livestyle's sink (read from the network output)
  whose colourfulness leaves the old level: --repeats previous/next look
  changes (the look cross-fades over 0.3 s; this is the first frame showing
  the change) and --repeats bypass toggles; nothing polls livestyle meanwhile;
* hotkey -> the control API reports the new look (GET /api/state polled every
  5 ms), --repeats times, separately.

Every 0.5 s it also samples the mic's sync offset in OBS and livestyle's delay
(/api/state ``added_delay_ms`` and the sink's extra) and reports how far the
applied offset minus the user's offset is from that delay.

    .venv/bin/python benchmarks/obs_hotkey.py --repeats 10 --size 320x180
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from livestyle.obs import SCRIPT_PATH  # noqa: E402
from livestyle.obs.client import ObsClient  # noqa: E402
from tests.support.obs_studio import free_port, start_obs  # noqa: E402

TOKEN = "bench-token"


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class ColourWatcher(threading.Thread):
    def __init__(self, url):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.resp = urllib.request.urlopen(url, timeout=10)
        self.stop = False

    def run(self):
        import cv2

        fp = self.resp
        while not self.stop:
            length = None
            while True:
                line = fp.readline()
                if not line:
                    return
                line = line.strip()
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif not line and length is not None:
                    break
            img = cv2.imdecode(np.frombuffer(fp.read(length), np.uint8), cv2.IMREAD_COLOR).astype(np.int16)
            t = time.perf_counter()
            self.samples.append((t, float(np.abs(img[..., 0] - img[..., 1]).mean()
                                          + np.abs(img[..., 1] - img[..., 2]).mean())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--sync-seconds", type=float, default=30.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    control_port, stream_port = free_port(), free_port()
    obs = start_obs(Path(tempfile.mkdtemp(prefix="obs-hotkey-")), script=SCRIPT_PATH,
                    script_settings={"control_url": f"http://127.0.0.1:{control_port}", "token": TOKEN})
    client = ObsClient(obs.url, obs.password).connect()
    client.call("CreateInput", {"sceneName": "Scene", "inputName": "Mic", "inputKind": "pulse_input_capture",
                                "inputSettings": {}})
    client.call("SetInputAudioSyncOffset", {"inputName": "Mic", "inputAudioSyncOffset": 20})
    env = dict(__import__("os").environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size",
                             args.size, "--style", "pastel", "--output",
                             f"http://127.0.0.1:{stream_port}/ls?token=s", "--control", f"127.0.0.1:{control_port}",
                             "--control-token", TOKEN, "--obs", obs.url, "--obs-password", obs.password,
                             "--obs-mic", "Mic"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def state():
        req = urllib.request.Request(f"http://127.0.0.1:{control_port}/api/state",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            return None

    api_ms, frame_ms, bypass_ms, sync = [], [], [], []
    try:
        t_end = time.monotonic() + 60
        while state() is None and time.monotonic() < t_end:
            time.sleep(0.2)
        watcher = ColourWatcher(f"http://127.0.0.1:{stream_port}/ls?format=mjpeg&token=s")
        watcher.start()
        time.sleep(4.0)
        def settle_level():
            recent = [c for _, c in watcher.samples[-15:]]
            return statistics.median(recent), max(0.5, max(recent) - min(recent))

        # 1. hotkey -> first changed frame at the sink (nothing polls livestyle meanwhile)
        trials = [("livestyle.prev_look", "look", "mono"), ("livestyle.next_look", "look", "pastel")] * \
            (args.repeats // 2) + [("livestyle.bypass", "bypass", True), ("livestyle.bypass", "bypass", False)] * \
            (args.repeats // 2)
        for hotkey, key, want in trials:
            level, spread = settle_level()
            t0 = time.perf_counter()
            client.call("TriggerHotkeyByName", {"hotkeyName": hotkey})
            time.sleep(1.5)
            t_frame = next((t for t, c in list(watcher.samples) if t > t0 and abs(c - level) > 3 * spread), None)
            ok = (state() or {}).get(key) == want
            if t_frame and ok:
                (frame_ms if key == "look" else bypass_ms).append(1000 * (t_frame - t0))
            print(f"{hotkey} -> {key}={want} ({'ok' if ok else 'NOT APPLIED'}): first changed frame "
                  f"{1000 * (t_frame - t0) if t_frame else float('nan'):.0f} ms", flush=True)
        # 2. hotkey -> the control API reports the new look (polled every 5 ms)
        for k in range(args.repeats):
            target = ("mono", "pastel")[k % 2]
            t0 = time.perf_counter()
            client.call("TriggerHotkeyByName", {"hotkeyName": "livestyle.prev_look" if target == "mono"
                                                else "livestyle.next_look"})
            while time.perf_counter() - t0 < 5:
                s = state()
                if s and s.get("look") == target:
                    api_ms.append(1000 * (time.perf_counter() - t0))
                    break
                time.sleep(0.005)
            time.sleep(1.0)
        print("api ms:", [round(v) for v in api_ms], flush=True)
        # lip-sync: the mic offset in OBS against the delay livestyle measures (its 5 s capture->send p50)
        t_end = time.monotonic() + args.sync_seconds
        while time.monotonic() < t_end:
            s = state() or {}
            off = client.call("GetInputAudioSyncOffset", {"inputName": "Mic"})["inputAudioSyncOffset"]
            delay = (s.get("obs") or {}).get("delay_ms")
            if delay is None:
                delay = s.get("added_delay_ms")
            if delay is not None:
                sync.append({"t": round(time.monotonic() - t_end + args.sync_seconds, 2),
                             "offset_minus_user_ms": off - 20, "delay_ms": delay})
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        restored = client.call("GetInputAudioSyncOffset", {"inputName": "Mic"})["inputAudioSyncOffset"]
        client.close()
        obs.stop()
    diffs = [abs(s["offset_minus_user_ms"] - s["delay_ms"]) for s in sync]
    interval_ms = 1000 / 30
    result = {
        "size": args.size, "repeats": args.repeats,
        "hotkey_to_api_ms": {"median": round(statistics.median(api_ms), 1), "p95": round(pct(api_ms, 0.95), 1),
                             "n": len(api_ms)} if api_ms else None,
        "hotkey_to_first_changed_frame_ms": {"median": round(statistics.median(frame_ms), 1),
                                             "p95": round(pct(frame_ms, 0.95), 1),
                                             "max": round(max(frame_ms), 1), "n": len(frame_ms)} if frame_ms else None,
        "hotkey_to_first_bypass_frame_ms": {"median": round(statistics.median(bypass_ms), 1),
                                            "p95": round(pct(bypass_ms, 0.95), 1), "max": round(max(bypass_ms), 1),
                                            "n": len(bypass_ms)} if bypass_ms else None,
        "lipsync_abs_error_ms": {"median": round(statistics.median(diffs), 1), "p95": round(pct(diffs, 0.95), 1),
                                 "max": round(max(diffs), 1), "n": len(diffs),
                                 "within_one_frame": sum(d <= interval_ms for d in diffs)} if diffs else None,
        "mic_offset_changes": len({s["offset_minus_user_ms"] for s in sync}),
        "mic_offset_after_exit_ms": restored, "user_offset_ms": 20,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        from livestyle.fsutil import write_json_atomic
        write_json_atomic(args.out, {**result, "api_ms": api_ms, "frame_ms": frame_ms, "bypass_ms": bypass_ms,
                                     "sync": sync})
    return 0


if __name__ == "__main__":
    sys.exit(main())
