"""``livestyle bench``: the real CLI, the real pipeline, real load processes, real files read back."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from livestyle.bench.load import Load, parse_load
from livestyle.bench.report import cpu_model, csv_columns, frames_table, per_second, summarize
from livestyle.errors import UsageError
from livestyle.stats import FrameRecord
from tests.conftest import cli_env


def run_bench(args, home, timeout=180, **kw):
    return subprocess.run([sys.executable, "-m", "livestyle", "bench", *args], env=cli_env(home),
                          capture_output=True, text=True, timeout=timeout, **kw)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_children(parent: int) -> list[int]:
    """PIDs of `python -m livestyle.bench.load` processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), -1)
        if ppid == parent and b"livestyle.bench.load" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


@pytest.mark.slow
def test_bench_writes_csv_plots_and_summary(tmp_path, livestyle_home):
    results = tmp_path / "results"
    results.mkdir()
    out = results / "bench-out"
    args = ["--seconds", "3", "--size", "320x180", "--style", "random", "--quality", "fixed", "--out", str(out)]
    done = run_bench(args, livestyle_home)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "bench: " in done.stderr  # progress while it runs
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "frames.csv", "latency_hist.png", "report.json",
                                                    "summary.html", "summary.md", "timeline.png"]
    assert [p.name for p in results.iterdir()] == ["bench-out"]  # no temporary folder left beside it

    bench = json.loads((out / "bench.json").read_text())
    summary = bench["summary"]
    with open(out / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    report = json.loads((out / "report.json").read_text())
    timed = tuple(report["latency_ms"]["stages"])  # capture, the stage list's parts, output
    assert timed == ("capture", "preprocess", "infer", "postprocess", "output")
    assert tuple(rows[0].keys()) == csv_columns(timed)
    assert tuple(summary["stages_ms"]) == timed
    assert len(rows) == summary["frames_out"] >= 3  # ~3 s at up to 30 fps (a busy shared machine gives far fewer)
    t_send = [float(r["t_send_s"]) for r in rows]
    assert t_send == sorted(t_send) and t_send[-1] >= 3.0
    for r in rows:
        latency = float(r["latency_ms"])
        assert latency > 0 and abs(latency - (float(r["t_send_s"]) - float(r["t_capture_s"])) * 1000) < 0.01
        assert r["look"] == "random" and (r["infer_w"], r["infer_h"]) != ("0", "0")
    lat = sorted(float(r["latency_ms"]) for r in rows)
    assert lat[len(lat) // 2] == pytest.approx(summary["latency_ms"]["p50"], rel=0.05, abs=0.5)

    for name, min_size in (("latency_hist.png", (600, 300)), ("timeline.png", (800, 700))):
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[1] >= min_size[0] and image.shape[0] >= min_size[1], name
        assert image.std() > 10, f"{name} is blank"

    md = (out / "summary.md").read_text()
    assert f"`livestyle bench {' '.join(args)}`" in md
    assert cpu_model() in md
    for package in ("python", "numpy", "opencv", "onnxruntime", "livestyle"):
        assert f"{package} " in md
    assert "Competing load:** none" in md and "Quality:** fixed" in md
    html = (out / "summary.html").read_text()
    assert "<img alt='latency histogram' src='latency_hist.png'>" in html and "<table>" in html
    report = json.loads((out / "report.json").read_text())
    assert report["frames_out"] == summary["frames_out"]
    assert summary["quality"]["mode"] == "fixed" and summary["quality"]["changes"] == []


def test_bench_refuses_a_folder_holding_other_files(tmp_path, livestyle_home):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    done = run_bench(["--seconds", "1", "--out", str(out)], livestyle_home, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "already holds other files" in done.stderr
    assert (out / "thesis.txt").read_text() == "precious" and len(list(out.iterdir())) == 1


def test_parse_load():
    assert parse_load(None) is None and parse_load("none") is None
    assert parse_load("busy:1") == ("busy", 1) and parse_load("encode") == ("encode", 1)
    for bad in ("busy:0", "busy:x", "gpu", f"busy:{len(os.sched_getaffinity(0)) + 1}"):
        with pytest.raises(UsageError):
            parse_load(bad)


def test_busy_load_is_pinned_burns_cpu_and_stops():
    load = Load("busy", 1).start()
    try:
        (proc,) = load.processes
        time.sleep(0.3)  # the child pins itself after the interpreter starts
        deadline = time.monotonic() + 5
        while os.sched_getaffinity(proc.pid) != {max(os.sched_getaffinity(0))} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.sched_getaffinity(proc.pid) == {max(os.sched_getaffinity(0))}
        before = cpu_seconds(proc.pid)
        time.sleep(1.0)
        assert cpu_seconds(proc.pid) - before > 0.05  # spinning (it gets less than its core on a busy machine)
        assert "pinned to CPU" in load.description
    finally:
        load.stop()
    assert proc.poll() is not None and load.processes == []
    load.stop()  # idempotent


def test_encode_load_runs_a_real_encoder_and_stops():
    with Load("encode") as load:
        (proc,) = load.processes
        assert "libx264" in load.description or "mp4v" in load.description
        before = cpu_seconds(proc.pid)
        time.sleep(1.5)
        assert load.alive()
        assert cpu_seconds(proc.pid) - before > 0.05  # 720p30 encoding costs real CPU
    assert proc.poll() is not None


def test_ctrl_c_stops_the_run_and_the_load_and_still_writes_results(tmp_path, livestyle_home):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "livestyle", "bench", "--seconds", "60", "--size", "320x180",
                             "--style", "random", "--load", "busy:1", "--out", str(out)],
                            env=cli_env(livestyle_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and not children:
            children = load_children(proc.pid)
            time.sleep(0.2)
        assert children, "the busy load never started"
        # Wait for the progress line that shows frames (printed every 5 s when stderr is not a terminal).
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(re.search(r" [1-9]\d* frames ", line) for line in lines):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        stderr = "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not any(alive(pid) for pid in children), "the load outlived the benchmark"
    assert (out / "bench.json").exists() and (out / "frames.csv").exists()
    assert "busy process pinned to CPU" in (out / "summary.md").read_text()


TIMED = ("capture", "preprocess", "infer", "postprocess", "output")


def _record(i: int, t: float, dropped: int, cpu: float, size=(512, 288)) -> FrameRecord:
    return FrameRecord(index=i, t_capture=t, t_send=t + 0.04, stages={s: 0.005 for s in TIMED}, look="pastel",
                       strength=1.0, bypass=False, infer_size=size, dropped=dropped, cpu_s=cpu)


def test_per_second_bins_fps_drops_and_cpu():
    # 2.5 s: 30 frames in the first second, 15 in the second, 5 in the half second after; drops 0 -> 3 -> 10.
    times = [i / 30 for i in range(30)] + [1 + i / 15 for i in range(15)] + [2 + i / 10 for i in range(5)]
    dropped = [0] * 30 + [3] * 15 + [10] * 5
    records = [_record(i, t - 0.04, d, 0.02) for i, (t, d) in enumerate(zip(times, dropped))]
    cols = frames_table(records, 0.0)
    sec = per_second(cols, duration_s=2.5)
    assert list(sec["t"]) == [0.0, 1.0]  # whole seconds only
    assert list(sec["fps"]) == [30.0, 15.0]
    assert list(sec["drops"]) == [0.0, 3.0]
    assert sec["cpu_pct"][0] == pytest.approx(60.0)  # 30 frames x 20 ms of CPU in one second
    summary = summarize(cols, {"fps_target": 30.0, "dropped": 10}, 2.5)
    assert summary["frames_out"] == 50 and summary["latency_ms"]["p50"] == pytest.approx(40.0)
    assert summary["quality"]["mode"].startswith("unknown")  # a report without a quality section


def test_a_load_dies_with_a_benchmark_killed_hard(tmp_path):
    # A parent that starts a busy load and is then SIGKILLed (no cleanup at all): the load must not live on.
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from livestyle.bench.load import Load; "
            "load = Load('busy', 1).start(); print(load.processes[0].pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).resolve().parents[1])],
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.5)
    assert alive(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "the busy load outlived its killed parent"
