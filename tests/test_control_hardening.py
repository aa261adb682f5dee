"""The control server under hostile or careless clients (issue 23, issue 19's server parts).

Real sockets on loopback throughout; the cases about a whole run start the
real CLI in a subprocess and stop it with a real SIGTERM.  Each test failed
on the server before its fix (checked against the tree before the fix).
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.test_control import TOKEN, jbody, live, request  # noqa: F401  (live is a fixture)


# ----------------------------------------------------------------------------- a real run in a subprocess


class CliRun:
    """``livestyle run`` on the paced demo scene with ``--control HOST:0``; the port is read from its output."""

    def __init__(self, home: Path, tmp: Path, *, host: str = "127.0.0.1", size: str = "320x192", extra=()):
        self.report = tmp / "report.json"
        bind = f"[{host}]:0" if ":" in host else f"{host}:0"
        cmd = [sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size", size,
               "--output", "null", "--style", "random", "--quality", "fixed", "--control", bind,
               "--control-token", TOKEN, "--report", str(self.report), *extra]
        self.proc = subprocess.Popen(cmd, env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"control panel http://(\S+?):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"no control URL in {line!r}; stderr: {self.proc.stderr.read()[-2000:]}")
        self.host, self.port = m.group(1), int(m.group(2))

    def api(self, method: str, path: str, body=None, *, timeout: float = 10.0):
        family_host = self.host.strip("[]")
        conn = http.client.HTTPConnection(family_host, self.port, timeout=timeout)
        headers = {"Host": f"{self.host}:{self.port}", "Authorization": f"Bearer {TOKEN}"}
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        return resp.status, payload

    def state(self) -> dict:
        return json.loads(self.api("GET", "/api/state")[1])

    def stop(self, timeout: float = 20.0) -> tuple[int, float, str]:
        """SIGTERM; (exit status, seconds from the signal to the exit, stderr)."""
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            return -9, time.perf_counter() - t0, err
        return self.proc.returncode, time.perf_counter() - t0, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture()
def cli_run(livestyle_home, tmp_path):
    runs = []

    def start(**kw):
        r = CliRun(livestyle_home, tmp_path, **kw)
        runs.append(r)
        return r
    yield start
    for r in runs:
        r.kill()


def test_huge_finite_weights_blend_and_the_run_ends_with_its_report(cli_run):
    """1e308 twice summed to infinity and normalised to 0 each: the run died in the bank (ZeroDivisionError)."""
    run = cli_run()
    status, payload = run.api("POST", "/api/style", {"weights": {"random": 1e308, "random2": 1e308}})
    assert status == 200, payload
    assert json.loads(payload)["state"]["requested"] == "random:0.50,random2:0.50"
    deadline = time.time() + 20
    while time.time() < deadline and run.proc.poll() is None and run.state()["look"] != "random:0.50,random2:0.50":
        time.sleep(0.1)
    n = run.state()["frames_out"]
    time.sleep(0.5)
    assert run.state()["frames_out"] > n  # still streaming the blend
    code, _, err = run.stop()
    assert code == 128 + signal.SIGTERM, err[-2000:]
    rep = json.loads(run.report.read_text())
    assert rep["style"] == "random:0.50,random2:0.50" and "Traceback" not in err


def test_non_finite_and_oversized_numbers_get_400(live):
    pipe, server, _ = live
    for raw in (b'{"value": 1e999}', b'{"value": NaN}', b'{"value": -Infinity}', b'{"value": ' + b"9" * 400 + b"}",
                b'{"weights": {"random": 1e999}}', b'{"weights": {"random": ' + b"9" * 400 + b"}}",
                b'{"weights": {"random": Infinity, "random2": 1}}'):
        path = "/api/style" if b"weights" in raw else "/api/strength"
        resp, payload = request(server, "POST", path, raw=raw)
        assert resp.status == 400, (raw[:40], resp.status)
        assert "\n" not in jbody(payload)["error"]
    assert pipe.controls.snapshot().strength == 1.0 and pipe.error is None


def test_negative_zero_strength_becomes_zero(live):
    _, server, _ = live
    resp, payload = request(server, "POST", "/api/strength", raw=b'{"value": -0.0}')
    assert resp.status == 200
    assert b'"strength": 0.0' in payload and b"-0.0" not in payload
