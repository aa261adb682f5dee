"""The network output (``--output stream:PORT``): formats, many clients, slow clients, security.

Real parts: a real HTTP server on 127.0.0.1, real sockets, FFmpeg (through
OpenCV) reading the Matroska stream, JPEG frames carrying their index.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from livestyle.errors import SinkError, UsageError
from livestyle.frame import Frame
from livestyle.sinks.registry import open_sink
from livestyle.sinks.stream import StreamSink, matroska_frame, matroska_frame_head, matroska_header, parse_stream_spec
from tests.support.obs_frames import PacedFeeder, barcode_frame, read_barcode

SIZE = (320, 180)


@pytest.fixture(autouse=True)
def _own_livestyle_home(tmp_path, monkeypatch):
    """Sinks opened here record their URL (stream.json) under a temporary LIVESTYLE_HOME, not the user's."""
    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "livestyle-home"))


@pytest.fixture()
def sink():
    s = StreamSink(port=0, token="secret-token")
    s.open(SIZE, 30.0)
    yield s
    s.close()


def _get(sink, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    return conn, resp


class MultipartReader:
    """A minimal multipart-JPEG client: yields decoded uint8 BGR frames."""

    def __init__(self, sink, *, rcvbuf: int | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
        if rcvbuf:
            self.conn.connect()
            self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.conn.request("GET", f"{sink.path}?format=mjpeg&token={sink.token}")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status
        assert self.resp.getheader("Content-Type").startswith("multipart/x-mixed-replace")

    def next(self) -> np.ndarray:
        length = None
        while True:
            line = self.resp.fp.readline().strip()
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif not line and length is not None:
                break
        data = self.resp.fp.read(length)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def close(self):
        self.resp.close()
        self.conn.close()


def _wait(cond, timeout=5.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_parse_stream_spec_forms():
    assert parse_stream_spec("stream:8080") == ("127.0.0.1", 8080, "/livestyle", None)
    assert parse_stream_spec("stream:0.0.0.0:9000") == ("0.0.0.0", 9000, "/livestyle", None)
    assert parse_stream_spec("stream:[::1]:9000") == ("::1", 9000, "/livestyle", None)
    assert parse_stream_spec("http://127.0.0.1:8081/cam/") == ("127.0.0.1", 8081, "/cam", None)
    assert parse_stream_spec("http://localhost:8081/x?token=abc") == ("localhost", 8081, "/x", "abc")
    for bad in ("stream:", "stream:http", "http://127.0.0.1/x", "stream:70000", "http://:80/x"):
        with pytest.raises(UsageError):
            parse_stream_spec(bad)


def test_open_sink_builds_a_stream_sink_with_the_url_token():
    s = open_sink("http://127.0.0.1:0/obs?token=tok123")
    assert isinstance(s, StreamSink)
    assert (s.host, s.path, s.token) == ("127.0.0.1", "/obs", "tok123")
    assert open_sink("stream:0").token != open_sink("stream:0").token  # random per run
    assert open_sink("stream:0", token="given").token == "given"


def test_multipart_client_gets_the_frames_in_order(sink):
    reader = MultipartReader(sink)
    try:
        assert _wait(lambda: sink.clients == 1)
        got = []
        for i in range(10):
            sink.send(Frame(image=barcode_frame(i, SIZE), index=i))
            got.append(read_barcode(reader.next()))
            assert got[-1] is not None
        assert got == list(range(10))
        assert sink.frames_encoded == 10
    finally:
        reader.close()
    assert _wait(lambda: sink.clients == 0)


def test_matroska_stream_decodes_with_ffmpeg_and_has_increasing_timestamps(sink):
    feeder = PacedFeeder(sink, 30.0, SIZE).start()
    try:
        cap = cv2.VideoCapture(sink.url, cv2.CAP_FFMPEG)
        assert cap.isOpened(), "FFmpeg could not open the Matroska stream"
        indices, stamps = [], []
        for _ in range(20):
            ok, img = cap.read()
            assert ok
            assert img.shape == (SIZE[1], SIZE[0], 3)
            indices.append(read_barcode(img))
            stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
        cap.release()
    finally:
        feeder.stop()
    assert None not in indices
    assert all(b > a for a, b in zip(indices, indices[1:])), indices
    assert all(b > a for a, b in zip(stamps, stamps[1:])), stamps
    # timestamps follow the send clock (30 fps), not a guessed 25 fps
    per_frame_ms = (stamps[-1] - stamps[0]) / (indices[-1] - indices[0])
    assert 20 < per_frame_ms < 50, per_frame_ms


def test_matroska_header_and_frame_are_well_formed_ebml():
    head = matroska_header(640, 360, 30)
    assert head.startswith(bytes.fromhex("1a45dfa3"))
    assert b"V_MJPEG" in head and b"matroska" in head
    cluster = matroska_frame(b"\xff\xd8jpeg\xff\xd9", 1234)
    assert cluster.startswith(bytes.fromhex("1f43b675"))
    assert cluster.endswith(b"\xff\xd8jpeg\xff\xd9")
    assert (1234).to_bytes(2, "big") in cluster


def _ebml_size(buf: bytes, at: int) -> tuple[int, int]:
    """(value, length) of the EBML variable-size integer at ``at``."""
    first = buf[at]
    length = 8 - first.bit_length() + 1
    value = first & ((1 << (8 - length)) - 1)
    for b in buf[at + 1: at + length]:
        value = (value << 8) | b
    return value, length


def test_a_raw_frame_is_sent_after_its_own_head_and_the_sizes_add_up():
    """A 720p BGRA frame (3.7 MB) goes out as head + the frame's own bytes; the Cluster's and the SimpleBlock's
    sizes must count exactly the bytes that follow them, or FFmpeg loses the stream."""
    for n in (10, 127, 16382, 1280 * 720 * 4):
        head = matroska_frame_head(n, 70000)
        cluster_size, k = _ebml_size(head, 4)
        assert cluster_size == len(head) - 4 - k + n
        assert head[4 + k] == 0xE7  # the Cluster's timestamp, then the SimpleBlock
        at = 4 + k + 2 + (head[4 + k + 1] & 0x7F)
        assert head[at] == 0xA3
        block_size, j = _ebml_size(head, at + 1)
        assert block_size == len(head) - (at + 1 + j) + n
        payload = bytes(range(256)) * (n // 256) + bytes(n % 256)
        assert matroska_frame(payload, 70000) == head + payload


def test_a_stuck_client_drops_frames_and_never_blocks_the_others():
    s = StreamSink(port=0, token="t", client_timeout=30)
    size = (1280, 720)
    s.open(size, 30.0)
    noisy = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)  # big JPEGs
    stuck = socket.create_connection(("127.0.0.1", s.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(f"GET {s.path}?format=mjpeg&token=t HTTP/1.0\r\nHost: 127.0.0.1:{s.port}\r\n\r\n".encode())
    reader = MultipartReader(s)
    try:
        assert _wait(lambda: s.clients == 2)
        received = 0
        for i in range(60):
            img = noisy.copy()
            img[:8, :8] = i
            s.send(Frame(image=img, index=i))
            reader.next()  # the good client reads every frame it is given
            received += 1
        assert received == 60
        assert s.frames_sent == 60
        # the stuck client's socket is full: its slot kept replacing frames instead of queueing them
        assert s.client_drops > 0
    finally:
        reader.close()
        stuck.close()
        s.close()


@pytest.mark.parametrize("path,headers,code", [
    ("/livestyle", {}, 401),
    ("/livestyle?token=wrong", {}, 401),
    ("/livestyle?token=secret-token", {"Host": "evil.example:{port}"}, 403),
    ("/livestyle?token=secret-token", {"Host": "127.0.0.1:1"}, 403),
    ("/other?token=secret-token", {}, 404),
    ("/livestyle?token=secret-token&format=flv", {}, 400),
])
def test_security_and_errors(sink, path, headers, code):
    headers = {k: v.format(port=sink.port) for k, v in headers.items()}
    conn, resp = _get(sink, path, headers)
    try:
        assert resp.status == code
        assert resp.getheader("Access-Control-Allow-Origin") is None
    finally:
        conn.close()


def test_bearer_token_and_html_page(sink):
    conn, resp = _get(sink, sink.path, {"Authorization": "Bearer secret-token", "Accept": "text/html"})
    body = resp.read().decode()
    conn.close()
    assert resp.status == 200 and "<img" in body and "format=mjpeg" in body
    conn, resp = _get(sink, sink.path, {"Authorization": "Bearer secret-token"}, method="HEAD")
    assert resp.status == 200 and resp.getheader("Content-Type") == "video/x-matroska"
    conn.close()


def test_port_in_use_is_a_sink_error(sink):
    other = StreamSink(port=sink.port)
    with pytest.raises(SinkError, match="could not listen"):
        other.open(SIZE, 30)


def test_non_loopback_bind_warns_and_checks_host(caplog):
    s = StreamSink(host="0.0.0.0", port=0, token="t")
    with caplog.at_level(logging.WARNING, logger="livestyle.sinks.stream"):
        s.open(SIZE, 30)
    try:
        assert any("reachable from other machines" in r.message for r in caplog.records)
        conn, resp = _get(s, f"{s.path}?token=t", {"Host": "attacker.example:%d" % s.port}, method="HEAD")
        assert resp.status == 403
        conn.close()
    finally:
        s.close()


def test_send_checks_frames_and_close_is_idempotent(sink):
    with pytest.raises(SinkError):
        sink.send(Frame(image=np.zeros((10, 10, 3), np.uint8), index=0))
    reader = MultipartReader(sink)
    sink.send(Frame(image=barcode_frame(7, SIZE), index=7))
    assert read_barcode(reader.next()) == 7
    sink.close()
    sink.close()
    with pytest.raises(SinkError, match="not open"):
        sink.send(Frame(image=barcode_frame(8, SIZE), index=8))
    # the client was disconnected: reading to the end returns (a stream left open would time out and raise)
    assert isinstance(reader.resp.fp.read(), bytes)
    reader.close()


@pytest.mark.skipif(not __import__("os").path.exists("/usr/bin/chromium"), reason="Debian's chromium is not installed")
def test_a_browser_shows_the_stream_page(sink):
    playwright = pytest.importorskip("playwright.sync_api")
    feeder = PacedFeeder(sink, 30.0, SIZE).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{sink.port}{sink.path}?token={sink.token}")
                page.wait_for_function("document.querySelector('img') && document.querySelector('img').naturalWidth > 0",
                                       timeout=15000)
                assert page.evaluate("[document.querySelector('img').naturalWidth, "
                                     "document.querySelector('img').naturalHeight]") == list(SIZE)
                shot = page.screenshot()
            finally:
                browser.close()
    finally:
        feeder.stop()
    img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.std() > 10  # the bar-code frame is on the page, not a blank one


def test_the_running_output_is_recorded_for_obs_setup_and_removed_on_close(tmp_path):
    from livestyle.sinks.stream import running_stream_url, stream_record_path

    assert stream_record_path() == tmp_path / "livestyle-home" / "stream.json"
    assert running_stream_url() is None
    s = StreamSink(port=0, token="rec")
    s.open(SIZE, 30)
    try:
        assert running_stream_url() == s.url
        assert stream_record_path().stat().st_mode & 0o077 == 0  # the token is in it: the user's eyes only
    finally:
        s.close()
    assert running_stream_url() is None and not stream_record_path().exists()
    # a record left by a process that is gone is ignored
    stream_record_path().write_text('{"url": "http://127.0.0.1:1/x?token=t", "pid": 999999999}')
    assert running_stream_url() is None


def test_a_reader_that_stalls_then_resumes_gets_a_recent_frame_not_a_backlog():
    """The kernel must not queue seconds of video for a stalled viewer: the socket holds ~2 frames, the slot drops."""
    size = (640, 360)
    s = StreamSink(port=0, token="t")
    s.open(size, 60.0)
    noise = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)  # ~200 KB JPEGs

    def frame(i):
        img = noise.copy()
        img[:96, :96] = 2 * i  # the index as a flat grey patch (survives JPEG)
        return img

    reader = MultipartReader(s)
    try:
        assert _wait(lambda: s.clients == 1)
        s.send(Frame(image=frame(0), index=0))
        reader.next()
        for i in range(1, 121):  # the reader reads nothing meanwhile
            s.send(Frame(image=frame(i), index=i))
            time.sleep(0.01)
        time.sleep(0.3)
        # what the socket buffers hold (a frame or two, sent before the stall) comes first, then the newest
        shown = [int(round(float(reader.next()[:96, :96].mean()) / 2)) for _ in range(4)]
        assert max(shown) >= 110, f"after a stall the reader got frames {shown} of 120: a backlog was queued"
        assert s.client_drops > 0
    finally:
        reader.close()
        s.close()


def test_bgra_format_carries_the_alpha_and_jpeg_clients_see_black_behind():
    """?format=bgra sends raw BGRA in Matroska (FFmpeg decodes it with its alpha); a JPEG client of the same
    stream sees the transparent part as black."""
    import shutil
    import subprocess
    import urllib.request

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    sink = StreamSink(port=0, alpha=True)
    sink.open((64, 48), 30.0)
    try:
        assert "format=bgra" in sink.url and sink.carries_alpha
        img = np.zeros((48, 64, 4), np.uint8)
        img[:, :, 1] = 200
        img[:, 32:, 3] = 255          # right half opaque green, left half transparent
        stop = threading.Event()

        def feed():
            i = 0
            while not stop.is_set():
                sink.send(Frame(image=img, index=i))
                i += 1
                time.sleep(1 / 30)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        r = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", sink.url, "-frames:v", "1", "-f", "rawvideo",
                            "-pix_fmt", "bgra", "-"], capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        got = np.frombuffer(r.stdout, np.uint8).reshape(48, 64, 4)
        assert (got[:, :32, 3] == 0).all() and (got[:, 32:, 3] == 255).all() and (got[:, :, 1] == 200).all()
        with urllib.request.urlopen(sink.mjpeg_url, timeout=10) as resp:
            data = resp.read(20000)
        jpg = data[data.index(b"\xff\xd8"):data.index(b"\xff\xd9") + 2]
        dec = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
        assert dec[:, :28, 1].mean() < 20 and dec[:, 36:, 1].mean() > 180
        stop.set()
        t.join()
    finally:
        sink.close()
