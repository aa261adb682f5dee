"""The network output under hostile or careless clients, through the real CLI (``livestyle run --output stream:...``).

* a wildcard bind (``0.0.0.0``, ``::``) prints and records a URL that works;
* idle, half-sent and slow clients cannot hold the server: every connection has
  a read timeout, the server a cap on connections, and SIGTERM ends the run
  within 2 s whatever 200 such clients do;
* slow viewers never move the delay the sink reports for lip-sync.

Real parts: the CLI in a subprocess, real sockets on loopback, real signals.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT, cli_env
from tests.support.obs_studio import free_port

LIVESTYLE = [sys.executable, "-m", "livestyle"]


def _start_run(tmp_path, output: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start ``livestyle run`` on the paced demo with ``--output output``; return it and the URL it prints."""
    proc = subprocess.Popen([*LIVESTYLE, "run", "--input", "demo", "--realtime", "--size", "320x180", "--output",
                             output, *extra], env=cli_env(tmp_path / "home"), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t_end = time.monotonic() + 60
    while time.monotonic() < t_end:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"network output (http://\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"livestyle printed no network output URL:\n{out}\n{err}")


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("bind", ["0.0.0.0", "[::]"])
def test_a_wildcard_bind_prints_and_records_a_url_that_works(bind, tmp_path):
    if bind == "[::]" and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    port = free_port()
    proc, url = _start_run(tmp_path, f"stream:{bind}:{port}")
    try:
        parts = urlsplit(url)
        assert parts.hostname == ("127.0.0.1" if bind == "0.0.0.0" else "::1"), url
        assert parts.port == port
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=10)
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, resp.read(200))
        assert resp.getheader("Content-Type") == "video/x-matroska"
        assert resp.read(4) == bytes.fromhex("1A45DFA3")  # the EBML header: the stream itself
        conn.close()
        record = json.loads((tmp_path / "home" / "stream.json").read_text())
        assert record["url"] == url  # what `livestyle obs setup` gives OBS
    finally:
        out, err = _stop(proc)
    assert "reachable from other machines" in err  # the warning about binding to all addresses stays


class _Client:
    """One raw TCP client of the stream port: ``idle`` (sends nothing), ``partial`` (half a request line),
    ``drip`` (its request one byte per poll) or ``slow`` (a real viewer that reads ~15 KB/s)."""

    def __init__(self, kind: str, port: int, request: bytes):
        self.kind, self.request, self.pos = kind, request, 0
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.answer = b""
        self.closed_at: float | None = None
        if kind == "partial":
            self.sock.sendall(request[:11])
        elif kind == "slow":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.sock.sendall(request)
        self.sock.setblocking(False)

    def poll(self, budget: int = 1500) -> None:
        """Drip a byte / read up to ``budget`` bytes; note when the server hung up."""
        if self.closed_at is not None:
            return
        try:
            if self.kind == "drip" and self.pos < len(self.request):
                self.sock.send(self.request[self.pos:self.pos + 1])
                self.pos += 1
            data = self.sock.recv(budget)
            if not data:
                self.closed_at = time.monotonic()
            elif len(self.answer) < 64:
                self.answer += data
        except BlockingIOError:
            pass
        except OSError:
            self.closed_at = time.monotonic()

    def close(self):
        self.sock.close()


def test_idle_half_sent_and_slow_clients_cannot_hold_the_server_and_sigterm_ends_the_run_within_2s(tmp_path):
    port = free_port()
    proc, url = _start_run(tmp_path, f"stream:{port}")
    clients: list[_Client] = []
    try:
        parts = urlsplit(url)
        request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        kinds = ["slow"] * 8 + ["idle", "partial", "drip"] * 64  # 200 clients
        t_connected = time.monotonic()
        for kind in kinds:
            clients.append(_Client(kind, port, request))

        def poll_for(seconds: float):
            t_end = time.monotonic() + seconds
            while time.monotonic() < t_end:
                for c in clients:
                    c.poll()
                time.sleep(0.1)  # slow viewers: 1500 bytes per 0.1 s = 15 KB/s

        poll_for(1.5)
        still_open = [c for c in clients if c.closed_at is None]
        # a cap on connections: the rest were answered at once (503), not given a thread each
        assert len(still_open) <= 32, len(still_open)
        # they were told why: an idle client refused reads a 503 (one that had sent bytes the server never read
        # may see its connection reset before it reads the answer, as TCP does for unread data)
        refused_idle = [c for c in clients if c.kind == "idle" and c.closed_at is not None]
        assert len(refused_idle) >= 40, len(refused_idle)
        assert all(c.answer.startswith(b"HTTP/1.0 503") for c in refused_idle), [c.answer[:12] for c in refused_idle]
        poll_for(max(0.0, t_connected + 7.5 - time.monotonic()))
        # a read timeout on every connection: none that never sent a whole request is kept past it (5 s)
        lingering = [c.kind for c in clients if c.kind != "slow" and c.closed_at is None]
        assert lingering == [], lingering
        slow = [c for c in clients if c.kind == "slow"]
        assert all(c.answer.startswith(b"HTTP/1.0 200") and c.closed_at is None for c in slow), \
            [(c.answer[:20], c.closed_at) for c in slow]
        # freed slots serve a new viewer
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read(4) == bytes.fromhex("1A45DFA3")
        conn.close()
        # new idle clients arrive just before the signal: they must not hold the end of the run either
        clients += [_Client("idle", port, request) for _ in range(20)]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        exit_s = time.monotonic() - t0
        print(f"exit {exit_s:.2f} s after SIGTERM with {sum(c.closed_at is None for c in clients)} clients connected")
        assert exit_s <= 2.0, exit_s
        assert proc.returncode == 128 + signal.SIGTERM
    finally:
        for c in clients:
            c.close()
        _stop(proc)


def test_slow_viewers_never_move_the_delay_the_sink_reports_for_lip_sync(tmp_path, monkeypatch):
    """Three viewers reading 15 KB/s of a ~30 fps stream: the sink's delay stays its own (the JPEG encode)."""
    from livestyle.sinks.stream import StreamSink
    from tests.support.obs_frames import PacedFeeder

    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "home"))
    sink = StreamSink(port=0, token="t")
    sink.open((640, 360), 30.0)
    feeder = PacedFeeder(sink, 30.0, (640, 360)).start()
    request = f"GET {sink.path}?token=t HTTP/1.1\r\nHost: 127.0.0.1:{sink.port}\r\n\r\n".encode()
    viewers = [_Client("slow", sink.port, request) for _ in range(3)]
    try:
        t_end = time.monotonic() + 6.0
        while time.monotonic() < t_end:
            for v in viewers:
                v.poll()
            time.sleep(0.1)  # 1500 bytes per 0.1 s: 15 KB/s each
        assert all(v.answer.startswith(b"HTTP/1.0 200") and v.closed_at is None for v in viewers)
        assert sink.client_drops > 0  # they really were too slow for the stream
        encode_ms = 1000 * sink.extra_delay_s
        print(f"sink delay with 3 slow viewers: {encode_ms:.1f} ms, {sink.client_drops} frames dropped for them")
        assert 0 < encode_ms < 60, encode_ms  # a 640x360 JPEG encode on a loaded core; a viewer's socket is seconds
    finally:
        feeder.stop()
        for v in viewers:
            v.close()
        sink.close()


@pytest.mark.parametrize("spec", ["http://[::1:80/x", "stream:[::1", "stream:::1:8080", "stream:a_b:80"])
def test_a_malformed_network_output_is_one_line_and_exit_2(spec, tmp_path):
    out = subprocess.run([*LIVESTYLE, "run", "--input", "demo", "--size", "160x96", "--output", spec,
                          "--max-frames", "5"], env=cli_env(tmp_path / "home"), cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"livestyle: error: --output {spec!r}"), out.stderr


def test_an_address_this_machine_does_not_have_says_so_not_choose_another_port(tmp_path):
    out = subprocess.run([*LIVESTYLE, "run", "--input", "demo", "--size", "160x96", "--output",
                          "stream:192.0.2.123:8080", "--max-frames", "5"], env=cli_env(tmp_path / "home"), cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "could not listen on 192.0.2.123:8080" in lines[0], out.stderr
    assert "another port" not in lines[0] and "an address this machine has" in lines[0]
