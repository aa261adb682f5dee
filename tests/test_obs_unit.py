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
from livestyle.errors import UsageError
from livestyle.obs.client import DEFAULT_URL, ObsClient, ObsError, auth_string, normalise_url
from livestyle.obs.link import ObsLink
from tests.conftest import ROOT, cli_env


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
    assert normalise_url("ws://LOCALHOST") == "ws://localhost:4455"  # OBS's default port
    assert normalise_url(" ws://[::1]:4455/ ") == "ws://[::1]:4455"


BAD_OBS_URLS = ["ws://127.0.0.1:99999", "ws://127.0.0.1:abc", "ws://[::1", "ws://127.0.0.1:0", "ws://:4455",
                "http://127.0.0.1:4455", "ws://a b:4455", "ws://me@127.0.0.1:4455", "ws://127.0.0.1:4455/x?y=1"]


@pytest.mark.parametrize("url", BAD_OBS_URLS)
def test_a_bad_obs_url_is_one_sentence_with_the_fix(url):
    with pytest.raises(UsageError, match="The OBS address .* ws://HOST:PORT"):
        normalise_url(url)
    with pytest.raises(UsageError):
        ObsClient(url)


@pytest.mark.parametrize("url", ["ws://127.0.0.1:99999", "ws://127.0.0.1:abc", "ws://[::1"])
@pytest.mark.parametrize("command", [["obs", "check"], ["obs", "setup", "--url", "http://127.0.0.1:1/x?token=t"],
                                     ["run", "--input", "demo", "--size", "160x96", "--output", "null",
                                      "--max-frames", "30"]])
def test_the_cli_refuses_a_bad_obs_url_with_one_line_and_exit_2(url, command, tmp_path):
    out = subprocess.run([sys.executable, "-m", "livestyle", *command, "--obs", url, "--obs-password", "x"],
                         env=cli_env(tmp_path / "home"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("livestyle: error: The OBS address"), out.stderr


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


class _NotQuiteObs:
    """A real websocket server on loopback that does obs-websocket's handshake, then answers every request
    with ``answer`` (text that is not a valid response): what livestyle meets when --obs names a wrong server."""

    def __init__(self, answer: str):
        from websockets.sync.server import serve

        self.answer = answer
        self.server = serve(self._handle, "127.0.0.1", 0, subprotocols=["obswebsocket.json"])
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, ws):
        try:
            ws.send(json.dumps({"op": 0, "d": {"obsWebSocketVersion": "5.1.0", "rpcVersion": 1}}))
            ws.recv(timeout=5)
            ws.send(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
            while True:
                ws.recv(timeout=10)
                ws.send(self.answer)
        except Exception:  # noqa: BLE001 - the client left
            pass

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("answer", ["not json", "[1, 2]", '{"op": 7, "d": "x"}', '{"op": 7, "d": {"requestId": "1"}}'])
def test_a_server_that_is_not_obs_websocket_is_an_obs_error_never_a_traceback(answer, tmp_path):
    server = _NotQuiteObs(answer)
    try:
        url = f"ws://127.0.0.1:{server.port}"
        with pytest.raises(ObsError, match="not obs-websocket|without a request status|did not answer|Lost"):
            ObsClient(url, timeout=2).connect()
        # the link's worker thread: a warning and an error in its state, no exception escaping the thread
        errors = []
        old_hook = threading.excepthook
        threading.excepthook = lambda a: errors.append(a)
        try:
            link = ObsLink(url, None, "Mic", state_path=tmp_path / "offsets.json")
            link.start()
            t_end = time.monotonic() + 15
            while link.state()["error"] is None and time.monotonic() < t_end:
                time.sleep(0.05)
            link.close()
        finally:
            threading.excepthook = old_hook
        assert errors == [] and link.state()["error"], (errors, link.state())
        out = subprocess.run([sys.executable, "-m", "livestyle", "obs", "check", "--obs", url], env=cli_env(tmp_path),
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("livestyle: error:"), out.stderr
    finally:
        server.close()


@pytest.mark.parametrize("url", ["http://[::1", "ftp://127.0.0.1:8080/x", "http://127.0.0.1:99999/x", "http:///x"])
def test_obs_setup_refuses_a_malformed_url_before_talking_to_obs(url, tmp_path):
    out = subprocess.run([sys.executable, "-m", "livestyle", "obs", "setup", "--url", url, "--obs",
                          "ws://127.0.0.1:1"], env=cli_env(tmp_path), cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livestyle: error: --url"), out.stderr


def test_stream_url_for_obs_points_a_wildcard_at_loopback():
    from livestyle.obs.setup import stream_url_for_obs

    assert stream_url_for_obs("http://0.0.0.0:8080/livestyle?token=t") == "http://127.0.0.1:8080/livestyle?token=t"
    assert stream_url_for_obs("http://[::]:8080/livestyle?token=t") == "http://[::1]:8080/livestyle?token=t"
    assert stream_url_for_obs("http://192.168.1.5:8080/x?token=t") == "http://192.168.1.5:8080/x?token=t"


def _own_address() -> str | None:
    import socket as _s

    try:
        with _s.socket(_s.AF_INET, _s.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the outgoing address
            addr = s.getsockname()[0]
        return None if addr.startswith("127.") else addr
    except OSError:
        return None


def test_instance_key_names_the_obs_not_the_urls_text():
    from livestyle.obs.link import instance_key

    for url in ("ws://127.0.0.1:4455", "ws://localhost:4455", "ws://[::1]:4455", "4455", "ws://LOCALHOST",
                "localhost:4455", "ws://127.0.0.2:4455", "ws://0.0.0.0:4455"):
        assert instance_key(url) == "local:4455", url
    assert instance_key("ws://127.0.0.1:4456") == "local:4456"  # another port is another OBS
    own = _own_address()
    if own is not None:  # this machine's own LAN address reaches the same OBS as loopback
        assert instance_key(f"ws://{own}:4455") == "local:4455"
    assert instance_key("ws://198.51.100.7:4455") == "198.51.100.7:4455"  # not ours (TEST-NET-2)
    assert instance_key("ws://[2001:db8::1]:4455") == "2001:db8::1:4455"


def test_the_summary_says_restored_only_when_obs_confirmed_it():
    from livestyle.obs.link import summary_line

    base = {"connected": False, "linked": True, "url": "ws://127.0.0.1:4455", "mic": "Mic", "user_offset_ms": 20,
            "applied_offset_ms": 45, "changes": 2, "error": None}
    ok = summary_line(dict(base, restored=True, restore_error=None))
    assert "restored" in ok and "NOT" not in ok and "yours: 20 ms" in ok
    failed = summary_line(dict(base, restored=False, restore_error="OBS did not answer"))
    assert "NOT restored (OBS did not answer)" in failed and "20 ms" in failed and "restored)" not in failed
    untouched = summary_line(dict(base, applied_offset_ms=None, changes=0, restored=False, restore_error=None))
    assert "not changed" in untouched and "restored" not in untouched
    refused = summary_line(dict(base, linked=False, user_offset_ms=None, applied_offset_ms=None, changes=0,
                                restored=False, restore_error=None, error="OBS at ... refused the password."))
    assert refused.startswith("OBS: not linked (") and "restored" not in refused
