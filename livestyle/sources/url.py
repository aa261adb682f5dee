"""Network streams (MJPEG over HTTP, RTSP, ...) through OpenCV's FFmpeg backend."""

from __future__ import annotations

import logging
import socket
import statistics
import time
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from livestyle.errors import SourceError
from livestyle.sources._opencv import Backoff, ReconnectingCapture, as_bgr_frame

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "tcp": None}
_FALLBACK_FPS = 30.0


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for logs and messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


class UrlSource(ReconnectingCapture):
    """A live stream at ``url`` (``http://.../video.mjpg``, ``rtsp://...``).

    Opening gives up after ``open_timeout_s`` (a server that accepts and
    never answers, or a host that drops packets, cannot hang the program); a
    read that gets nothing for ``read_timeout_s`` counts as a lost stream.
    After a successful open, a lost stream is reopened forever with backoff
    until :meth:`close`; :attr:`reconnects` counts recoveries.  :meth:`read`
    returns uint8 BGR frames, shape (H, W, 3), values 0..255.  For HTTP
    streams (whose containers carry no frame rate) :attr:`fps` is measured
    from the first frames' arrival times.
    """

    def __init__(self, url: str, *, open_timeout_s: float = 5.0, read_timeout_s: float = 5.0,
                 backoff: Backoff = Backoff()):
        super().__init__(backoff=backoff)
        self.url = url
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.description = f"url {redact_url(url)}"

    def _name(self) -> str:
        return f"Stream {redact_url(self.url)}"

    def _open_capture(self) -> cv2.VideoCapture:
        params: list[int] = []
        if hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000)]
        if hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
            params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
        else:  # pragma: no cover - OpenCV < 4.6 has no timeouts; say so once per open
            log.warning("this OpenCV build has no stream timeouts; a dead URL may hang")
        return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)

    def _on_first_frame(self, capture: cv2.VideoCapture, first: np.ndarray) -> None:
        reported = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and 0 < reported <= 240 else _FALLBACK_FPS
        if urlsplit(self.url).scheme.lower() in ("http", "https"):
            measured = _measure_fps(capture)
            if measured is not None:
                self.fps = measured

    def _describe(self, capture: cv2.VideoCapture, first: np.ndarray) -> str:
        width, height = self.size
        return f"url {redact_url(self.url)} ({width}x{height}@{self.fps:.3g})"

    def _open_error(self) -> SourceError:
        shown = redact_url(self.url)
        reason = _diagnose(self.url, self.open_timeout_s)
        return SourceError(
            f"Stream {shown} could not be opened: {reason}.",
            fix="Check that the camera/server is running and reachable from this machine, "
                "that the URL includes the stream path (e.g. http://HOST:8080/video.mjpg or "
                "rtsp://HOST:554/stream1), and try it with ffplay or a browser.")


def _measure_fps(capture: cv2.VideoCapture, frames: int = 4, budget_s: float = 1.0) -> float | None:
    """Median arrival rate of the next few frames (they are read and dropped); None if unclear."""
    arrivals: list[float] = []
    start = time.perf_counter()
    while len(arrivals) < frames + 1 and time.perf_counter() - start < budget_s:
        ok, image = capture.read()
        if not ok or as_bgr_frame(image) is None:
            return None
        arrivals.append(time.perf_counter())
    intervals = [b - a for a, b in zip(arrivals, arrivals[1:]) if b > a]
    if len(intervals) < 2:
        return None
    rate = 1.0 / statistics.median(intervals)
    return round(rate, 2) if 1.0 <= rate <= 240.0 else None


def _diagnose(url: str, open_timeout_s: float) -> str:
    """Why a URL did not open, by a short TCP probe of its host (no data is sent)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return "the address is not a valid URL"
    if not parts.scheme or not host:
        return "the address is not a valid URL (expected scheme://host[:port]/path)"
    if port is None:
        return (f"OpenCV's FFmpeg backend found no video there within {open_timeout_s:g} s "
                f"(is '{parts.scheme}://' a protocol it supports?)")
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except socket.gaierror:
        return f"the host name '{host}' could not be resolved"
    except ConnectionRefusedError:
        return f"nothing listens on {host}:{port} (connection refused)"
    except (TimeoutError, socket.timeout):
        return f"{host}:{port} does not answer (no connection within 1 s)"
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc.strerror or exc})"
    return (f"{host}:{port} accepts connections but no video stream opened within "
            f"{open_timeout_s:g} s (wrong path, a server that hangs, or a format OpenCV "
            "cannot read)")
