"""The pipeline end to end with real parts: OpenCV video files, ONNX Runtime, real subprocesses and signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import cli_env
from tests.support.videos import write_test_video


def run_cli(args, home, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "livestyle", *args], env=cli_env(home), capture_output=True,
                          text=True, timeout=timeout, **kw)


def test_offline_file_to_file_keeps_every_frame(tmp_path, livestyle_home):
    src = tmp_path / "in.avi"
    write_test_video(src, size=(320, 240), fps=30, frames=40)
    out = tmp_path / "out.mp4"
    rep_path = tmp_path / "rep.json"
    r = run_cli(["run", "--input", str(src), "--output", str(out), "--style", "random",
                 "--report", str(rep_path), "--infer-size", "160x120"], livestyle_home)
    assert r.returncode == 0, r.stderr
    rep = json.loads(rep_path.read_text())
    assert rep["frames_in"] == 40 and rep["frames_out"] == 40 and rep["dropped"] == 0
    assert rep["backend"] == "onnxruntime" and rep["size"] == [320, 240] and rep["infer_size"] == [160, 120]
    for key in ("capture", "preprocess", "infer", "postprocess", "output"):
        assert rep["latency_ms"]["stages"][key]["p50"] is not None
    assert rep["latency_ms"]["capture_to_send"]["p95"] >= rep["latency_ms"]["capture_to_send"]["p50"] > 0
    assert "torch-cpu" in rep["backends_not_used"]
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        assert img.shape == (240, 320, 3)
        n += 1
    assert n == 40
    assert "fps" in r.stdout and "p95" in r.stdout


def test_strength_zero_passes_input_through(tmp_path, livestyle_home):
    """strength 0 must give back the input (up to the codec), strength 1 must not."""
    src = tmp_path / "in.avi"
    write_test_video(src, size=(320, 240), fps=30, frames=5)
    outs = {}
    for s in ("0", "1"):
        out = tmp_path / f"out{s}.avi"
        r = run_cli(["run", "--input", str(src), "--output", str(out), "--style", "random", "--strength", s,
                     "--no-temporal"], livestyle_home)
        assert r.returncode == 0, r.stderr
        cap = cv2.VideoCapture(str(out))
        outs[s] = cap.read()[1].astype(np.float32)
    ref = cv2.VideoCapture(str(src)).read()[1].astype(np.float32)
    assert np.abs(outs["0"] - ref).mean() < 3.0
    assert np.abs(outs["1"] - ref).mean() > 5.0


def test_realtime_file_is_paced_and_counts_drops(tmp_path, livestyle_home):
    src = tmp_path / "in.avi"
    write_test_video(src, size=(640, 360), fps=30, frames=45)
    rep_path = tmp_path / "rep.json"
    t0 = time.perf_counter()
    r = run_cli(["run", "--input", str(src), "--output", "null", "--style", "random", "--realtime",
                 "--report", str(rep_path)], livestyle_home)
    took = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    rep = json.loads(rep_path.read_text())
    assert rep["live"] is True
    assert took > 45 / 30 * 0.9  # paced, not as fast as possible
    # every frame is either sent or counted as dropped/skipped somewhere
    at = rep["dropped_at"]
    assert rep["dropped"] == at["capture_slot"] + at["output_slot"] + at["source_skipped"]
    assert rep["frames_out"] + rep["dropped"] >= 44
    assert 0 < rep["fps_out"] <= 33


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_finalises_file_and_report(tmp_path, livestyle_home, sig):
    """SIGTERM and SIGHUP (terminal closed) stop cleanly: a playable file, the report, exit 128 + signal."""
    out = tmp_path / "out.mp4"
    rep_path = tmp_path / "rep.json"
    p = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "320x240",
                          "--realtime", "--output", str(out), "--style", "random", "--report", str(rep_path)],
                         env=cli_env(livestyle_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() or any(tmp_path.glob("*partial*"))):
        time.sleep(0.1)
    time.sleep(1.5)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    rep = json.loads(rep_path.read_text())
    assert rep["stopped_by"] == signal.Signals(sig).name and rep["frames_out"] > 10
    assert rep["stop_signal"] == sig
    assert not list(tmp_path.glob("*partial*")) and not list(tmp_path.glob(".*tmp*"))
    cap = cv2.VideoCapture(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, img = cap.read()
    assert ok and img.shape == (240, 320, 3)
    assert n >= rep["frames_out"] - 2


def test_sigint_stops_cleanly(tmp_path, livestyle_home):
    p = subprocess.Popen([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "320x240",
                          "--realtime", "--output", "null", "--style", "random"],
                         env=cli_env(livestyle_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 130, stderr  # the shell's convention for Ctrl+C
    assert "Traceback" not in stderr and "stopped by SIGINT" in stdout


def _onnx_with_wrong_contract(path: Path) -> None:
    """A valid ONNX model that takes float32 NCHW: loads, but breaks the runtime's uint8 NHWC contract."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "wrong", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _onnx_that_changes_shape(path: Path) -> None:
    """uint8 NHWC in and out, but the output is half the size: wrong-shaped."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("bgr", TensorProto.UINT8, [1, "h", "w", 3])
    y = helper.make_tensor_value_info("out", TensorProto.UINT8, [1, "h2", "w2", 3])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [2 ** 62])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    steps = helper.make_tensor("steps", TensorProto.INT64, [1], [2])
    g = helper.make_graph([helper.make_node("Slice", ["bgr", "starts", "ends", "axes", "steps"], ["out"])],
                          "half", [x], [y], initializer=[starts, ends, axes, steps])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _bad_pack(home: Path, name: str, writer) -> None:
    d = home / "styles" / name
    d.mkdir(parents=True)
    (d / "style.json").write_text(json.dumps({"name": name}))
    writer(d / "student.onnx")


@pytest.mark.parametrize("case", ["camera", "missing-file", "not-video", "dead-url", "style", "corrupt-onnx",
                                  "wrong-contract-onnx", "wrong-shape-onnx", "size", "infer-size", "strength",
                                  "strength-nan", "output", "backend"])
def test_bad_input_is_one_clear_line(case, tmp_path, livestyle_home):
    from tests.support.mjpeg_server import SilentServer

    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video\n")
    args = {"input": "demo", "output": "null", "style": "random"}
    extra: list[str] = []
    server = None
    if case == "camera":
        args["input"] = "camera:97"
    elif case == "missing-file":
        args["input"] = str(tmp_path / "nope.mp4")
    elif case == "not-video":
        args["input"] = str(junk)
    elif case == "dead-url":
        server = SilentServer().start()
        args["input"] = server.url
    elif case == "style":
        args["style"] = "no-such-style"
    elif case == "corrupt-onnx":
        _bad_pack(livestyle_home, "corrupt", lambda p: p.write_bytes(b"\x08\x07garbage" * 100))
        args["style"] = "corrupt"
    elif case == "wrong-contract-onnx":
        _bad_pack(livestyle_home, "wrongio", _onnx_with_wrong_contract)
        args["style"] = "wrongio"
    elif case == "wrong-shape-onnx":
        _bad_pack(livestyle_home, "halfsize", _onnx_that_changes_shape)
        args["style"] = "halfsize"
    elif case == "size":
        extra = ["--size", "1280by720"]
    elif case == "infer-size":
        extra = ["--infer-size", "0x0"]
    elif case == "strength":
        extra = ["--strength", "1.5"]
    elif case == "strength-nan":
        extra = ["--strength", "abc"]
    elif case == "output":
        args["output"] = "out.gif"
    elif case == "backend":
        extra = ["--backend", "tensorrt"]
    out_file = tmp_path / "o.mp4"
    if case in ("corrupt-onnx", "style", "camera"):
        args["output"] = str(out_file)  # outputs must be closed cleanly / not left half-written
    try:
        t0 = time.time()
        r = run_cli(["run", "--input", args["input"], "--output", args["output"], "--style", args["style"],
                     "--max-frames", "5", *extra], livestyle_home, timeout=60)
        took = time.time() - t0
    finally:
        if server is not None:
            server.stop()
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("livestyle: error:"), lines[0]
    assert took < 30
    assert not out_file.exists() or out_file.stat().st_size == 0 or cv2.VideoCapture(str(out_file)).isOpened()


def test_runtime_imports_no_torch_or_tensorrt():
    code = ("import sys, livestyle.cli, livestyle.pipeline, livestyle.runners.registry, livestyle.runners.onnxrt, "
            "livestyle.sources.file, livestyle.sources.demo, livestyle.sinks.file, livestyle.sinks.virtualcam; "
            "livestyle.cli.build_parser(); "
            "print(sorted(m for m in ('torch','tensorrt') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_styles_json_lists_installed(livestyle_home):
    r = run_cli(["styles", "--json"], livestyle_home)
    assert r.returncode == 0, r.stderr
    entries = {e["name"]: e for e in json.loads(r.stdout)}
    assert {"random", "random2"} <= set(entries)
    for e in entries.values():
        assert {"name", "path", "onnx", "default", "look", "meta"} <= set(e)
        assert Path(e["onnx"]).is_file()


def test_style_switch_while_running(tmp_path, livestyle_home):
    """Switching style mid-stream swaps the runner without restarting the stream."""
    from livestyle.runconfig import RunConfig
    from livestyle.runners.registry import create_runner
    from livestyle.sinks.base import Command, Sink
    from tests.support.pipe import build_pipeline
    from livestyle.sources import open_source
    from livestyle.styles import discover

    class Recorder(Sink):
        def __init__(self):
            self.frames, self.sent = [], 0
        def open(self, size, fps):
            pass
        def send(self, frame, *, original=None, status=""):
            self.frames.append(frame.image.copy())
            self.sent += 1
        def poll(self):
            return [Command("style", "random2")] if self.sent == 10 else []
        def close(self):
            pass

    styles = [s for s in discover() if s.name in ("random", "random2")]
    cfg = RunConfig(input="demo", output="null", max_frames=40, temporal=False)
    src = open_source("demo", size=(160, 96))
    src.open()
    sink = Recorder()
    pipe = build_pipeline(cfg, source=src, sink=sink, styles=styles, start=styles[0].name, infer_size=(160, 96),
                          out_size=(160, 96))
    pipe.run()
    src.close()
    pipe.stage("look").bank.close()
    assert pipe.controls.snapshot().look == "random2" and pipe.stage("look").switcher.on_screen == "random2"
    assert len(sink.frames) == 40
    # the two random students style the same demo frame differently
    ref0 = create_runner("onnxruntime", styles[0], infer_size=(160, 96)).runner
    ref1 = create_runner("onnxruntime", styles[1], infer_size=(160, 96)).runner
    demo = open_source("demo", size=(160, 96))
    demo.open()
    frames = [demo.read() for _ in range(40)]
    last = frames[-1]
    assert np.abs(sink.frames[-1].astype(int) - ref1.infer(last).astype(int)).mean() < \
        np.abs(sink.frames[-1].astype(int) - ref0.infer(last).astype(int)).mean()


def test_live_url_reconnects_and_keeps_output_fed(tmp_path, livestyle_home):
    """A live MJPEG stream that dies mid-run: the pipeline reconnects, and meanwhile re-sends the last frame."""
    from livestyle.runconfig import RunConfig
    from livestyle.sinks.base import Sink
    from tests.support.pipe import build_pipeline
    from livestyle.sources import open_source
    from livestyle.styles import find_style
    from tests.support.mjpeg_server import MjpegServer

    class Recorder(Sink):
        def __init__(self):
            self.times, self.indices = [], []
        def open(self, size, fps):
            pass
        def send(self, frame, *, original=None, status=""):
            self.times.append(time.perf_counter())
            self.indices.append(frame.index)
        def close(self):
            pass

    server = MjpegServer(size=(320, 240), fps=30).start()
    try:
        src = open_source(server.url)
        src.open()
        style = find_style("random")
        sink = Recorder()
        pipe = build_pipeline(RunConfig(input=server.url, output="null"), source=src, sink=sink, styles=[style],
                              start="random", infer_size=(160, 120), out_size=(320, 240))
        import threading
        t = threading.Thread(target=pipe.run)
        t.start()
        time.sleep(2.0)
        before_outage = pipe.stats.frames_out
        server.stop()
        time.sleep(2.5)
        during_outage_repeats = pipe.stats.repeated
        server.restart()
        deadline = time.time() + 20
        while time.time() < deadline and src.reconnects < 1:
            time.sleep(0.1)
        time.sleep(1.5)
        pipe.request_stop("test over")
        t.join(10)
        src.close()
    finally:
        server.stop()
    assert not t.is_alive()
    assert before_outage > 20
    assert src.reconnects >= 1
    assert during_outage_repeats >= 10  # ~15 fps of repeats (every 2 frame intervals) for 2.5 s
    new_frames = [i for i in sink.indices if i >= 0]
    assert len(new_frames) > before_outage + 10  # fresh frames after the restart
    gaps = np.diff(sink.times)
    assert gaps.max() < 0.5  # the output never went silent for long, outage included
    rep = pipe.report()
    assert rep["reconnects"] >= 1 and rep["repeated"] == pipe.stats.repeated


def test_temporal_filter_auto_runs_only_for_looks_with_a_cnn(tmp_path, livestyle_home):
    """--temporal auto (the default): colour looks (per-pixel LUTs) skip the filter, a CNN look or a blend
    holding a drawn look gets it, and --temporal on forces it."""
    src = tmp_path / "in.avi"
    write_test_video(src, size=(320, 240), fps=30, frames=12)
    runs = {"pastel": ["--style", "pastel"], "pastel:0.5,vintage:0.5": ["--style", "pastel:0.5,vintage:0.5"],
            "random": ["--style", "random"], "pastel:0.5,pencil:0.5": ["--style", "pastel:0.5,pencil:0.5"],
            "pastel on": ["--style", "pastel", "--temporal", "on"], "random off": ["--style", "random", "--no-temporal"]}
    got = {}
    for name, args in runs.items():
        rep_path = tmp_path / "rep.json"
        r = run_cli(["run", "--input", str(src), "--output", "null", "--infer-size", "160x120", "--report",
                     str(rep_path), *args], livestyle_home)
        assert r.returncode == 0, r.stderr
        rep = json.loads(rep_path.read_text())
        assert rep["frames_out"] == 12
        got[name] = (rep["temporal_filter"], rep["temporal_filtered_frames"])
    assert got == {"pastel": ("auto", 0), "pastel:0.5,vintage:0.5": ("auto", 0), "random": ("auto", 12),
                   "pastel:0.5,pencil:0.5": ("auto", 12), "pastel on": ("on", 12), "random off": ("off", 0)}
    r = run_cli(["run", "--input", str(src), "--output", "null", "--temporal", "sometimes"], livestyle_home)
    assert r.returncode == 2 and "--temporal" in r.stderr


def test_opencv_runs_one_thread_at_30_fps_and_its_pool_at_60(tmp_path, livestyle_home):
    """At 30 fps OpenCV's pool only adds CPU beside the stage threads, so a run uses one OpenCV thread; at
    60 fps the pool stays (a frame's interval is too short for the person stage on one core); a user's
    OPENCV_FOR_THREADS_NUM wins."""
    import os

    src = tmp_path / "in.avi"
    write_test_video(src, size=(160, 120), fps=30, frames=6)
    got = {}
    for name, fps, env in (("30", "30", {}), ("60", "60", {}), ("30 user", "30", {"OPENCV_FOR_THREADS_NUM": "2"})):
        rep_path = tmp_path / f"rep{name}.json"
        r = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", str(src), "--output", "null",
                            "--style", "random", "--fps", fps, "--infer-size", "160x120", "--report", str(rep_path)],
                           env={**cli_env(livestyle_home), **env}, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got[name] = json.loads(rep_path.read_text())["opencv_threads"]
    assert got["30"] == 1
    assert got["30 user"] == 2
    if (os.cpu_count() or 1) >= 2:
        assert got["60"] >= 2, got
