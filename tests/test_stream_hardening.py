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
