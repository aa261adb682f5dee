"""The live controls, the runner bank, bounded stats, and the control API over real HTTP.

The API tests run a real pipeline (the paced demo scene through real ONNX
Runtime runners) with the real ``ControlServer`` on a free loopback port, and
talk to it with ``http.client``: every security rule of the API is exercised
on the wire, and the frames that reach the sink are checked to change.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
import json
import subprocess
import sys
import threading
import time
import tracemalloc

import cv2
import numpy as np
import pytest

from livestyle.controls import COMMANDS, Command, CommandError, Controls, normalise_weights
from livestyle.errors import LivestyleError
from livestyle.stats import LatencyHistogram, RunStats
from tests.conftest import cli_env

TOKEN = "test-token-123"


# ----------------------------------------------------------------------------- controls, stats


def test_controls_apply_absolute_and_relative_commands():
    c = Controls(["a", "b", "c"], weights={"a": 1}, strength=0.5)
    s0 = c.snapshot()
    assert s0.look == "a" and s0.strength == 0.5 and not s0.bypass
    assert c.apply(Command("strength", 0.8)).strength == 0.8
    assert c.apply(Command("strength-up")).strength == pytest.approx(0.9)
    c.apply(Command("strength-up"))
    assert c.apply(Command("strength-up")).strength == 1.0  # clamped
    assert c.apply(Command("next-style")).look == "b" and c.snapshot().fade
    c.apply(Command("prev-style"))
    assert c.apply(Command("prev-style")).look == "c"  # wraps around
    assert c.apply(Command("style", "a")).look == "a" and not c.snapshot().fade
    assert c.apply(Command("style-number", 2)).look == "b" and c.snapshot().fade
    s = c.apply(Command("weights", {"a": 3, "b": 1}))
    assert s.weight_map == {"a": 0.75, "b": 0.25} and s.label == "a:0.75,b:0.25"
    assert c.apply(Command("bypass", True)).bypass and not c.apply(Command("bypass-toggle")).bypass
    assert c.apply(Command("strength-down")).strength == pytest.approx(0.9)
    assert c.snapshot().version == s0.version + 13
    assert s0.look == "a"  # an old snapshot never changes
    assert not c.quit_requested
    assert c.apply(Command("quit")).version == s0.version + 13 and c.quit_requested


@pytest.mark.parametrize("command", [
    Command("weights", {"zzz": 1}), Command("weights", {"a": -1}), Command("weights", {"a": 0}),
    Command("weights", {"a": "x"}), Command("weights", {"a": float("nan")}), Command("weights", {}),
    Command("weights", "a"), Command("weights", {"a": True}), Command("weights", {"a": 10 ** 400}),
    Command("strength", 1.5), Command("strength", -0.1), Command("strength", "high"), Command("strength", None),
    Command("strength", True), Command("strength", float("inf")), Command("strength", 10 ** 400),
    Command("bypass", "yes"), Command("bypass", 1), Command("style", "zzz"), Command("style", 3),
    Command("style-number", 0), Command("style-number", 4), Command("style-number", 1.5), Command("style-number", "1"),
    Command("next-style", 1), Command("explode"), Command(None), "strength-up",
])
def test_controls_apply_refuses_a_bad_command_with_one_line_and_changes_nothing(command):
    c = Controls(["a", "b", "c"], weights={"a": 1}, strength=0.5)
    before = c.snapshot()
    with pytest.raises(CommandError) as e:
        c.apply(command)
    assert isinstance(e.value, LivestyleError) and "\n" not in str(e.value) and str(e.value)
    assert c.snapshot() is before


def test_preview_keys_send_commands_that_apply():
    from livestyle.sinks.preview import key_to_command

    c = Controls(["a", "b", "c"], weights={"a": 1}, strength=0.5)
    for key, check in [("3", lambda s: s.look == "c" and s.fade), ("-", lambda s: s.strength == 0.4),
                       ("+", lambda s: s.strength == 0.5), ("=", lambda s: s.strength == 0.6),
                       (" ", lambda s: s.bypass), ("1", lambda s: s.look == "a")]:
        assert check(c.apply(key_to_command(ord(key)))), key
    with pytest.raises(CommandError, match="no look number 9"):  # a key beyond the installed looks: one line
        c.apply(key_to_command(ord("9")))
    c.apply(key_to_command(ord("q")))
    assert c.quit_requested


def test_every_command_is_documented_in_the_vocabulary_and_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    import livestyle.controls as controls_module
    for name, spec in COMMANDS.items():
        assert spec.name == name and spec.summary and spec.value
        assert f"\n{name} " in controls_module.__doc__, name
        assert f"`{name}`" in readme, name


def test_controls_wait_change_wakes_on_change():
    c = Controls(["a"], weights={"a": 1})
    v = c.snapshot().version
    threading.Timer(0.1, lambda: c.apply(Command("bypass", True))).start()
    t0 = time.perf_counter()
    s = c.wait_change(v, 5.0)
    assert s.bypass and time.perf_counter() - t0 < 2.0


def test_normalise_weights():
    assert normalise_weights({"a": 2, "b": 2}) == {"a": 0.5, "b": 0.5}
    assert normalise_weights({"a": 1, "b": 0}) == {"a": 1.0}
    assert normalise_weights({"a": 1e308, "b": 1e308}) == {"a": 0.5, "b": 0.5}  # the sum would be inf
    assert normalise_weights({"a": 1e308, "b": 1e-308}) == {"a": 1.0}  # b / a underflows to 0: dropped
    assert normalise_weights({"a": 5e-324, "b": 5e-324}) == {"a": 0.5, "b": 0.5}


def test_histogram_percentiles_close_to_exact():
    rng = np.random.default_rng(1)
    x = rng.lognormal(-4, 0.6, 20000)
    h = LatencyHistogram()
    for v in x:
        h.add(v)
    for p in (50, 95, 99):
        assert abs(h.percentile(p) / np.percentile(x, p) - 1) < 0.02
    assert h.percentile(100) == pytest.approx(x.max())


def test_stats_memory_stays_bounded_over_many_frames():
    """100k frames (about an hour at 30 fps) leave the statistics the same size as after 5k (windows full)."""
    st = RunStats()
    stages = {"capture": 0.001, "preprocess": 0.002, "infer": 0.01, "postprocess": 0.002, "output": 0.001}
    t = 0.0
    for _ in range(5000):
        t += 1 / 30
        st.record_frame(t, t - 0.02, stages)
    size_1k = st.memory_bytes()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(100_000):
        t += 1 / 30
        st.record_frame(t, t - 0.02, stages)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.traceback[0].filename.endswith("stats.py"))
    assert st.memory_bytes() == size_1k
    assert len(st.recent_latency) <= st.recent_latency.maxlen
    assert grown < 4 * 1024, f"statistics grew by {grown} bytes over 100k frames"
    assert st.frames_out == 105_000
    assert st.latency.percentile(50) == pytest.approx(0.02, rel=0.02)


# ----------------------------------------------------------------------------- a live pipeline + API


class RecordingSink:
    """Keeps, per frame, the mean absolute difference between what was sent and the input frame."""

    description = "recorder"

    def __init__(self):
        self.diffs: list[tuple[float, float]] = []  # (perf_counter, mean |out - in|)
        self.lock = threading.Lock()

    def open(self, size, fps):
        pass

    def send(self, frame, *, original=None, status=""):
        if original is None:
            return
        d = float(np.abs(frame.image.astype(np.int16) - original.astype(np.int16)).mean())
        with self.lock:
            self.diffs.append((time.perf_counter(), d))

    def poll(self):
        return []

    def close(self):
        pass

    def diffs_since(self, t: float) -> list[float]:
        with self.lock:
            return [d for tt, d in self.diffs if tt >= t]


@pytest.fixture()
def live(livestyle_home):
    """A paced demo pipeline (320x192) with the control API on a free port; yields (pipe, server, sink)."""
    from livestyle.control.server import ControlServer
    from livestyle.runconfig import RunConfig
    from livestyle.sources import open_source
    from livestyle.styles import discover
    from tests.support.pipe import build_pipeline

    broken = livestyle_home / "styles" / "broken"  # a pack whose model cannot load
    broken.mkdir()
    (broken / "style.json").write_text('{"name": "broken"}')
    (broken / "student.onnx").write_bytes(b"this is not an onnx model")
    styles = [s for s in discover() if s.name in ("random", "random2", "broken")]
    cfg = RunConfig(input="demo", output="null", temporal=False, quality="fixed")
    src = open_source("demo", size=(320, 192), realtime=True)
    src.open()
    sink = RecordingSink()
    pipe = build_pipeline(cfg, source=src, sink=sink, styles=styles, start="random", infer_size=(160, 96),
                          out_size=(320, 192))
    server = ControlServer(pipe, host="127.0.0.1", port=0, token=TOKEN, styles=styles)
    server.start()
    t = threading.Thread(target=pipe.run, daemon=True)
    t.start()
    deadline = time.time() + 20
    while pipe.stats.frames_out < 5 and time.time() < deadline:
        time.sleep(0.05)
    yield pipe, server, sink
    pipe.request_stop("test over")
    t.join(10)
    server.stop()
    src.close()
    pipe.stage("look").bank.close()


def request(server, method, path, body=None, *, token=TOKEN, host=None, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    h = {"Host": host or f"127.0.0.1:{server.port}"}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp, payload


def jbody(payload: bytes) -> dict:
    return json.loads(payload.decode())


def test_state_and_styles(live):
    pipe, server, _ = live
    resp, payload = request(server, "GET", "/api/state")
    assert resp.status == 200 and resp.getheader("Access-Control-Allow-Origin") is None
    s = jbody(payload)
    for key in ("look", "strength", "bypass", "fps_out", "latency_ms", "dropped", "added_delay_ms", "backend",
                "infer_size", "cpu_percent"):
        assert key in s
    assert s["look"] == "random" and s["backend"] == "onnxruntime" and s["infer_size"] == [160, 96]
    assert s["latency_ms"]["window_s"] == 5.0
    resp, payload = request(server, "GET", "/api/styles")
    styles = jbody(payload)["styles"]
    names = [x["name"] for x in styles]
    assert {"random", "random2"} <= set(names)
    thumb = next(x for x in styles if x["name"] == "random")["thumbnail"]
    import base64
    img = cv2.imdecode(np.frombuffer(base64.b64decode(thumb.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (96, 160, 3)
    resp, payload = request(server, "GET", "/api/snapshot.jpg")
    assert resp.status == 200 and resp.getheader("Content-Type") == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR).shape == (192, 320, 3)
    resp, _ = request(server, "GET", "/api/snapshot.jpg?which=input")
    assert resp.status == 200


def test_token_rules(live):
    _, server, _ = live
    assert request(server, "GET", "/api/state", token=None)[0].status == 401
    assert request(server, "GET", "/api/state", token="wrong")[0].status == 401
    # ?token= is for the GET action URLs only
    assert request(server, "GET", f"/api/state?token={TOKEN}", token=None)[0].status == 401
    resp, payload = request(server, "GET", f"/act/bypass?token={TOKEN}", token=None)
    assert resp.status == 200 and jbody(payload)["state"]["bypass"] is True
    assert request(server, "GET", "/act/bypass?token=nope", token=None)[0].status == 401
    assert request(server, "POST", "/api/bypass", {"on": False}, token=None)[0].status == 401
    # the panel itself carries no secret and loads without a token
    resp, payload = request(server, "GET", "/", token=None)
    assert resp.status == 200 and b"livestyle" in payload and TOKEN.encode() not in payload


@pytest.mark.parametrize("host,ok", [("evil.example:{port}", False), ("127.0.0.1:1", False), ("localhost:{port}", True),
                                     ("[::1]:{port}", True), ("127.0.0.1", False), ("attacker.com", False)])
def test_host_header_rules(live, host, ok):
    _, server, _ = live
    resp, _ = request(server, "GET", "/api/state", host=host.format(port=server.port))
    assert (resp.status == 200) == ok, resp.status
    resp, _ = request(server, "GET", "/", host=host.format(port=server.port))
    assert (resp.status == 200) == ok


def test_origin_rules_on_post(live):
    _, server, _ = live
    own = f"http://127.0.0.1:{server.port}"
    assert request(server, "POST", "/api/strength", {"value": 0.5}, headers={"Origin": "http://evil.example"})[0].status == 403
    assert request(server, "POST", "/api/strength", {"value": 0.5}, headers={"Origin": "null"})[0].status == 403
    resp, _ = request(server, "POST", "/api/strength", {"value": 0.5}, headers={"Origin": own})
    assert resp.status == 200 and resp.getheader("Access-Control-Allow-Origin") is None
    assert request(server, "POST", "/api/strength", {"value": 0.4})[0].status == 200  # no Origin: curl, Stream Deck


def test_bad_requests_get_400_and_the_stream_goes_on(live):
    pipe, server, _ = live
    cases = [
        ("/api/strength", None, b"{not json"),
        ("/api/strength", {"value": 1.5}, None),
        ("/api/strength", {"value": "loud"}, None),
        ("/api/strength", {"value": True}, None),
        ("/api/strength", {}, None),
        ("/api/style", {"name": "no-such-look"}, None),
        ("/api/style", {"weights": {"random": -1}}, None),
        ("/api/style", {"weights": {"random": 0, "random2": 0}}, None),
        ("/api/style", {"weights": "random"}, None),
        ("/api/style", {"name": 3}, None),
        ("/api/bypass", {"on": "yes"}, None),
        ("/api/bypass", [1, 2], None),
    ]
    before = pipe.stats.frames_out
    for path, body, raw in cases:
        resp, payload = request(server, "POST", path, body, raw=raw)
        assert resp.status == 400, (path, body, raw, resp.status)
        msg = jbody(payload)["error"]
        assert msg and "\n" not in msg and "Traceback" not in msg
    resp, _ = request(server, "POST", "/api/strength", raw=b"{" + b" " * 20000 + b"}")
    assert resp.status == 413
    assert request(server, "POST", "/api/nothing", {"x": 1})[0].status == 404
    assert request(server, "GET", "/api/nothing")[0].status == 404
    assert request(server, "GET", "/act/explode")[0].status == 404
    time.sleep(0.5)
    assert pipe.stats.frames_out > before and pipe.error is None
    s = pipe.controls.snapshot()
    assert s.strength == 1.0 and s.look == "random" and not s.bypass  # nothing above changed anything


def test_commands_change_the_frames_at_the_sink(live):
    pipe, server, sink = live
    time.sleep(0.5)
    styled = np.mean(sink.diffs_since(0))
    assert styled > 1.0  # the random student changes the picture
    t = time.perf_counter()
    assert request(server, "POST", "/api/bypass", {"on": True})[0].status == 200
    time.sleep(0.6)
    after = sink.diffs_since(t + 0.2)
    assert after and max(after) == 0.0  # bypass: the input goes out untouched
    request(server, "POST", "/api/bypass", {"on": False})
    t = time.perf_counter()
    request(server, "POST", "/api/strength", {"value": 0.5})
    time.sleep(0.6)
    half = np.mean(sink.diffs_since(t + 0.2))
    assert 0.2 * styled < half < 0.8 * styled
    resp, payload = request(server, "POST", "/api/style", {"name": "random2"})
    assert resp.status == 200
    deadline = time.time() + 10
    while time.time() < deadline and jbody(request(server, "GET", "/api/state")[1])["look"] != "random2":
        time.sleep(0.1)
    assert jbody(request(server, "GET", "/api/state")[1])["look"] == "random2"
    resp, payload = request(server, "POST", "/api/style", {"weights": {"random": 0.5, "random2": 0.5}})
    assert resp.status == 200
    time.sleep(0.5)
    st = jbody(request(server, "GET", "/api/state")[1])
    assert st["weights"] == {"random": 0.5, "random2": 0.5} and st["look"] == "random:0.50,random2:0.50"
    lat = pipe.control_latency
    assert lat.count >= 3  # command -> first frame showing it was measured


def test_action_urls(live):
    pipe, server, _ = live
    get = lambda a: jbody(request(server, "GET", f"/act/{a}?token={TOKEN}", token=None)[1])["state"]  # noqa: E731
    assert get("strength-down")["strength"] == pytest.approx(0.9)
    assert get("strength-up")["strength"] == pytest.approx(1.0)
    assert get("strength-up")["strength"] == pytest.approx(1.0)  # clamped
    assert get("next-style")["requested"] != "random"
    assert get("prev-style")["requested"] == "random"
    assert get("bypass")["bypass"] is True and get("bypass")["bypass"] is False


def test_the_command_endpoint_and_action_values_speak_the_vocabulary(live):
    pipe, server, _ = live
    resp, payload = request(server, "POST", "/api/command", {"name": "strength", "value": 0.3})
    assert resp.status == 200 and jbody(payload)["state"]["strength"] == 0.3
    assert jbody(request(server, "POST", "/api/command", {"name": "bypass-toggle"})[1])["state"]["bypass"] is True
    get = lambda q: request(server, "GET", f"/act/{q}&token={TOKEN}" if "?" in q else f"/act/{q}?token={TOKEN}",
                            token=None)  # noqa: E731
    assert jbody(get("bypass?value=false")[1])["state"]["bypass"] is False
    assert jbody(get("strength?value=0.7")[1])["state"]["strength"] == 0.7
    assert jbody(get("style?value=random2")[1])["state"]["requested"] == "random2"
    number = pipe.controls.looks.index("random") + 1
    assert jbody(get(f"style-number?value={number}")[1])["state"]["requested"] == "random"
    for bad in ({"name": "strength", "value": 2}, {"name": "explode"}, {"name": "next-style", "value": 1},
                {"value": 1}, {"name": ["strength"]}):
        resp, payload = request(server, "POST", "/api/command", bad)
        assert resp.status == 400 and "\n" not in jbody(payload)["error"], bad
    assert get("strength?value=NaN")[0].status == 400
    assert get("strength?value=loud")[0].status == 400
    # quitting is for the local keys only: no request can stop the stream
    resp, payload = request(server, "POST", "/api/command", {"name": "quit"})
    assert resp.status == 403 and "quit" in jbody(payload)["error"]
    assert get("quit")[0].status == 404
    time.sleep(0.3)
    assert not pipe.controls.quit_requested and not pipe.stop.is_set()


def test_failed_look_keeps_the_current_one_on_screen(live, livestyle_home):
    pipe, server, _ = live
    assert "broken" in pipe.controls.looks
    resp, _ = request(server, "POST", "/api/style", {"name": "broken"})
    assert resp.status == 200  # the request is valid; loading it fails
    deadline = time.time() + 10
    st = {}
    while time.time() < deadline:
        st = jbody(request(server, "GET", "/api/state")[1])
        if st["error"]:
            break
        time.sleep(0.1)
    assert st["look"] == "random" and st["requested"] == "broken"
    assert "broken" in st["error"] and "\n" not in st["error"]
    assert "LOOK NOT CHANGED" in pipe.status_line()
    assert pipe.report()["look_error"] and pipe.report()["style"] == "random"
    n = pipe.stats.frames_out
    time.sleep(0.3)
    assert pipe.stats.frames_out > n  # still streaming


def test_events_stream_at_most_10_per_second(live):
    _, server, _ = live
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{server.port}", "Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events, t0 = [], time.perf_counter()

    def flip():  # many changes in a burst must still come out at <= 10 events per second
        for i in range(40):
            request(server, "POST", "/api/strength", {"value": (i % 10) / 10})
            time.sleep(0.02)
    threading.Thread(target=flip, daemon=True).start()
    buf = b""
    while time.perf_counter() - t0 < 2.0:
        buf += resp.fp.read1(65536) if hasattr(resp.fp, "read1") else resp.read(1)
        while b"\n\n" in buf:
            chunk, buf = buf.split(b"\n\n", 1)
            data = [line[6:] for line in chunk.split(b"\n") if line.startswith(b"data: ")]
            if data:
                events.append((time.perf_counter(), json.loads(b"".join(data))))
    conn.close()
    assert 4 <= len(events) <= 22, len(events)
    gaps = np.diff([t for t, _ in events])
    assert gaps.min() > 0.08
    assert {"look", "strength", "fps_out"} <= set(events[-1][1])


def test_cli_control_warns_on_non_loopback_and_bad_port(livestyle_home):
    p = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "160x96", "--output",
                        "null", "--style", "random", "--max-frames", "5", "--control", "0.0.0.0:0"],
                       env=cli_env(livestyle_home), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "0.0.0.0" in p.stderr
    assert "control panel http://127.0.0.1:" in p.stdout and "token=" in p.stdout
    p = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--output", "null",
                        "--control", "localhost:99999"], env=cli_env(livestyle_home), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--control" in p.stderr


# ----------------------------------------------------------------------------- the web panel in a real browser

CHROMIUM = "/usr/bin/chromium"


def launch_chromium(pw):
    """Debian's Chromium, headless, with nothing that reaches out to the network on its own."""
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])


def _chromium_or_skip():
    import os
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium; .ci/run installs it with apt where it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install 'livestyle[dev]')")
    return sync_playwright


def test_panel_in_chromium_moves_strength_and_switches_look(live, tmp_path):
    """Load the panel, drive it from the keyboard and the mouse, and check the frames at the sink change."""
    sync_playwright = _chromium_or_skip()
    pipe, server, sink = live
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            # bypass_csp lets the test evaluate its own probes; the page runs its script as it would anyway
            page = browser.new_page(viewport={"width": 560, "height": 900}, bypass_csp=True)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.panel_url)
            page.wait_for_selector("#gallery button[data-look='random2']", timeout=30000)
            page.wait_for_function("document.getElementById('conn').textContent === 'live'", timeout=15000)
            page.wait_for_function("document.getElementById('s-fps').textContent !== '–'", timeout=15000)
            styled = np.mean(sink.diffs_since(0))
            assert styled > 1.0
            # keyboard: focus the strength slider and press Home -> strength 0 -> the input goes out unchanged
            page.focus("#strength")
            page.keyboard.press("Home")
            deadline = time.time() + 5
            while time.time() < deadline and pipe.controls.snapshot().strength != 0.0:
                time.sleep(0.05)
            assert pipe.controls.snapshot().strength == 0.0
            t = time.perf_counter()
            time.sleep(0.5)
            assert max(sink.diffs_since(t + 0.15)) == 0.0
            page.keyboard.press("End")
            deadline = time.time() + 5
            while time.time() < deadline and pipe.controls.snapshot().strength != 1.0:
                time.sleep(0.05)
            t = time.perf_counter()
            time.sleep(0.5)
            assert np.mean(sink.diffs_since(t + 0.15)) > 0.8 * styled
            # mouse: click the second look's thumbnail
            page.click("#gallery button[data-look='random2']")
            deadline = time.time() + 10
            while time.time() < deadline and pipe.stage("look").switcher.on_screen != "random2":
                time.sleep(0.05)
            assert pipe.stage("look").switcher.on_screen == "random2"
            page.wait_for_function(
                "document.querySelector(\"#gallery button[data-look='random2']\").getAttribute('aria-checked') === 'true'",
                timeout=5000)
            # bypass by key, shown as pressed
            page.focus("body")
            page.keyboard.press("b")
            page.wait_for_function("document.getElementById('bypass').getAttribute('aria-pressed') === 'true'",
                                   timeout=5000)
            assert pipe.controls.snapshot().bypass
            page.keyboard.press("b")
            page.wait_for_function("document.getElementById('snapshot').src.startsWith('blob:')", timeout=10000)
            time.sleep(1.5)  # let the graph draw a few points
            shot = Path(os.environ.get("LIVESTYLE_PANEL_SHOT", tmp_path / "panel.png"))
            page.screenshot(path=str(shot), full_page=True)
            img = cv2.imread(str(shot))
            assert img is not None and img.shape[1] == 560 and img.std() > 10
            assert not errors, errors
        finally:
            browser.close()
