"""``livestyle obs setup`` and ``livestyle obs check``: put livestyle into OBS and verify frames arrive.

Setup creates (or updates) an input in OBS's current scene that shows
livestyle: a Video Capture Device (``v4l2_input``) on a v4l2loopback device
where one exists, else a Media Source (``ffmpeg_source``) playing the network
output with the settings measured to keep the lag low (Matroska, no network
buffering).  It then takes screenshots of the input (GetSourceScreenshot)
until the picture is there and moving.

Check measures the lag in frames for a network-output input: it watches the
same stream (multipart JPEG) as a second client, keeps small thumbnails of
the last frames with their arrival order, takes screenshots of the OBS input
and finds, for each, the recent frame it matches best; the lag is how many
frames arrived after that one by the time OBS answered.
"""

from __future__ import annotations

import base64
import glob
import http.client
import logging
import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np

from livestyle.errors import UsageError
from livestyle.obs.client import ObsClient, ObsError

log = logging.getLogger(__name__)

DEFAULT_INPUT_NAME = "livestyle"
THUMB = (64, 36)  # (width, height) of the thumbnails compared by check

# Media Source settings for livestyle's network output (see benchmarks/RESULTS.md, "OBS"):
# Matroska carries a timestamp per frame, so OBS paces by livestyle's clock; no network buffering.
MEDIA_SOURCE_SETTINGS = {
    "is_local_file": False,
    "input_format": "matroska",
    "buffering_mb": 0,
    "reconnect_delay_sec": 1,
    "hw_decode": False,
    "clear_on_media_end": True,
    "restart_on_activate": False,
    "close_when_inactive": False,
}


def loopback_devices() -> list[str]:
    """``/dev/videoN`` paths whose driver name says v4l2loopback (Linux; empty elsewhere)."""
    found = []
    for name_file in sorted(glob.glob("/sys/class/video4linux/video*/name")):
        try:
            name = Path(name_file).read_text().strip().lower()
        except OSError:
            continue
        if "loopback" in name or "dummy video device" in name or "virtual" in name:
            dev = "/dev/" + Path(name_file).parent.name
            if os.path.exists(dev):
                found.append(dev)
    return found


def screenshot(client: ObsClient, source: str, width: int = 320) -> np.ndarray | None:
    """The source's current picture as uint8 BGR (H, W, 3), or None while it has none (OBS code 702)."""
    import cv2

    try:
        r = client.call("GetSourceScreenshot", {"sourceName": source, "imageFormat": "jpg", "imageWidth": int(width),
                                                "imageCompressionQuality": 90})
    except ObsError as e:
        if "702" in e.message or "render" in e.message.lower():
            return None
        raise
    data = r.get("imageData", "")
    raw = base64.b64decode(data.split(",", 1)[1] if "," in data else data)
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


def _thumb(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def wait_for_frames(client: ObsClient, source: str, *, timeout: float = 10.0) -> dict:
    """Screenshot ``source`` until it shows a non-blank picture that changes; {"receiving", "seconds", "moving"}."""
    t0 = time.monotonic()
    first: np.ndarray | None = None
    receiving = False
    while time.monotonic() - t0 < timeout:
        img = screenshot(client, source, 160)
        if img is not None and float(img.std()) > 2.0:
            receiving = True
            th = _thumb(img)
            if first is None:
                first = th
            elif float(np.abs(th - first).mean()) > 1.0:
                return {"receiving": True, "moving": True, "seconds": round(time.monotonic() - t0, 2)}
        time.sleep(0.2)
    return {"receiving": receiving, "moving": False, "seconds": round(time.monotonic() - t0, 2)}


def current_scene(client: ObsClient) -> str:
    r = client.call("GetCurrentProgramScene")
    return r.get("currentProgramSceneName") or r.get("sceneName") or ""


def stream_url_for_obs(url: str) -> str:
    """Check that ``url`` is livestyle's ``http://HOST:PORT/PATH?token=...`` and return the form OBS should open.

    A wildcard host (``0.0.0.0``, ``[::]``, from a ``stream:0.0.0.0:PORT`` bind) is no address a client can
    use, and livestyle's Host check refuses it: it becomes ``127.0.0.1`` (``[::1]``).  Anything that is not
    such a URL is a :class:`UsageError` naming ``--url``.
    """
    fix = "Copy the URL livestyle prints at start, e.g. http://127.0.0.1:8080/livestyle?token=..."
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError as e:  # an unclosed '[', a port that is no number or out of range
        raise UsageError(f"--url {url!r} is not a valid URL ({e}).", fix=fix) from None
    if parts.scheme.lower() != "http" or not host:
        raise UsageError(f"--url must be livestyle's http:// stream URL, got {url!r}.", fix=fix)
    if port is not None and port < 1:
        raise UsageError(f"--url {url!r} has port {port}.", fix=fix)
    if host in ("0.0.0.0", "::"):
        from livestyle.sinks.stream import connect_host

        host = connect_host(host)
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit(("http", netloc, parts.path, parts.query, ""))


def setup(client: ObsClient, *, name: str = DEFAULT_INPUT_NAME, url: str | None = None, device: str | None = None,
          scene: str | None = None, timeout: float = 10.0) -> dict:
    """Create or update the input ``name`` in ``scene`` (default: the current one) and check frames arrive.

    ``url`` (the network output's URL, token included) makes a Media Source;
    ``device`` a Video Capture Device.  With neither: the network output a
    running livestyle serves now (its ``stream.json`` record), else the first
    v4l2loopback device.  Returns what was done and what the check saw.
    """
    if url is None and device is None:
        from livestyle.sinks.stream import running_stream_url

        url = running_stream_url()  # a livestyle serving its network output now: that is what it shows
        devices = loopback_devices() if url is None else []
        if url is None and not devices:
            raise UsageError("No running livestyle network output, no v4l2loopback device and no --url, so there "
                             "is nothing to show in OBS.",
                             fix="Start livestyle with --output stream:8080 and run this again, or pass the URL it "
                                 "prints: livestyle obs setup --url 'http://127.0.0.1:8080/livestyle?token=...'.")
        if url is None:
            device = devices[0]
    if url is not None:
        url = stream_url_for_obs(url)
        kind, settings = "ffmpeg_source", dict(MEDIA_SOURCE_SETTINGS, input=url)
    else:
        kind, settings = "v4l2_input", {"device_id": device}
    scene = scene or current_scene(client)
    inputs = {i["inputName"]: i.get("inputKind") for i in client.call("GetInputList").get("inputs", [])}
    action = "created"
    if name in inputs and inputs[name] != kind:
        client.call("RemoveInput", {"inputName": name})
        inputs.pop(name)
        action = "replaced"
    if name in inputs:
        client.call("SetInputSettings", {"inputName": name, "inputSettings": settings, "overlay": True})
        action = "updated"
        items = client.call("GetSceneItemList", {"sceneName": scene}).get("sceneItems", [])
        if not any(it.get("sourceName") == name for it in items):
            client.call("CreateSceneItem", {"sceneName": scene, "sourceName": name, "sceneItemEnabled": True})
    else:
        client.call("CreateInput", {"sceneName": scene, "inputName": name, "inputKind": kind,
                                    "inputSettings": settings, "sceneItemEnabled": True})
    # fit the picture to the canvas (keeps the aspect ratio)
    try:
        video = client.call("GetVideoSettings")
        item_id = client.call("GetSceneItemId", {"sceneName": scene, "sourceName": name})["sceneItemId"]
        client.call("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": item_id, "sceneItemTransform": {
            "boundsType": "OBS_BOUNDS_SCALE_INNER", "boundsWidth": float(video["baseWidth"]),
            "boundsHeight": float(video["baseHeight"]), "positionX": 0.0, "positionY": 0.0}})
    except (ObsError, KeyError) as e:
        log.info("could not fit %r to the canvas: %s", name, e)
    seen = wait_for_frames(client, name, timeout=timeout)
    return {"input": name, "kind": kind, "scene": scene, "action": action,
            "source": url or device, **seen}


# -- check -------------------------------------------------------------------------------------------------

@dataclass
class _Seen:
    count: int
    thumb: np.ndarray


class StreamWatcher:
    """Reads livestyle's multipart-JPEG stream in a thread and keeps thumbnails of the last ``keep`` frames."""

    def __init__(self, url: str, keep: int = 120):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        query["format"] = ["mjpeg"]
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, doseq=True), ""))
        self.frames: deque[_Seen] = deque(maxlen=keep)
        self.count = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = False
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="obs-check-watch", daemon=True)

    def start(self) -> "StreamWatcher":
        self._thread.start()
        return self

    def _run(self) -> None:
        import cv2

        parts = urlsplit(self.url)
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5)
            self._conn = conn
            conn.request("GET", f"{parts.path}?{parts.query}")
            resp = conn.getresponse()
            if resp.status != 200:
                self.error = f"the stream answered HTTP {resp.status}"
                return
            while not self._stop:
                length = None
                while True:
                    line = resp.fp.readline(1024)
                    if not line:
                        return
                    line = line.strip()
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                    elif not line and length is not None:
                        break
                jpeg = resp.fp.read(length)
                img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    continue
                th = _thumb(img)
                with self._lock:
                    self.count += 1
                    self.frames.append(_Seen(self.count, th))
        except (OSError, http.client.HTTPException, ValueError) as e:
            if not self._stop:
                self.error = f"reading the stream failed ({type(e).__name__}: {e})"

    def match(self, thumb: np.ndarray) -> tuple[int | None, float, float]:
        """(frames received after the best match, its distance, the median distance) against the kept frames."""
        with self._lock:
            frames = list(self.frames)
            latest = self.count
        if len(frames) < 3:
            return None, float("inf"), float("inf")
        dists = [float(np.abs(f.thumb - thumb).mean()) for f in frames]
        k = int(np.argmin(dists))
        return latest - frames[k].count, dists[k], float(statistics.median(dists))

    def stop(self) -> None:
        self._stop = True
        if self._conn is not None:
            try:
                self._conn.sock and self._conn.sock.shutdown(2)
            except OSError:
                pass
            self._conn.close()
        self._thread.join(timeout=3)


def check(client: ObsClient, *, name: str = DEFAULT_INPUT_NAME, seconds: float = 3.0) -> dict:
    """Whether OBS's input ``name`` receives frames and, for a network output, the lag in frames (median)."""
    inputs = {i["inputName"]: i.get("inputKind") for i in client.call("GetInputList").get("inputs", [])}
    if name not in inputs:
        raise UsageError(f"OBS has no input named {name!r} (inputs: {', '.join(map(repr, inputs)) or 'none'}).",
                         fix="Run `livestyle obs setup` first, or pass --name with your input's name.")
    kind = inputs[name]
    settings = client.call("GetInputSettings", {"inputName": name}).get("inputSettings", {})
    result: dict = {"input": name, "kind": kind, "receiving": False, "lag_frames": None, "lag_samples": 0,
                    "note": ""}
    url = settings.get("input") if kind == "ffmpeg_source" and not settings.get("is_local_file", True) else None
    watcher = StreamWatcher(url).start() if url and url.startswith("http://") else None
    lags: list[int] = []
    blank = 0
    try:
        time.sleep(0.5 if watcher else 0)
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            img = screenshot(client, name, 160)
            if img is None or float(img.std()) <= 2.0:
                blank += 1
                time.sleep(0.1)
                continue
            result["receiving"] = True
            if watcher is not None:
                lag, best, median = watcher.match(_thumb(img))
                # count only clear matches: a still picture matches every frame equally well
                if lag is not None and best < 0.5 * median:
                    lags.append(lag)
            time.sleep(0.1)
    finally:
        if watcher is not None:
            watcher.stop()
    if lags:
        result["lag_frames"] = float(statistics.median(lags))
        result["lag_frames_max"] = max(lags)
        result["lag_samples"] = len(lags)
    elif watcher is not None and watcher.error:
        result["note"] = watcher.error
    elif watcher is not None and result["receiving"]:
        result["note"] = "the picture barely moves, so the lag cannot be matched to a frame"
    elif watcher is None:
        result["note"] = "lag is measured for livestyle's network output only"
    if not result["receiving"]:
        result["note"] = "OBS shows no picture for this input (is livestyle running?)"
    return result
