"""The network output: serves the styled video over HTTP to OBS's Media Source, browsers and players.

``--output stream:PORT`` (or ``stream:HOST:PORT``, or ``http://HOST:PORT/PATH``)
starts a small HTTP server in the process.  One URL, two formats:

* ``GET /PATH?token=T`` (the default, for OBS): a live **Matroska** stream of
  JPEG frames (``V_MJPEG``) in which every frame carries its send time as its
  timestamp.  OBS's Media Source paces playback by timestamps; a multipart
  JPEG stream has none, so FFmpeg assumes 25 fps and, fed 30 fps, falls
  further behind every second (measured: see ``benchmarks/RESULTS.md``).
  With real timestamps the lag stays bounded at any rate.
* ``GET /PATH?format=bgra&token=T`` (for OBS, with a transparent background):
  the same Matroska stream with raw 8-bit BGRA frames (``V_UNCOMPRESSED``,
  FourCC ``BGRA``): no encode at all, 3.7 MB a frame at 720p over the
  loopback, and OBS's Media Source keeps the alpha, so the person appears
  over the scene with no colour key.
* ``GET /PATH?format=mjpeg&token=T``: multipart JPEG
  (``multipart/x-mixed-replace``), for an ``<img>`` in a browser or OpenCV.
  A browser asking for HTML at ``/PATH`` gets a tiny page showing that stream.

Cost to the pipeline: :meth:`StreamSink.send` only puts the frame into a
newest-frame slot (microseconds).  One encoder thread JPEG-encodes each frame
once (only while someone watches) and hands the same bytes to every client's
own newest-frame slot; each client has its own thread writing to its socket.
A slow or stuck client therefore drops frames (counted) and never blocks the
pipeline or the other clients; a client whose socket accepts nothing for
``client_timeout`` seconds is disconnected.

Careless or hostile clients cannot hold the server: a connection must send its
whole request head within ``request_timeout`` seconds (a reaper in the server
thread closes it otherwise, with a 408: idle sockets, half-sent request lines,
a request dripped one byte at a time), and at most ``max_connections`` are
served at once (the next one gets a 503 from the accept loop, without a
thread).  :meth:`StreamSink.close` shuts every connection's socket down, so the
end of a run never waits on a client (measured: ``benchmarks/stream_clients.py``).

The delay the sink reports for lip-sync (:attr:`StreamSink.extra_delay_s`) is
its own work only, send() to the JPEG ready for the clients; the time a
viewer's socket takes is the viewer's business and never moves the audio sync.

Security (as for the control API, :mod:`livestyle.security`): the
server binds 127.0.0.1 unless the spec names another address (then it logs a
warning); every request must carry the run's token (``?token=`` in the URL,
which OBS's Media Source can hold, or ``Authorization: Bearer``); a ``Host``
header that does not name this server is refused (DNS rebinding).  No CORS
headers are sent.  The token is random per run unless the ``--output`` URL
carries ``?token=...``.

While it serves, the sink records its URL (token included) and process id in
``stream.json`` (see :func:`stream_record_path`; written atomically, readable by
the user only) so that ``livestyle obs setup`` can find the running output; the
record is removed on close.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np

from livestyle.security import bearer_token, host_allowed, is_loopback, new_token, token_ok
from livestyle.errors import SinkError, UsageError
from livestyle.frame import Frame
from livestyle.sinks.base import Sink
from livestyle.slot import Closed, NewestSlot

log = logging.getLogger(__name__)

DEFAULT_PATH = "/livestyle"
# Matroska timestamps run at this fraction of real time.  OBS's Media Source schedules each frame at
# (its timestamp - the first one's) after it showed the first frame, so with real-time stamps any start-up
# delay (stream probing, decoder set-up) stays as a fixed lag for the whole stream.  Stamps a little slower
# than real time make every frame due by the time it arrives: OBS shows it at once and a start-up delay
# melts away (10 % of real time: 100 ms in one second).  Measured in benchmarks/RESULTS.md ("OBS").
TIMESTAMP_RATE = 0.9
BOUNDARY = "livestyleframe"


def stream_record_path() -> Path:
    """``stream.json`` in livestyle's state folder (:func:`livestyle.fsutil.state_path`)."""
    from livestyle.fsutil import state_path

    return state_path("stream.json")


def running_stream_url() -> str | None:
    """The URL of a network output that a live livestyle process is serving now, or None."""
    try:
        rec = json.loads(stream_record_path().read_text())
        pid, url = int(rec["pid"]), str(rec["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return url


_HOST_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


def parse_stream_spec(spec: str) -> tuple[str, int, str, str | None]:
    """``stream:PORT`` | ``stream:HOST:PORT`` | ``http://HOST:PORT[/PATH][?token=T]`` -> (host, port, path, token).

    Raises :class:`UsageError` for anything else.  Port 0 means "any free port".
    """
    s = spec.strip()
    token: str | None = None
    ipv6_fix = "Write an IPv6 address in brackets: stream:[::1]:8080 or http://[::1]:8080/livestyle."
    if s.startswith("stream:"):
        rest = s[len("stream:"):]
        if rest.startswith("["):  # [IPv6]:PORT
            end = rest.find("]")
            if end < 0:
                raise UsageError(f"--output {spec!r} opens a '[' it does not close.", fix=ipv6_fix)
            host, after = rest[1:end], rest[end + 1:]
            port_s = after[1:] if after.startswith(":") else after
        else:
            host, sep, port_s = rest.rpartition(":")
            if not sep:
                host, port_s = "127.0.0.1", rest
            if ":" in host:
                raise UsageError(f"--output {spec!r}: an IPv6 address needs brackets.", fix=ipv6_fix)
        host = host or "127.0.0.1"
        path = DEFAULT_PATH
    elif s.lower().startswith("http://"):
        try:
            parts = urlsplit(s)
            host = parts.hostname or ""
        except ValueError as e:  # an unclosed '['
            raise UsageError(f"--output {spec!r} is not a valid URL ({e}).", fix=ipv6_fix) from None
        try:
            port = parts.port
        except ValueError:
            port = None
        port_s = str(port) if port is not None else ""
        path = parts.path or DEFAULT_PATH
        token = (parse_qs(parts.query).get("token") or [None])[0]
        if not host:
            raise UsageError(f"--output {spec!r} names no host.", fix="Use http://127.0.0.1:PORT/PATH.")
    else:
        raise UsageError(f"--output {spec!r} is not a network output.", fix="Use stream:PORT or http://127.0.0.1:PORT/PATH.")
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise UsageError(f"--output {spec!r} needs a port number (0-65535), got {port_s!r}.",
                         fix="Use e.g. stream:8080 or http://127.0.0.1:8080/livestyle.")
    if not _HOST_CHARS.fullmatch(host) and ":" not in host:
        raise UsageError(f"--output {spec!r} names the host {host!r}, which is no address or host name.",
                         fix="Use stream:PORT (this machine only), stream:0.0.0.0:PORT (all addresses) or an "
                             "address of this machine.")
    if not path.startswith("/"):
        path = "/" + path
    return host, int(port_s), path.rstrip("/") or DEFAULT_PATH, token


def connect_host(bind_host: str) -> str:
    """The address to put in a URL for a server bound to ``bind_host``.

    A wildcard bind (``0.0.0.0``, ``::``, empty) is no address a client can
    use, and the Host check refuses it (403): this machine reaches it on
    loopback, 127.0.0.1 (``[::1]`` for ``::``).  Any other host is kept.
    """
    h = bind_host.strip().strip("[]")
    if h in ("", "0.0.0.0"):
        return "127.0.0.1"
    if h == "::":
        return "::1"
    return h


# -- Matroska (live, unknown-size segment, one cluster per frame) ---------------------------------------

def _vint_size(n: int) -> bytes:
    """EBML variable-size integer for a data size ``n`` (1 to 8 bytes)."""
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return ((1 << (7 * length)) | n).to_bytes(length, "big")
    raise ValueError(f"EBML size too large: {n}")


def _el(eid: int, payload: bytes) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big") + _vint_size(len(payload)) + payload


def _uint(eid: int, value: int) -> bytes:
    return _el(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _str(eid: int, value: str) -> bytes:
    return _el(eid, value.encode("utf-8"))


_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def matroska_header(width: int, height: int, fps: float, *, alpha: bool = False) -> bytes:
    """EBML header + the start of a live Segment (unknown size) + Info (1 ms timestamps) + one video track:
    ``V_MJPEG``, or with ``alpha`` ``V_UNCOMPRESSED`` whose ColourSpace FourCC is ``BGRA`` (raw 8-bit BGRA,
    which FFmpeg's Matroska demuxer maps to its ``bgra`` pixel format; OBS 29's Media Source shows it with
    its transparency, see benchmarks/RESULTS.md)."""
    ebml = _el(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
               + _str(0x4282, "matroska") + _uint(0x4287, 4) + _uint(0x4285, 2))
    info = _el(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _str(0x4D80, "livestyle") + _str(0x5741, "livestyle"))
    video = _el(0xE0, _uint(0xB0, int(width)) + _uint(0xBA, int(height))
                + (_el(0x2EB524, b"BGRA") if alpha else b""))
    # DefaultDuration lets FFmpeg know the rate from the header, so it starts after one frame instead of probing 20.
    track = _el(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _uint(0x9C, 0)
                + _str(0x86, "V_UNCOMPRESSED" if alpha else "V_MJPEG")
                + _uint(0x23E383, int(round(1e9 / max(fps, 1.0)))) + video)
    tracks = _el(0x1654AE6B, track)
    return ebml + bytes.fromhex("18538067") + _UNKNOWN_SIZE + info + tracks


RAW_WRITE = 1 << 20  # frames from this many bytes on (raw BGRA) are written after their head, not joined to it


def matroska_frame_head(size: int, timestamp_ms: int) -> bytes:
    """The bytes that precede a frame of ``size`` bytes in its Cluster (one keyframe SimpleBlock of track 1
    at ``timestamp_ms``): written before the frame's own bytes, so a 3.7 MB raw frame is never copied."""
    block_head = b"\x81" + struct.pack(">hB", 0, 0x80)
    simple = bytes.fromhex("A3") + _vint_size(len(block_head) + size) + block_head
    stamp = _uint(0xE7, int(timestamp_ms))
    return bytes.fromhex("1F43B675") + _vint_size(len(stamp) + len(simple) + size) + stamp + simple


def matroska_frame(jpeg: bytes, timestamp_ms: int) -> bytes:
    """One Cluster holding one keyframe SimpleBlock of track 1 at ``timestamp_ms`` (a JPEG or raw BGRA bytes)."""
    return matroska_frame_head(len(jpeg), timestamp_ms) + bytes(jpeg)


# -- the sink --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Packet:
    """One encoded frame: JPEG bytes and/or raw BGRA bytes (each only when a client wants it; the BGRA
    bytes are a view of the frame, which nobody writes into after send()), the frame index and the
    perf_counter() time send() got it."""

    jpeg: bytes | None
    index: int
    t_sent: float
    bgra: memoryview | None = None

    def payload(self, fmt: str) -> bytes | memoryview | None:
        return self.bgra if fmt == "bgra" else self.jpeg


class _Client:
    def __init__(self, peer: str, fmt: str):
        self.peer = peer
        self.format = fmt
        self.slot: NewestSlot[_Packet] = NewestSlot(block=False)
        self.frames = 0


class StreamSink(Sink):
    """Serve uint8 BGR frames, shape (H, W, 3), or BGRA (H, W, 4), as a live HTTP stream (Matroska/MJPEG,
    Matroska/raw BGRA with ``?format=bgra``, or multipart JPEG).

    ``alpha``: the run may send BGRA frames (a transparent background); :attr:`url` then names the raw BGRA
    Matroska stream, which carries the alpha into OBS.  JPEG clients see a BGRA frame over black.

    ``host``/``port``/``path`` say where (port 0 picks a free port; :attr:`port`
    holds the real one after :meth:`open`); ``token`` fixes the access token
    (random otherwise; :attr:`url` is the full URL to give OBS);
    ``quality`` is the JPEG quality (1-100).  Counters: ``frames_sent``
    (frames given to send), ``frames_encoded``, ``client_drops`` (frames a
    client's slot replaced before it was written), ``clients`` (connected now).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, path: str = DEFAULT_PATH,
                 token: str | None = None, quality: int = 80, client_timeout: float = 10.0,
                 request_timeout: float = 5.0, max_connections: int = 32, alpha: bool = False):
        if not 1 <= int(quality) <= 100:
            raise UsageError(f"The JPEG quality must be 1..100, got {quality}.", fix="Use e.g. 80.")
        self.host = host
        self.port = int(port)
        self.path = path if path.startswith("/") else "/" + path
        self.token = token or new_token()
        self.quality = int(quality)
        self.alpha = bool(alpha)
        self.client_timeout = float(client_timeout)
        self.request_timeout = float(request_timeout)
        self.max_connections = max(1, int(max_connections))
        self.connections_refused = 0  # over max_connections: answered 503 at once
        self.connections_timed_out = 0  # no whole request head within request_timeout: closed
        self.description = f"network stream http://{self._netloc()}{self.path}"
        self.frames_sent = 0
        self.frames_encoded = 0
        self.last_index = -1
        self.client_drops_closed = 0
        self._size: tuple[int, int] | None = None
        self._fps = 30.0
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._encoder: threading.Thread | None = None
        self._inbox: NewestSlot[tuple[np.ndarray, int, float]] = NewestSlot(block=False)
        self._clients: set[_Client] = set()
        self._lock = threading.Lock()
        self._latest: _Packet | None = None
        self._encode_delay_s: float | None = None  # smoothed send() -> JPEG ready for the clients (encoder thread)
        self._record: Path | None = None  # stream.json while serving

    def _netloc(self) -> str:
        """HOST:PORT a client on this machine connects to (a wildcard bind is reached on loopback)."""
        h = connect_host(self.host)
        h = f"[{h}]" if ":" in h else h
        return f"{h}:{self.port}"

    carries_alpha = True  # BGRA frames go out with their alpha (``?format=bgra``)

    @property
    def url(self) -> str:
        """The URL for OBS's Media Source (Matroska; raw BGRA with alpha when the sink was made with ``alpha``),
        token included."""
        fmt = "format=bgra&" if self.alpha else ""
        return f"http://{self._netloc()}{self.path}?{fmt}token={quote(self.token)}"

    @property
    def mjpeg_url(self) -> str:
        """The multipart-JPEG URL (browsers, OpenCV), token included."""
        return f"http://{self._netloc()}{self.path}?format=mjpeg&token={quote(self.token)}"

    @property
    def extra_delay_s(self) -> float:
        """The delay this sink adds after send(), in seconds: until the JPEG is ready for every client, smoothed.

        The pipeline adds it to its own delay for lip-sync (OBS's mic offset).
        It is the sink's own work only: how long a viewer's socket takes to
        accept the bytes depends on that viewer (a phone on Wi-Fi, a stalled
        tab) and must never move the audio sync of the stream.
        """
        return self._encode_delay_s or 0.0

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def client_drops(self) -> int:
        with self._lock:
            return self.client_drops_closed + sum(c.slot.dropped for c in self._clients)

    # -- Sink interface ------------------------------------------------------------------------------
    def open(self, size: tuple[int, int], fps: float) -> None:
        """Start the HTTP server and the encoder thread; raise :class:`SinkError` if the port is taken."""
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0:
            raise SinkError(f"The network output needs a positive size, got {width}x{height}.",
                            fix="Pass --size WxH with positive values.")
        self._size = (width, height)
        self._fps = float(fps) if fps and fps > 0 else 30.0
        handler = _make_handler(self)
        server_cls = _DualStackServer if ":" in self.host else _Server
        try:
            self._server = server_cls((self.host, self.port), handler, sink=self)
        except OSError as e:
            bind = f"[{self.host}]" if ":" in self.host else self.host
            if e.errno == errno.EADDRINUSE:
                fix = "Choose another port (stream:PORT), or stop the program using it."
            elif e.errno == errno.EACCES:
                fix = "Ports below 1024 need privileges: choose one above 1023 (stream:8080)."
            else:  # not an address of this machine, or a name that does not resolve
                fix = ("Use stream:PORT (this machine only), stream:0.0.0.0:PORT (all addresses) or an address "
                       "this machine has.")
            raise SinkError(f"The network output could not listen on {bind}:{self.port}: {e.strerror or e}.",
                            fix=fix) from None
        if not is_loopback(self.host):
            log.warning("the network output listens on %s, reachable from other machines; anyone with the token "
                        "can watch. Use 127.0.0.1 unless you need it.", self.host)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.description = f"network stream {self.url}"
        self._inbox = NewestSlot(block=False)
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                               name="stream-http", daemon=True)
        self._server_thread.start()
        self._encoder = threading.Thread(target=self._encode_loop, name="stream-encode", daemon=True)
        self._encoder.start()
        log.info("network output at %s (multipart JPEG: %s)", self.url, self.mjpeg_url)
        self._write_record()

    def _write_record(self) -> None:
        from livestyle.fsutil import atomic_path

        path = stream_record_path()
        text = json.dumps({"url": self.url, "mjpeg_url": self.mjpeg_url, "pid": os.getpid()}) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.chmod(tmp, 0o600)  # the token is in it: for the user's eyes only
            self._record = path
        except OSError as e:
            log.debug("network output: could not write %s: %s", path, e)

    def _remove_record(self) -> None:
        path, self._record = self._record, None
        if path is None:
            return
        try:
            if json.loads(path.read_text()).get("url") == self.url:
                path.unlink()
        except (OSError, ValueError, AttributeError):
            pass

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Hand ``frame`` (uint8 BGR, the opened (H, W, 3)) to the encoder; returns at once.

        The image is not copied: the caller must not write into it afterwards
        (the pipeline makes a new array per output frame).  With nobody
        watching, the frame is only counted.
        """
        if self._size is None:
            raise SinkError("The network output is not open.", fix="Call open(size, fps) before send().")
        img = frame.image
        if img.ndim == 3 and img.shape[2] == 4 and img.dtype == np.uint8 and img.shape[:2] == self._size[::-1]:
            pass  # BGRA: a transparent background
        else:
            self.check_frame(img, self._size)
        self.frames_sent += 1
        self.last_index = frame.index
        if self._clients:  # a racy read is fine: a client that just arrived gets the next frame
            self._inbox.put((frame.image, frame.index, time.perf_counter()))

    def close(self) -> None:
        """Stop serving, disconnect clients, join the threads; idempotent."""
        self._inbox.close()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            c.slot.close()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections(wait_s=1.0)  # every handler thread ends now, whatever its client does
        for t in (self._encoder, self._server_thread):
            if t is not None:
                t.join(timeout=5)
        self._encoder = self._server_thread = None
        self._size = None
        self._remove_record()

    # -- internals --------------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        import cv2

        params = [int(cv2.IMWRITE_JPEG_QUALITY), self.quality]
        while True:
            try:
                item = self._inbox.get(timeout=0.5)
            except Closed:
                return
            if item is None:
                continue
            image, index, t_sent = item
            with self._lock:
                clients = list(self._clients)
            if not clients:
                continue  # nobody watches: skip the encode
            wants = {c.format for c in clients}
            jpeg = bgra = None
            if wants & {"mkv", "mjpeg"}:
                bgr = image
                if image.shape[2] == 4:  # a JPEG cannot carry alpha: the transparent part shows black
                    a = image[:, :, 3]
                    bgr = cv2.multiply(image[:, :, :3], cv2.merge([a, a, a]), scale=1.0 / 255.0)
                ok, buf = cv2.imencode(".jpg", bgr, params)
                if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGR
                    log.warning("the network output could not JPEG-encode frame %d", index)
                    continue
                jpeg = buf.tobytes()
            if "bgra" in wants:  # no encode: the bytes as they are (an opaque frame gets alpha 255)
                four = image if image.shape[2] == 4 else cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
                bgra = memoryview(np.ascontiguousarray(four).reshape(-1))  # no copy: 1-D bytes of the frame
            packet = _Packet(jpeg=jpeg, index=index, t_sent=t_sent, bgra=bgra)
            self.frames_encoded += 1
            dt = time.perf_counter() - t_sent
            prev = self._encode_delay_s
            self._encode_delay_s = dt if prev is None else 0.9 * prev + 0.1 * dt
            self._latest = packet
            for c in clients:
                c.slot.put(packet)

    def _add(self, client: _Client) -> None:
        with self._lock:
            self._clients.add(client)

    def _remove(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.discard(client)
                self.client_drops_closed += client.slot.dropped
        client.slot.close()


class _Server(ThreadingHTTPServer):
    """The HTTP server with a cap on connections and a deadline for each request head.

    Connections are tracked from accept to close.  :meth:`verify_request`
    (accept loop) answers 503 and closes a connection over the sink's
    ``max_connections``; :meth:`service_actions` (the same loop, every poll
    interval) closes with a 408 a connection whose request head has not been
    read within ``request_timeout`` of its accept.
    """

    daemon_threads = True
    request_queue_size = 64  # a burst of viewers waits in the kernel's queue instead of retrying SYNs

    def __init__(self, address, handler, *, sink: StreamSink):
        self.sink = sink
        self._conns: dict[socket.socket, list] = {}  # socket -> [accepted at (monotonic), head read?]
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def verify_request(self, request, client_address) -> bool:
        with self._conns_lock:
            full = len(self._conns) >= self.sink.max_connections
        if full:
            self.sink.connections_refused += 1
            log.info("network output: %d connections open, refusing %s", self.sink.max_connections, client_address)
            _send_nowait(request, 503, "Too many connections to the network output")
            return False
        return True

    def process_request(self, request, client_address) -> None:
        with self._conns_lock:
            self._conns[request] = [time.monotonic(), False]
        try:
            super().process_request(request, client_address)
        except Exception:  # no thread could start: forget it (shutdown_request closes it)
            self.shutdown_request(request)
            raise

    def shutdown_request(self, request) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def head_read(self, request) -> None:
        """The handler parsed the request head: from now on the client's own timeouts apply."""
        with self._conns_lock:
            entry = self._conns.get(request)
            if entry is not None:
                entry[1] = True

    def service_actions(self) -> None:
        super().service_actions()
        deadline = time.monotonic() - self.sink.request_timeout
        with self._conns_lock:
            late = [r for r, (t, head) in self._conns.items() if not head and t < deadline]
            for r in late:
                self._conns[r][1] = True  # reaped once
        for r in late:
            self.sink.connections_timed_out += 1
            _send_nowait(r, 408, "No complete request in time")
            _hang_up(r)

    def drop_connections(self, wait_s: float) -> None:
        """Shut every open connection down (its handler thread then ends) and wait up to ``wait_s`` for them."""
        with self._conns_lock:
            conns = list(self._conns)
        for r in conns:
            _hang_up(r)
        t_end = time.monotonic() + wait_s
        while time.monotonic() < t_end:
            with self._conns_lock:
                if not self._conns:
                    return
            time.sleep(0.01)

    def handle_error(self, request, client_address):  # a broken client must not print a traceback
        log.debug("network output: error serving %s", client_address, exc_info=True)


def _send_nowait(sock: socket.socket, code: int, reason: str) -> None:
    """Best effort: a short plain-text HTTP answer that never blocks (a full send buffer drops it)."""
    body = (reason + "\n").encode()
    head = (f"HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        sock.send(head + body, socket.MSG_DONTWAIT)
    except OSError:
        pass


def _hang_up(sock: socket.socket) -> None:
    """Shut both directions: a thread blocked reading or writing this socket returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _DualStackServer(_Server):
    address_family = socket.AF_INET6


_PAGE = """<!doctype html><meta charset="utf-8"><title>livestyle output</title>
<style>html,body{{margin:0;background:#000;height:100%}}img{{width:100%;height:100%;object-fit:contain}}</style>
<img alt="livestyle output" src="{src}">
"""


def _make_handler(sink: StreamSink):
    class Handler(BaseHTTPRequestHandler):
        server_version = "livestyle"
        sys_version = ""
        protocol_version = "HTTP/1.0"

        timeout = sink.request_timeout  # each read of the request head (the server's reaper bounds the whole head)

        def log_message(self, fmt, *args):  # route the server's own log lines to logging at debug level
            log.debug("%s %s", self.address_string(), fmt % args)

        def _refuse(self, code: int, reason: str) -> None:
            body = (reason + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self):  # noqa: N802
            self.do_GET()

        def do_GET(self):  # noqa: N802
            self.server.head_read(self.request)
            parts = urlsplit(self.path)
            if not host_allowed(self.headers.get("Host"), sink.port, sink.host):
                return self._refuse(403, "Host header not allowed: use http://127.0.0.1:PORT/...")
            if parts.path.rstrip("/") != sink.path:
                return self._refuse(404, f"Not found: the stream is at {sink.path}")
            query = parse_qs(parts.query)
            given = bearer_token(self.headers.get("Authorization")) or (query.get("token") or [None])[0]
            if not token_ok(given, sink.token):
                return self._refuse(401, "Missing or wrong token: add ?token=... (printed when livestyle starts)")
            fmt = (query.get("format") or [""])[0].lower()
            if not fmt and "text/html" in (self.headers.get("Accept") or ""):
                page = _PAGE.format(src=f"{sink.path}?format=mjpeg&token={quote(sink.token)}").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(page)
                return None
            fmt = fmt or "mkv"
            if fmt not in ("mkv", "mjpeg", "bgra"):
                return self._refuse(400, f"Unknown format {fmt!r}: use mkv (OBS), bgra (OBS, with alpha) or "
                                         "mjpeg (browsers)")
            if sink._size is None:
                return self._refuse(503, "The stream is not running")
            client = _Client(self.address_string(), fmt)
            if self.command != "HEAD":
                sink._add(client)  # before the headers: a client that has them gets every later frame
            try:
                self.send_response(200)
                ctype = "video/x-matroska" if fmt != "mjpeg" else f"multipart/x-mixed-replace; boundary={BOUNDARY}"
                self.send_header("Content-Type", ctype)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self._stream(fmt, client)
            except (OSError, ValueError) as e:  # the client left before its headers were sent
                log.info("network output: client %s left (%s)", client.peer, type(e).__name__)
            finally:
                sink._remove(client)
            return None

        def _stream(self, fmt: str, client: _Client) -> None:
            self.connection.settimeout(sink.client_timeout)
            try:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            log.info("network output: %s client %s connected", fmt, client.peer)
            t0: float | None = None
            last_ms = -1
            sized = False
            try:
                if fmt != "mjpeg":
                    w, h = sink._size or (0, 0)
                    self.wfile.write(matroska_header(w, h, sink._fps, alpha=fmt == "bgra"))
                latest = sink._latest
                if latest is not None and latest.payload(fmt) is not None and time.perf_counter() - latest.t_sent < 1.0:
                    client.slot.put(latest)  # show something at once instead of waiting for the next frame
                while True:
                    try:
                        packet = client.slot.get(timeout=0.5)
                    except Closed:
                        return
                    if packet is None or packet.payload(fmt) is None:  # (made before this client came)
                        if packet is None and self._peer_closed():
                            return
                        continue
                    data = packet.payload(fmt)
                    if not sized:
                        # The kernel's send buffer grows to megabytes on loopback: seconds of video queued for a
                        # viewer that stalls.  About two frames' worth makes our newest-frame slot do the dropping.
                        sized = True
                        try:
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                       max(16384, len(data)))
                        except OSError:
                            pass
                    if fmt != "mjpeg":
                        if t0 is None:
                            t0 = packet.t_sent
                        ms = max(last_ms + 1, int(round((packet.t_sent - t0) * 1000 * TIMESTAMP_RATE)))
                        last_ms = ms
                        head = matroska_frame_head(len(data), ms)
                        if len(data) < RAW_WRITE:  # a JPEG: one write, as one TCP send
                            self.wfile.write(head + data)
                        else:  # a raw frame: its bytes as they are, after the head (no 3.7 MB copy)
                            self.wfile.write(head)
                            self.wfile.write(data)
                    else:
                        self.wfile.write(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % (BOUNDARY.encode(), len(data)) + data + b"\r\n")
                    client.frames += 1
            except (OSError, ValueError) as e:  # the client went away, or stalled past client_timeout
                log.info("network output: client %s left after %d frames (%s)", client.peer, client.frames,
                         type(e).__name__)

        def _peer_closed(self) -> bool:
            """True when the client has hung up (readable with no data) while no frame was due."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except (OSError, ValueError):
                return True

    return Handler
