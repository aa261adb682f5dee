"""The OBS link when things go wrong, against a real OBS Studio (headless, under Xvfb) and the real CLI.

* OBS killed after it saved an offset livestyle had set, with livestyle killed
  too, in the order that lost the user's offset: the next run still puts the
  user's own value back (the record keeps every value livestyle applied);
* a run killed with ``ws://127.0.0.1:P``, the next named ``ws://localhost:P``:
  the record is keyed by the OBS instance, not the URL's text;
* OBS killed mid-run: the summary, the warning and the report all say the
  offset was NOT restored;
* OBS restarting (twice) mid-run with the user's value: the link sets its
  offset again and restores the user's at the end;
* a corrupt record file: one warning, the file moved aside, the run goes on;
* slow viewers of the network output never move the mic's offset.

Each test that kills or restarts OBS starts its own OBS; the others share one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livestyle.obs.client import ObsClient
from livestyle.obs.link import ObsLink
from tests.conftest import ROOT, cli_env
from tests.support import obs_studio
from tests.support.obs_studio import ObsProcess, free_port, obs_missing_reason, start_obs

pytestmark = pytest.mark.skipif(obs_missing_reason() is not None, reason=obs_missing_reason() or "")

LIVESTYLE = [sys.executable, "-m", "livestyle"]
USER_MS = 20


@pytest.fixture(scope="module")
def shared_obs(tmp_path_factory):
    proc = start_obs(tmp_path_factory.mktemp("obs-shared"))
    yield proc
    proc.stop()


@pytest.fixture()
def own_obs(tmp_path):
    """An OBS this test may kill and restart; ``holder[0]`` is the one running now."""
    holder = [start_obs(tmp_path / "obs")]
    yield holder
    holder[0].stop()


def _client(obs: ObsProcess) -> ObsClient:
    return ObsClient(obs.url, obs.password).connect()


def _offset(obs: ObsProcess, mic: str) -> int:
    with _client(obs) as c:
        return c.call("GetInputAudioSyncOffset", {"inputName": mic})["inputAudioSyncOffset"]


def _make_mic(obs: ObsProcess, mic: str, offset_ms: int = USER_MS) -> None:
    with _client(obs) as c:
        c.call("CreateInput", {"sceneName": "Scene", "inputName": mic, "inputKind": "pulse_input_capture",
                               "inputSettings": {}})
        c.call("SetInputAudioSyncOffset", {"inputName": mic, "inputAudioSyncOffset": offset_ms})


def _poll(fn, timeout: float, interval: float = 0.1):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return fn()


def _kill_obs(obs: ObsProcess) -> None:
    """SIGKILL OBS (and its Xvfb): a crash, nothing saved on the way out."""
    try:
        os.killpg(obs.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    obs.proc.wait(timeout=10)


def _restart_obs(tmp: Path, obs: ObsProcess, saved: dict[str, int]) -> ObsProcess:
    """Start OBS again on the same HOME and port, its scene collection holding the mics at ``saved`` (ms):
    what OBS finds after a crash is the offset it had saved last."""
    scenes = obs.home / ".config" / "obs-studio" / "basic" / "scenes" / "Test.json"
    data = json.loads(scenes.read_text())
    data["sources"] = [s for s in data["sources"] if s.get("id") == "scene"] + [
        {"id": "pulse_input_capture", "versioned_id": "pulse_input_capture", "name": name, "settings": {},
         "sync": int(ms) * 1_000_000, "enabled": True, "volume": 1.0, "mixers": 255, "flags": 0}
        for name, ms in saved.items()]
    scenes.write_text(json.dumps(data))
    port = int(obs.url.rsplit(":", 1)[1])
    mp = pytest.MonkeyPatch()
    try:  # start_obs with this HOME's config as it is, on the same port
        mp.setattr(obs_studio, "free_port", lambda: port)
        mp.setattr(obs_studio, "write_config", lambda *a, **k: None)
        new = start_obs(tmp)
    finally:
        mp.undo()
    for name, ms in saved.items():
        assert _offset(new, name) == ms
    return new


def _run(obs_url: str, password: str, mic: str, home: Path, *extra: str, output: str = "null") -> subprocess.Popen:
    return subprocess.Popen([*LIVESTYLE, "run", "--input", "demo", "--realtime", "--size", "160x96", "--output",
                             output, "--obs", obs_url, "--obs-password", password, "--obs-mic", mic, *extra],
                            env=cli_env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, sig=None, timeout: float = 60) -> tuple[str, str]:
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run_to_end(obs: ObsProcess, mic: str, home: Path, url: str | None = None) -> tuple[dict, str, str]:
    """A run that ends by itself (90 frames); returns its report, stdout and stderr."""
    report = home.parent / f"report-{time.monotonic_ns()}.json"
    proc = _run(url or obs.url, obs.password, mic, home, "--max-frames", "90", "--report", str(report))
    out, err = _finish(proc, timeout=120)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    return json.loads(report.read_text()), out, err


# -- case 7: the record must never take a value livestyle applied for the user's -----------------------------

@pytest.mark.slow
def test_obs_crashing_after_saving_an_applied_offset_never_costs_the_users_offset(own_obs, tmp_path):
    obs = own_obs[0]
    home = tmp_path / "home"
    _make_mic(obs, "Mic")
    # run 1 applies A1 and is killed (nothing restores)
    proc = _run(obs.url, obs.password, "Mic", home)
    try:
        a1 = _poll(lambda: (v := _offset(obs, "Mic")) != USER_MS and v, 40)
        assert a1, "livestyle never changed the mic offset"
    finally:
        proc.kill()
        proc.wait()
    # OBS saves A1 and crashes; it comes back with A1
    _kill_obs(obs)
    obs = own_obs[0] = _restart_obs(tmp_path / "obs", obs, {"Mic": a1})
    # run 2 takes the user's offset from the record, applies another value, A2; then OBS crashes (having saved
    # A1, not A2) and run 2 cannot restore
    link = ObsLink(obs.url, obs.password, "Mic", state_path=home / "obs-offsets.json")
    link.start()
    try:
        assert _poll(lambda: link.state()["user_offset_ms"] is not None, 15)
        assert link.state()["user_offset_ms"] == USER_MS
        link.update_delay(0.5)
        a2 = USER_MS + 500
        assert a2 != a1
        assert _poll(lambda: _offset(obs, "Mic") == a2, 15)
        _kill_obs(obs)
    finally:
        link.close()
    assert link.state()["restored"] is False
    obs = own_obs[0] = _restart_obs(tmp_path / "obs", obs, {"Mic": a1})
    # run 3 (the real CLI, ending normally) must put the USER's offset back, not A1
    rep, out, err = _run_to_end(obs, "Mic", home)
    print("run 3 obs state:", rep["obs"])
    assert rep["obs"]["user_offset_ms"] == USER_MS, rep["obs"]
    assert rep["obs"]["restored"] is True
    assert _offset(obs, "Mic") == USER_MS
    # and again: a later run still knows (the record was kept, not dropped, after the clean restore)
    _kill_obs(obs)
    obs = own_obs[0] = _restart_obs(tmp_path / "obs", obs, {"Mic": a2})
    rep, out, err = _run_to_end(obs, "Mic", home)
    assert rep["obs"]["user_offset_ms"] == USER_MS and _offset(obs, "Mic") == USER_MS


# -- case 8: the record is keyed by the OBS instance ---------------------------------------------------------

@pytest.mark.slow
def test_a_killed_run_and_the_next_naming_obs_as_localhost_restore_the_users_offset(shared_obs, tmp_path):
    obs = shared_obs
    home = tmp_path / "home"
    _make_mic(obs, "Mic-host")
    port = obs.url.rsplit(":", 1)[1]
    assert obs.url == f"ws://127.0.0.1:{port}"
    proc = _run(obs.url, obs.password, "Mic-host", home)
    try:
        assert _poll(lambda: _offset(obs, "Mic-host") != USER_MS, 40), "livestyle never changed the mic offset"
    finally:
        proc.kill()  # SIGKILL: nothing restores
        proc.wait()
    left = _offset(obs, "Mic-host")
    rep, out, err = _run_to_end(obs, "Mic-host", home, url=f"ws://localhost:{port}")
    print("the localhost run:", rep["obs"], "(left at", left, "ms)")
    assert rep["obs"]["user_offset_ms"] == USER_MS, rep["obs"]
    assert _offset(obs, "Mic-host") == USER_MS
    assert rep["obs"]["instance"] == f"local:{port}"
    # the IPv6 loopback name reaches the same record (when this machine has one and OBS listens there)
    try:
        socket.create_connection(("::1", int(port)), timeout=2).close()
    except OSError:
        return
    assert ObsLink(f"ws://[::1]:{port}", mic="Mic-host")._open_record().key == f"local:{port}|Mic-host"


# -- case 9: summary, warning and report agree -----------------------------------------------------------------

@pytest.mark.slow
def test_obs_killed_mid_run_the_summary_warning_and_report_all_say_not_restored(own_obs, tmp_path):
    obs = own_obs[0]
    _make_mic(obs, "Mic")
    report = tmp_path / "report.json"
    proc = _run(obs.url, obs.password, "Mic", tmp_path / "home", "--report", str(report))
    try:
        assert _poll(lambda: _offset(obs, "Mic") != USER_MS, 40), "livestyle never changed the mic offset"
        _kill_obs(obs)
        time.sleep(0.5)
    finally:
        out, err = _finish(proc, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    state = json.loads(report.read_text())["obs"]
    print("summary:", out.splitlines()[-1:], "\nreport:", state)
    obs_lines = [ln for ln in out.splitlines() if ln.startswith("OBS:")]
    assert len(obs_lines) == 1, out
    assert "restored)" not in obs_lines[0]
    assert "NOT restored" in obs_lines[0] and f"{USER_MS} ms" in obs_lines[0], obs_lines[0]
    assert "could not put the sync offset" in err
    assert state["restored"] is False and state.get("restore_error"), state


# -- variants ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_obs_restarting_twice_mid_run_gets_the_offset_again_and_the_users_back_at_the_end(own_obs, tmp_path):
    obs = own_obs[0]
    _make_mic(obs, "Mic")
    report = tmp_path / "report.json"
    proc = _run(obs.url, obs.password, "Mic", tmp_path / "home", "--report", str(report))
    try:
        applied = _poll(lambda: (v := _offset(obs, "Mic")) != USER_MS and v, 40)
        assert applied, "livestyle never changed the mic offset"
        for _ in range(2):  # OBS crashes and comes back with the user's offset (it never saved livestyle's)
            _kill_obs(obs)
            obs = own_obs[0] = _restart_obs(tmp_path / "obs", obs, {"Mic": USER_MS})
            assert _poll(lambda: _offset(obs, "Mic") != USER_MS, 15), "the link did not set its offset again"
    finally:
        out, err = _finish(proc, signal.SIGTERM)
    state = json.loads(report.read_text())["obs"]
    assert state["restored"] is True and state["user_offset_ms"] == USER_MS, state
    assert _offset(obs, "Mic") == USER_MS
    assert "Traceback" not in err


def test_a_corrupt_offset_record_is_moved_aside_with_one_warning_and_the_run_goes_on(shared_obs, tmp_path):
    obs = shared_obs
    _make_mic(obs, "Mic-corrupt")
    home = tmp_path / "home"
    home.mkdir()
    (home / "obs-offsets.json").write_text('{"local:1|x": {"user_offset_ms": 3,')  # cut short
    rep, out, err = _run_to_end(obs, "Mic-corrupt", home)
    warnings = [ln for ln in err.splitlines() if "obs-offsets.json" in ln]
    assert len(warnings) == 1 and "not a JSON object" in warnings[0], err
    assert list(home.glob("obs-offsets.json.broken-*")), list(home.iterdir())
    assert rep["obs"]["user_offset_ms"] == USER_MS and rep["obs"]["restored"] is True
    assert _offset(obs, "Mic-corrupt") == USER_MS


# -- case 6 through the CLI: slow viewers never move the mic's offset --------------------------------------------

class _SlowViewer:
    """Reads the network output at ~15 KB/s (1500 bytes per 0.1 s poll)."""

    def __init__(self, port: int, path_query: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.sendall(f"GET {path_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.sock.setblocking(False)
        self.got = 0

    def poll(self):
        try:
            self.got += len(self.sock.recv(1500))
        except BlockingIOError:
            pass

    def close(self):
        self.sock.close()


@pytest.mark.slow
def test_slow_viewers_of_the_network_output_never_move_the_mic_offset(shared_obs, tmp_path):
    import re
    from urllib.parse import urlsplit

    obs = shared_obs
    _make_mic(obs, "Mic-viewers")
    report = tmp_path / "report.json"
    proc = _run(obs.url, obs.password, "Mic-viewers", tmp_path / "home", "--report", str(report), "--size",
                "320x180", output=f"stream:{free_port()}")
    viewers: list[_SlowViewer] = []
    seen: list[int] = []
    try:
        url = None
        t_end = time.monotonic() + 60
        while url is None and time.monotonic() < t_end:
            m = re.search(r"network output (http://\S+)", proc.stdout.readline() or "")
            url = m.group(1) if m else url
        assert url, "no network output URL printed"
        parts = urlsplit(url)
        viewers = [_SlowViewer(parts.port, f"{parts.path}?{parts.query}") for _ in range(3)]
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end:
            for v in viewers:
                v.poll()
            seen.append(_offset(obs, "Mic-viewers"))
            time.sleep(0.1)
    finally:
        for v in viewers:
            v.close()
        out, err = _finish(proc, signal.SIGTERM)
    rep = json.loads(report.read_text())
    lat = rep["latency_ms"]["capture_to_send"]
    added = max(seen) - USER_MS
    print(f"offset added for lip-sync: max {added} ms over {len(seen)} reads; pipeline p50 {lat['p50']} ms, "
          f"p99 {lat['p99']} ms; viewers read {[v.got for v in viewers]} bytes")
    assert all(v.got > 0 for v in viewers)
    assert added > 0, seen
    # the offset is the pipeline's own delay (plus the encode), never the seconds a slow viewer's socket takes
    assert added <= lat["p99"] + 1000 / 30 + 15, (added, lat)
    assert _offset(obs, "Mic-viewers") == USER_MS


# -- case 12 in OBS: a URL with a wildcard host still gives OBS a picture ------------------------------------------

def test_obs_setup_given_a_wildcard_url_points_obs_at_loopback_and_frames_arrive(shared_obs, tmp_path, monkeypatch):
    from livestyle.sinks.stream import StreamSink
    from tests.support.obs_frames import PacedFeeder

    monkeypatch.setenv("LIVESTYLE_HOME", str(tmp_path / "home"))
    sink = StreamSink(host="0.0.0.0", port=0, token="wild")
    sink.open((640, 360), 30.0)
    feeder = PacedFeeder(sink, 30.0).start()
    wildcard_url = f"http://0.0.0.0:{sink.port}{sink.path}?token=wild"  # as an older livestyle printed it
    try:
        out = subprocess.run([*LIVESTYLE, "obs", "setup", "--obs", shared_obs.url, "--obs-password",
                              shared_obs.password, "--name", "ls-wild", "--url", wildcard_url, "--json"],
                             env=cli_env(tmp_path / "home"), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr + out.stdout
        result = json.loads(out.stdout)
        assert result["moving"] is True, result
        with _client(shared_obs) as c:
            settings = c.call("GetInputSettings", {"inputName": "ls-wild"})["inputSettings"]
            c.call("RemoveInput", {"inputName": "ls-wild"})
        assert settings["input"] == f"http://127.0.0.1:{sink.port}{sink.path}?token=wild"
    finally:
        feeder.stop()
        sink.close()


# -- the user's own changes are theirs ---------------------------------------------------------------------------

def test_an_offset_the_user_set_by_hand_is_theirs_between_runs_and_mid_run(shared_obs, tmp_path):
    obs = shared_obs
    _make_mic(obs, "Mic-hand", 77)
    port = obs.url.rsplit(":", 1)[1]
    state = tmp_path / "offsets.json"
    # a record from a run killed long ago; since then the user set 77 ms, a value livestyle never applied
    state.write_text(json.dumps({f"local:{port}|Mic-hand": {"user_offset_ms": USER_MS, "applied_offsets_ms": [120]}}))
    link = ObsLink(obs.url, obs.password, "Mic-hand", state_path=state)
    link.start()
    try:
        assert _poll(lambda: link.state()["user_offset_ms"] is not None, 10)
        assert link.state()["user_offset_ms"] == 77
        link.update_delay(0.1)
        assert _poll(lambda: _offset(obs, "Mic-hand") == 177, 10)
        with _client(obs) as c:  # mid-run, the user changes it in OBS
            c.call("SetInputAudioSyncOffset", {"inputName": "Mic-hand", "inputAudioSyncOffset": 60})
        assert _poll(lambda: _offset(obs, "Mic-hand") == 160, 10), _offset(obs, "Mic-hand")
        assert link.state()["user_offset_ms"] == 60
    finally:
        link.close()
    assert link.state()["restored"] is True and _offset(obs, "Mic-hand") == 60


# -- an OBS that hangs must not hold the end of the run ------------------------------------------------------------

@pytest.mark.slow
def test_a_hung_obs_does_not_hold_the_end_of_the_run_and_the_summary_says_not_restored(own_obs, tmp_path):
    obs = own_obs[0]
    _make_mic(obs, "Mic")
    report = tmp_path / "report.json"
    proc = _run(obs.url, obs.password, "Mic", tmp_path / "home", "--report", str(report))
    pids: list[int] = []
    try:
        assert _poll(lambda: _offset(obs, "Mic") != USER_MS, 40), "livestyle never changed the mic offset"
        pids = [int(p) for p in subprocess.run(["pgrep", "-g", str(obs.proc.pid), "-x", "obs"], capture_output=True,
                                               text=True).stdout.split()]
        assert pids, "OBS's own process not found in its process group"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)  # OBS hangs: its socket accepts, nothing answers
        time.sleep(0.5)
        t0 = time.monotonic()
        out, err = _finish(proc, signal.SIGTERM)
        exit_s = time.monotonic() - t0
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        _finish(proc)
    print(f"exit {exit_s:.2f} s after SIGTERM with OBS hung")
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert exit_s <= 4.5, exit_s
    state = json.loads(report.read_text())["obs"]
    obs_lines = [ln for ln in out.splitlines() if ln.startswith("OBS:")]
    assert len(obs_lines) == 1 and "NOT restored" in obs_lines[0], out
    assert state["restored"] is False and state["restore_error"]


@pytest.mark.slow
def test_obs_coming_back_with_an_old_applied_value_after_the_user_changed_theirs(own_obs, tmp_path):
    """The user changed their offset (77 ms) after a run that had applied 120 ms; OBS had saved 120 ms and
    crashes during the next run: the run after must restore 77 ms, not take 120 ms for the user's."""
    obs = own_obs[0]
    home = tmp_path / "home"
    home.mkdir()
    port = obs.url.rsplit(":", 1)[1]
    (home / "obs-offsets.json").write_text(json.dumps(
        {f"local:{port}|Mic": {"user_offset_ms": USER_MS, "applied_offsets_ms": [120]}}))
    _make_mic(obs, "Mic", 77)
    link = ObsLink(obs.url, obs.password, "Mic", state_path=home / "obs-offsets.json")
    link.start()
    try:
        assert _poll(lambda: link.state()["user_offset_ms"] is not None, 15)
        assert link.state()["user_offset_ms"] == 77
        link.update_delay(0.3)
        assert _poll(lambda: _offset(obs, "Mic") == 377, 15)
        _kill_obs(obs)
    finally:
        link.close()
    obs = own_obs[0] = _restart_obs(tmp_path / "obs", obs, {"Mic": 120})
    rep, out, err = _run_to_end(obs, "Mic", home)
    assert rep["obs"]["user_offset_ms"] == 77, rep["obs"]
    assert _offset(obs, "Mic") == 77
