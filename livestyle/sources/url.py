"""Network streams (MJPEG over HTTP, RTSP, ...) through OpenCV's FFmpeg backend.

A URL can also name a *recorded* file (``http://host/clip.mp4``).  Read as a
live stream, such a file was decoded as fast as the network allowed, most
frames were dropped at the pipeline's newest-frame slot, and the end of the
file looked like a lost stream, so it was reopened from the start forever.
:class:`UrlSource` now tells the two apart when it opens: FFmpeg reports a
positive frame count for a container with a duration (.mp4, .avi, .mkv
served over HTTP; measured with opencv-python 5.0), and a huge negative or
zero one for endless streams (MJPEG, RTSP).  A recorded file is then read
exactly like a local file (:class:`RecordedUrlSource`, a
:class:`~livestyle.sources.file.FileSource`): every frame in order, as fast
as the pipeline takes them, ending at the end of the file; with
``realtime=True`` paced at the file's own frame rate like ``--realtime``.
It is never reopened.
"""

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
from livestyle.sources.file import FileSource

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322, "rtmp": 1935, "tcp": None}
_FALLBACK_FPS = 30.0
# A frame count above this is not a real file's (FFmpeg reports INT64_MIN for endless streams).
_MAX_RECORDED_FRAMES = 10**9


def _capture_params(open_timeout_s: float, read_timeout_s: float) -> list[int]:
    params: list[int] = []
    if hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC"):
        params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000)]
    if hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    return params


def recorded_frame_count(capture: cv2.VideoCapture) -> int | None:
    """The frame count of an opened capture when it is a recorded file (1..1e9), else None (a live stream)."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    if count and 0 < count < _MAX_RECORDED_FRAMES:
        return int(count)
    return None


class RecordedUrlSource(FileSource):
    """A recorded video file behind a URL, read like a local file (see :class:`FileSource`).

    Frames are uint8 BGR, shape (H, W, 3); the file plays once, in order,
    and :meth:`read` returns None at its end.  ``realtime`` paces it at its
    own frame rate.  A truncated download warns like a truncated file.
    """

    def __init__(self, url: str, *, realtime: bool = False, open_timeout_s: float = 5.0,
                 read_timeout_s: float = 5.0):
        super().__init__(url, realtime=realtime)
        self.url = url
        self.open_timeout_s, self.read_timeout_s = float(open_timeout_s), float(read_timeout_s)
        self.description = f"recorded file at {redact_url(url)}"

    def _check_path(self) -> None:  # a URL has no local path to check
        return None

    def _name(self) -> str:
        return f"Video at {redact_url(self.url)}"

    def _label(self) -> str:
        return f"recorded file at {redact_url(self.url)}"

    def _open_capture(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, _capture_params(self.open_timeout_s, self.read_timeout_s))


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

    When the URL turns out to name a recorded file (see the module doc),
    :meth:`open` hands over to a :class:`RecordedUrlSource` (:attr:`recorded`):
    the file is read once like a local file, as fast as the pipeline takes
    frames (``realtime=False``) or paced at its own rate (``realtime=True``),
    and ends at its end; :attr:`live` is then ``realtime``.
    """

    def __init__(self, url: str, *, open_timeout_s: float = 5.0, read_timeout_s: float = 5.0,
                 backoff: Backoff = Backoff(), realtime: bool = False):
        super().__init__(backoff=backoff)
        self.url = url
        self.open_timeout_s = float(open_timeout_s)
        self.read_timeout_s = float(read_timeout_s)
        self.realtime = bool(realtime)
        self.recorded: RecordedUrlSource | None = None
        self._probe: cv2.VideoCapture | None = None  # the first capture, reused by the live path
        self.description = f"url {redact_url(url)}"

    # -- a recorded file behind the URL: delegate to RecordedUrlSource ---------------------------

    @property
    def live(self) -> bool:  # type: ignore[override]
        return self.recorded.live if self.recorded is not None else True

    @property
    def frame_ready_time(self) -> float | None:  # type: ignore[override]
        return self.recorded.frame_ready_time if self.recorded is not None else None

    @property
    def skipped(self) -> int:
        return self.recorded.skipped if self.recorded is not None else 0

    @property
    def frames_promised(self) -> int | None:
        return self.recorded.frames_promised if self.recorded is not None else None

    @property
    def frames_read(self) -> int | None:
        return self.recorded.frames_read if self.recorded is not None else None

    def open(self) -> None:
        """Open the URL; a recorded file is handed to :class:`RecordedUrlSource`, a stream opened live."""
        if self.recorded is not None or self._opened:
            return
        if not self._closed.is_set():
            probe = self._open_capture()
            if probe is not None and probe.isOpened() and recorded_frame_count(probe) is not None:
                probe.release()
                recorded = RecordedUrlSource(self.url, realtime=self.realtime, open_timeout_s=self.open_timeout_s,
                                             read_timeout_s=self.read_timeout_s)
                recorded.open()
                self.recorded = recorded
                self.fps, self.size, self.description = recorded.fps, recorded.size, recorded.description
                log.info("%s is a recorded file of %s frames: read once, %s", redact_url(self.url),
                         recorded.frame_count, "paced at its frame rate" if self.realtime else "every frame")
                return
            self._probe = probe
        super().open()

    def read(self) -> np.ndarray | None:
        if self.recorded is not None:
            return self.recorded.read()
        return super().read()

    def close(self) -> None:
        if self.recorded is not None:
            self.recorded.close()
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.release()
        super().close()

    def _name(self) -> str:
        return f"Stream {redact_url(self.url)}"

    def _open_capture(self) -> cv2.VideoCapture:
        probe, self._probe = self._probe, None
        if probe is not None:  # the capture open() already made to tell a file from a stream
            return probe
        if not hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC"):  # pragma: no cover - OpenCV < 4.6
            log.warning("this OpenCV build has no stream timeouts; a dead URL may hang")
        return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, _capture_params(self.open_timeout_s, self.read_timeout_s))

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
