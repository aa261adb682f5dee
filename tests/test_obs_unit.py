"""OBS pieces that need no OBS: the auth string, URLs, and the shipped script's HTTP worker against a real server.

The script is what OBS's embedded Python runs: it must import with the
standard library only (checked in an isolated interpreter) and talk to the
control API the way the API expects (Bearer header, commands of the vocabulary to ``POST /api/command``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from livestyle.obs import SCRIPT_PATH
from livestyle.obs.client import DEFAULT_URL, ObsClient, ObsError, auth_string, normalise_url


def test_auth_string_follows_the_obs_websocket_recipe():
    password, salt, challenge = "supersecretpassword", "lM1GncleQOaCu9lT1yeUZhFYnqhsLLP1G5lAGo3ixaI=", \
        "+IxH4CnCiqpX1rM9scsNynZzbOe4KhDeYcTNS3PDaeY="
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest()).decode()
    expected = base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()
    assert auth_string(password, salt, challenge) == expected
    assert auth_string(password + "x", salt, challenge) != expected


def test_normalise_url():
    assert normalise_url(None) == DEFAULT_URL
    assert normalise_url("4456") == "ws://127.0.0.1:4456"
    assert normalise_url("192.168.1.5:4455") == "ws://192.168.1.5:4455"
    assert normalise_url("ws://host:1") == "ws://host:1"


def test_a_bad_obs_url_is_one_sentence_with_the_fix():
    with pytest.raises(ObsError, match="must look like ws://"):
        ObsClient("http://127.0.0.1:4455").connect()


def test_script_imports_with_the_standard_library_only():
    code = ("import sys, runpy; before = set(sys.modules); runpy.run_path(%r); "
            "extra = sorted(m.split('.')[0] for m in set(sys.modules) - before); "
            "print([m for m in extra if m not in sys.stdlib_module_names and not m.startswith('_')])") % str(SCRIPT_PATH)
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    text = SCRIPT_PATH.read_text()
    for hook in ("def script_load", "def script_properties", "def script_save", "def script_update",
                 "obs_hotkey_register_frontend"):
        assert hook in text


class _Recorder(BaseHTTPRequestHandler):
    requests: list = []
    release = threading.Event()

    def log_message(self, *a):
        pass

    def _answer(self, body: dict):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        type(self).requests.append(("GET", self.path, self.headers.get("Authorization"), None))
        if self.path.startswith("/api/styles"):
            self._answer({"styles": [{"name": "mono", "thumbnail": "data:"}, {"name": "pastel"}]})
        else:
            self._answer({"ok": True})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        type(self).requests.append(("POST", self.path, self.headers.get("Authorization"), body))
        if body.get("name") == "slow":
            type(self).release.wait(10)  # held until the test lets it go
        if body.get("name") == "refused":
            data = b'{"error": "Strength 2 is outside 0..1. Use a value in 0..1, such as 0.8."}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._answer({"ok": True})


@pytest.fixture()
def control_server():
    _Recorder.requests = []
    _Recorder.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def _load_script():
    import runpy

    return runpy.run_path(str(SCRIPT_PATH))


def test_script_worker_calls_the_control_api_without_blocking_the_caller(control_server):
    script = _load_script()
    ctl = script["Controller"]()
    ctl.configure(f"127.0.0.1:{control_server.server_address[1]}/", "tok en")
    ctl.start()
    ctl.submit("command", ("slow", None))  # the server holds this one until released
    ctl.submit("command", ("next-style", None))
    ctl.submit("command", ("style", "pastel"))
    ctl.submit("looks")
    # every submit returned while the worker was still stuck in the first request
    assert ctl.calls == 0 and len(_Recorder.requests) <= 1
    _Recorder.release.set()
    deadline = time.monotonic() + 10
    while ctl.calls < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    ctl.stop()
    reqs = _Recorder.requests
    assert reqs[0] == ("POST", "/api/command", "Bearer tok en", {"name": "slow"})
    assert reqs[1] == ("POST", "/api/command", "Bearer tok en", {"name": "next-style"})
    assert reqs[2] == ("POST", "/api/command", "Bearer tok en", {"name": "style", "value": "pastel"})
    assert reqs[3][:3] == ("GET", "/api/styles", "Bearer tok en")
    assert ctl.looks == ["mono", "pastel"] and ctl.last_status == "ok"


def test_script_hotkeys_send_commands_of_the_vocabulary_and_show_a_refusal(control_server):
    from livestyle.controls import COMMANDS

    script = _load_script()
    assert all(command in COMMANDS and COMMANDS[command].parse is None for _, _, command in script["HOTKEYS"])
    ctl = script["Controller"]()
    ctl.configure(f"127.0.0.1:{control_server.server_address[1]}", "t")
    ctl.start()
    ctl.submit("command", ("refused", None))
    deadline = time.monotonic() + 10
    while "400" not in ctl.last_status and time.monotonic() < deadline:
        time.sleep(0.02)
    ctl.stop()
    assert ctl.last_status == "livestyle answered 400 for refused (Strength 2 is outside 0..1. Use a value in 0..1, such as 0.8.)"


def test_script_worker_reports_an_unreachable_control_api():
    script = _load_script()
    ctl = script["Controller"]()
    with socket_port() as port:
        pass  # a port that was free a moment ago: nothing listens there
    ctl.configure(f"http://127.0.0.1:{port}", "t")
    ctl.start()
    ctl.submit("command", ("bypass-toggle", None))
    deadline = time.monotonic() + 10
    while "not reachable" not in ctl.last_status and time.monotonic() < deadline:
        time.sleep(0.02)
    ctl.stop()
    assert "not reachable" in ctl.last_status and "--control" in ctl.last_status


class socket_port:
    def __enter__(self):
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc):
        self.s.close()
