"""Never lose a user's file, never report success for a broken result (sources and sinks).

* A full disk while recording: the file sink fails on the first write that
  cannot be stored (one SinkError line, non-zero exit from the CLI) and
  nothing, neither a broken file nor a temporary one, is left under any name;
  a trailer/index that cannot be written is caught by reopening the file
  before the rename.  The disk is filled for real with ``RLIMIT_FSIZE`` in a
  subprocess (writes past the limit fail with EFBIG, as ENOSPC on a full disk).
* Odd sizes: file and virtual camera say what they really write (``written_size``).
* The virtual camera: every frame is checked through the real pyvirtualcam
  against the emulated v4l2loopback device; a refused frame is counted,
  the device reopened; a device that keeps refusing raises SinkError.
* Corrupt input: a truncated or damaged file warns "read N of M frames".
* Tiny input: a 17x9 video is refused with the reason.
* A URL to a recorded file ends at its end, every frame once, no loop.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle.errors import SinkError, SourceError
from livestyle.frame import MIN_SIDE, Frame
from livestyle.sinks.file import FileSink, verify_video
from livestyle.sources.file import FileSource
from livestyle.sources.url import UrlSource
from tests.conftest import cli_env
from tests.support.fakecam import build_fake_v4l2, camera_test_pattern, read_format_record, read_i420_frames, run_with_fake_device
from tests.support.videos import decode_index, write_test_video

ROOT = Path(__file__).resolve().parents[1]
FAKE_DEVICE = "/dev/video42"


def _fsize_limit_works() -> str | None:
    """None when RLIMIT_FSIZE can be lowered here (it can for any user on Linux), else why not."""
    if not hasattr(resource, "RLIMIT_FSIZE") or not hasattr(signal, "SIGXFSZ"):
        return "this platform has no RLIMIT_FSIZE/SIGXFSZ to emulate a full disk"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY and hard < 10_000_000:
        return f"the file-size limit is already {hard} bytes"
    return None


needs_fsize = pytest.mark.skipif(_fsize_limit_works() is not None, reason=str(_fsize_limit_works()))


def record_limited(target: Path, frames: int, limit: int, size=(320, 240)) -> dict:
    """Run tests/support/limited_writer.py: FileSink under a file-size limit (0: none); its JSON report."""
    done = subprocess.run([sys.executable, "-m", "tests.support.limited_writer", str(target), str(frames),
                           str(size[0]), str(size[1]), str(limit)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OPENCV_LOG_LEVEL": "SILENT", "OPENCV_FFMPEG_LOGLEVEL": "-8"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- disk full


@needs_fsize
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_disk_full_mid_recording_fails_at_once_and_leaves_no_file(tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    report = record_limited(target, 40, 200_000)  # 40 noise frames need over 1 MB
    assert report["send_error"], report
    assert report["send_error_at"] < 40
    assert "failed" in report["send_error"] and "\n" not in report["send_error"]
    assert "MB free" in report["send_error"]
    assert not report["target_exists"] and not report["temp_left"]
    assert report["folder"] == []  # no partial, no temporary file


@needs_fsize
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_disk_full_at_the_trailer_is_caught_before_the_rename_and_keeps_the_old_file(tmp_path, suffix):
    full = record_limited(tmp_path / f"full{suffix}", 40, 0)
    assert full["send_error"] is None and full["close_error"] is None and full["target_exists"]
    size = full["target_size"]
    # Room for the frames but not for the index/trailer written at close: every write succeeds, the file would
    # be unplayable (.mp4: no moov atom; .avi: no index, "0 frames"); the check before the rename refuses it.
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"the user's previous recording")
    report = record_limited(target, 40, size - 1500)
    assert report["send_error"] or report["close_error"], report
    error = report["close_error"] or report["send_error"]
    assert "\n" not in error
    assert target.read_bytes() == b"the user's previous recording"
    assert not report["temp_left"]
    assert sorted(report["folder"]) == sorted([f"full{suffix}", target.name])


@needs_fsize
def test_cli_run_on_a_full_disk_exits_non_zero_with_one_line(tmp_path, livestyle_home):
    target = tmp_path / "styled.mp4"

    def limit_file_size():  # runs in the child before exec; SIG_IGN survives exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    done = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "320x240",
                           "--output", str(target), "--max-frames", "60", "--style", "random"],
                          env=cli_env(livestyle_home), capture_output=True, text=True, timeout=180,
                          preexec_fn=limit_file_size)
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("livestyle: error:")]
    assert len(error_lines) == 1, done.stderr
    assert "failed" in error_lines[0] or "unplayable" in error_lines[0]
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".styled")] == []


def test_verify_video_refuses_a_file_without_its_index(tmp_path):
    good = write_test_video(tmp_path / "good.mp4", frames=30)
    verify_video(good, frames=30, size=(320, 240))
    with pytest.raises(SinkError, match="holds 30 frames but 31"):
        verify_video(good, frames=31, size=(320, 240))
    with pytest.raises(SinkError, match="320x240, not 320x238"):
        verify_video(good, frames=30, size=(320, 238))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:-400])  # mp4v writes the moov index last
    with pytest.raises(SinkError, match="cannot open"):
        verify_video(cut, frames=30, size=(320, 240))


# --------------------------------------------------------------------------- odd sizes


@pytest.mark.parametrize(("size", "written"), [((135, 101), (134, 100)), ((1281, 721), (1280, 720))])
def test_file_sink_says_what_it_writes_for_odd_sizes(tmp_path, caplog, size, written):
    target = tmp_path / "odd.mp4"
    sink = FileSink(target)
    with caplog.at_level(logging.WARNING, logger="livestyle.sinks.file"):
        sink.open(size, 30.0)
        for index in range(3):
            image = np.full((size[1], size[0], 3), 40 * index, np.uint8)
            image[:, -1] = 255  # the cropped last column
            sink.send(Frame(image, index))
        sink.close()
    assert sink.written_size == written
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{size[0]}x{size[1]}" in warnings[0] and f"{written[0]}x{written[1]}" in warnings[0]
    capture = cv2.VideoCapture(str(target))
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == written
    capture.release()


# --------------------------------------------------------------------------- virtual camera

VCAM_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[4])
from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.virtualcam import VirtualCamSink
from tests.support.fakecam import camera_test_pattern
import os
width, height, count = map(int, sys.argv[1:4])
remove_device_at = int(sys.argv[5]) if len(sys.argv) > 5 else -1
sink = VirtualCamSink(device="/dev/video42")
sink.open((width, height), 30.0)
report = {"error": None}
try:
    for index in range(count):
        if index == remove_device_at:  # the emulated device disappears: reopening it fails from now on
            os.environ["FAKE_V4L2_DEVICE"] = ""
        sink.send(Frame(camera_test_pattern(index, width, height), index))
except SinkError as error:
    report["error"] = str(error)
report.update(frames_sent=sink.frames_sent, errors=sink.errors, recoveries=sink.recoveries,
              written_size=list(sink.written_size))
sink.close()
print(json.dumps(report))
"""


@pytest.fixture(scope="session")
def fake_v4l2(tmp_path_factory) -> Path:
    return build_fake_v4l2(tmp_path_factory.mktemp("fake_v4l2_io"))


def vcam_run(library: Path, output: Path, width: int, height: int, count: int, *, remove_device_at: int = -1,
             **extra: str):
    done = run_with_fake_device(VCAM_SCRIPT, library, FAKE_DEVICE, output, str(width), str(height), str(count),
                                str(ROOT), str(remove_device_at), **extra)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done, json.loads(lines[-1])


def test_virtual_camera_rounds_odd_sizes_and_every_frame_arrives(fake_v4l2, tmp_path):
    output = tmp_path / "frames.i420"
    done, report = vcam_run(fake_v4l2, output, 135, 101, 5)
    assert report["error"] is None and report["errors"] == 0, report
    assert report["written_size"] == [134, 100] and report["frames_sent"] == 5
    assert "error writing frame" not in done.stderr  # today's bug: every odd frame refused, exit 0
    record = read_format_record(output)
    assert (record["width"], record["height"]) == (134, 100) and record["frames"] == 5 and record["bad_writes"] == 0
    frames = read_i420_frames(output, 134, 100)
    assert len(frames) == 5
    expected = cv2.cvtColor(camera_test_pattern(4, 135, 101)[:100, :134], cv2.COLOR_BGR2YUV_I420)
    assert np.abs(frames[4][:100].astype(int) - expected[:100]).max() <= 1  # the crop, not a resize


def test_virtual_camera_recovers_from_refused_writes_and_counts_them(fake_v4l2, tmp_path):
    output = tmp_path / "frames.i420"
    done, report = vcam_run(fake_v4l2, output, 320, 240, 8, FAKE_V4L2_FAIL_WRITES="3-3")
    assert report["error"] is None, report
    assert report["errors"] == 1 and report["recoveries"] == 1, report
    assert report["frames_sent"] == 8  # the refused frame was sent again after the reopen
    assert len(read_i420_frames(output, 320, 240)) == 8


def test_virtual_camera_that_keeps_refusing_raises_one_line(fake_v4l2, tmp_path):
    output = tmp_path / "frames.i420"
    done, report = vcam_run(fake_v4l2, output, 320, 240, 20, FAKE_V4L2_FAIL_WRITES="4-")
    assert report["error"], report
    assert "failed for 5 frames in a row" in report["error"] and "No such device" in report["error"]
    assert "\n" not in report["error"]
    assert report["frames_sent"] == 3 and report["errors"] == 5 and report["recoveries"] == 0


def test_virtual_camera_whose_device_vanished_keeps_trying_then_raises(fake_v4l2, tmp_path):
    output = tmp_path / "frames.i420"
    done, report = vcam_run(fake_v4l2, output, 320, 240, 20, remove_device_at=3, FAKE_V4L2_FAIL_WRITES="4-")
    assert report["error"], report
    assert "failed for 5 frames in a row" in report["error"] and "No virtual camera could be opened" in report["error"]
    assert "is not open" not in report["error"]
    assert report["frames_sent"] == 3 and report["errors"] == 5


# --------------------------------------------------------------------------- corrupt and tiny input


def read_all(source) -> list[int]:
    indices = []
    while (image := source.read()) is not None:
        indices.append(decode_index(image))
    return indices


def test_truncated_file_warns_how_many_frames_were_read(tmp_path, caplog):
    whole = write_test_video(tmp_path / "whole.avi", frames=60)
    cut = tmp_path / "cut.avi"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    source = FileSource(cut)
    with caplog.at_level(logging.WARNING, logger="livestyle.sources.file"):
        source.open()
        indices = read_all(source)
    source.close()
    assert source.frames_promised == 60 and source.frames_read == len(indices) and 0 < len(indices) < 60
    assert indices == list(range(len(indices)))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"file cut.avi: read {len(indices)} of 60 frames the file promised; "
                        "it may be truncated or corrupt"]


def test_file_damaged_in_the_middle_warns(tmp_path, caplog):
    path = write_test_video(tmp_path / "damaged.mp4", frames=60)
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third: 2 * third] = bytes(third)  # zeros over the middle third of the frame data
    path.write_bytes(bytes(data))
    source = FileSource(path)
    with caplog.at_level(logging.WARNING, logger="livestyle.sources.file"):
        source.open()
        indices = read_all(source)
    source.close()
    assert source.frames_read == len(indices) < 60 and source.frames_promised == 60
    assert indices[:5] == [0, 1, 2, 3, 4]  # the undamaged start came through in order
    assert any(f"read {source.frames_read} of 60 frames" in r.getMessage() for r in caplog.records)


def test_complete_file_does_not_warn(tmp_path, caplog):
    path = write_test_video(tmp_path / "fine.mp4", frames=20)
    source = FileSource(path)
    with caplog.at_level(logging.WARNING, logger="livestyle.sources.file"):
        source.open()
        assert read_all(source) == list(range(20))
    assert source.frames_read == source.frames_promised == 20
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_tiny_video_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (18, 10))
    for index in range(5):
        writer.write(np.full((10, 18, 3), 50 * index, np.uint8))
    writer.release()
    with pytest.raises(SourceError) as caught:
        FileSource(path).open()
    message = str(caught.value)
    assert "16x10" in message or "18x10" in message
    assert f"at least {MIN_SIDE}x{MIN_SIDE}" in message and caught.value.fix and "\n" not in message


# --------------------------------------------------------------------------- URL to a recorded file


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture()
def http_folder(tmp_path):
    """(folder, base URL): a real HTTP server on 127.0.0.1 serving ``folder`` (Content-Length, ranges: none)."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_url_to_a_recorded_file_reads_every_frame_once_and_ends(http_folder, suffix):
    folder, base = http_folder
    write_test_video(folder / f"clip{suffix}", frames=45)
    source = UrlSource(f"{base}/clip{suffix}")
    source.open()
    try:
        assert source.recorded is not None and not source.live
        assert source.size == (320, 240) and source.fps == 30.0
        indices = read_all(source)  # would block forever (reconnect loop) before the fix
    finally:
        source.close()
    assert indices == list(range(45))
    assert source.frames_read == source.frames_promised == 45
    assert source.reconnects == 0


def test_url_to_a_recorded_file_paced_in_real_time(http_folder):
    folder, base = http_folder
    write_test_video(folder / "clip.mp4", frames=30, fps=30.0)
    source = UrlSource(f"{base}/clip.mp4", realtime=True)
    source.open()
    try:
        assert source.live
        import time
        started = time.perf_counter()
        indices = read_all(source)
        elapsed = time.perf_counter() - started
    finally:
        source.close()
    assert indices[-1] == 29 and indices == sorted(set(indices))  # in order, ends, no loop
    assert elapsed >= 29 / 30.0 - 0.05  # never faster than the file's own rate


def test_live_stream_of_tiny_frames_is_refused(monkeypatch):
    from tests.support import mjpeg_server

    monkeypatch.setattr(mjpeg_server, "make_test_frame",
                        lambda index, size: np.full((16, 24, 3), (index * 7) % 256, np.uint8))
    with mjpeg_server.MjpegServer(size=(24, 16), fps=15) as server:
        source = UrlSource(server.url)
        with pytest.raises(SourceError) as caught:
            source.open()
        source.close()
    assert "24x16" in str(caught.value) and f"at least {MIN_SIDE}x{MIN_SIDE}" in str(caught.value)
    assert caught.value.fix and "\n" not in str(caught.value)


def test_open_source_paces_a_recorded_url_only_with_realtime(http_folder):
    from livestyle.sources.registry import open_source

    folder, base = http_folder
    write_test_video(folder / "clip.mkv", frames=10)
    for realtime in (False, True):
        source = open_source(f"{base}/clip.mkv", realtime=realtime)
        source.open()
        try:
            assert source.live is realtime and source.recorded is not None
            assert read_all(source) == list(range(10))
        finally:
            source.close()


@pytest.mark.slow
def test_cli_run_on_a_url_to_a_recorded_file_ends_with_every_frame(http_folder, tmp_path, livestyle_home):
    folder, base = http_folder
    write_test_video(folder / "clip.mp4", frames=45)
    target = tmp_path / "styled.mp4"
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", f"{base}/clip.mp4", "--style", "random",
                           "--strength", "0", "--output", str(target), "--report", str(report)],
                          env=cli_env(livestyle_home), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rep = json.loads(report.read_text())
    assert rep["frames_out"] == 45 and rep["dropped"] == 0 and rep["reconnects"] == 0
    capture = cv2.VideoCapture(str(target))
    indices = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        indices.append(decode_index(image))
    capture.release()
    assert indices == list(range(45))  # every frame once, in order: no drops, no loop


def _cli_vcam(fake_v4l2, output: Path, home: Path, size: str, frames: int, report: Path, **extra: str):
    from tests.support.fakecam import fake_device_env

    env = fake_device_env(fake_v4l2, FAKE_DEVICE, output, LIVESTYLE_HOME=str(home),
                          PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    return subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", size, "--output",
                           "vcam", "--device", FAKE_DEVICE, "--style", "random", "--max-frames", str(frames),
                           "--report", str(report)], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_vcam_odd_size_reports_what_the_camera_shows(fake_v4l2, tmp_path, livestyle_home):
    output, report = tmp_path / "device.raw", tmp_path / "report.json"
    done = _cli_vcam(fake_v4l2, output, livestyle_home, "321x241", 6, report)
    assert done.returncode == 0, done.stderr
    assert "error writing frame" not in done.stderr
    rep = json.loads(report.read_text())
    assert rep["size"] == [320, 240] and rep["frames_out"] == 6
    assert len(read_i420_frames(output, 320, 240)) == 6 and read_format_record(output)["bad_writes"] == 0


@pytest.mark.slow
def test_cli_vcam_device_gone_for_good_fails_with_one_line(fake_v4l2, tmp_path, livestyle_home):
    output, report = tmp_path / "device.raw", tmp_path / "report.json"
    done = _cli_vcam(fake_v4l2, output, livestyle_home, "320x240", 40, report, FAKE_V4L2_FAIL_WRITES="5-")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("livestyle: error:")]
    assert len(errors) == 1 and "failed for 5 frames in a row" in errors[0], done.stderr
    assert len(read_i420_frames(output, 320, 240)) == 4  # the frames before the device went away


@pytest.mark.slow
def test_cli_vcam_recovers_and_the_report_counts_it(fake_v4l2, tmp_path, livestyle_home):
    output, report = tmp_path / "device.raw", tmp_path / "report.json"
    # frame 5 is refused, and so is its retry after the reopen: that frame is lost, frame 6 goes through
    done = _cli_vcam(fake_v4l2, output, livestyle_home, "320x240", 20, report, FAKE_V4L2_FAIL_WRITES="5-6")
    assert done.returncode == 0, done.stderr
    rep = json.loads(report.read_text())
    assert rep["sink"] == {"errors": 1, "recoveries": 1}
    assert len(read_i420_frames(output, 320, 240)) == 19


@needs_fsize
def test_cli_disk_full_mid_recording_says_it_once(tmp_path, livestyle_home):
    target = tmp_path / "styled.mp4"

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    done = subprocess.run([sys.executable, "-m", "livestyle", "run", "--input", "demo", "--size", "320x240",
                           "--output", str(target), "--max-frames", "300", "--style", "random"],
                          env=cli_env(livestyle_home), capture_output=True, text=True, timeout=180,
                          preexec_fn=limit_file_size)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("failed (the disk is full") == 1, done.stderr
    assert not target.exists()
