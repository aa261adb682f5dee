"""Frame sources against real OpenCV: real video files, a real MJPEG server, real sockets.

Frames made by ``tests.support.videos`` carry their index in a barcode band,
so every check of order, pacing, skipping and freshness reads the truth from
the pixels the source delivered.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import cv2
import numpy as np
import pytest

from livestyle.errors import SourceError
from livestyle.sources import open_source
from livestyle.sources.camera import CameraSource
from livestyle.sources.demo import DemoSource
from livestyle.sources.file import FileSource
from livestyle.sources.url import UrlSource
from tests.support.mjpeg_server import MjpegServer, SilentServer, closed_port
from tests.support.videos import decode_index, make_test_frame, write_test_video


def _reader_thread(source, log: list, done: threading.Event) -> threading.Thread:
    """Read ``source`` until None, appending (time, decoded index) to ``log``; set ``done`` at the end."""

    def run() -> None:
        try:
            while (image := source.read()) is not None:
                log.append((time.perf_counter(), decode_index(image)))
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(predicate, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# -- the support modules ---------------------------------------------------------------------------

def test_index_barcode_survives_resize_and_jpeg_and_rejects_other_images():
    for index in (0, 1, 1234, 65535):
        frame = make_test_frame(index, (320, 240))
        assert decode_index(frame) == index
        small = cv2.resize(frame, (160, 120), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
        assert ok and decode_index(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)) == index
    assert decode_index(np.full((240, 320, 3), 128, np.uint8)) is None
    assert decode_index(np.zeros((240, 320, 3), np.uint8)) is None  # the white sync cell is missing


# -- files -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["clip.mp4", "clip.avi"])
def test_file_source_reads_every_frame_in_order(tmp_path, name):
    path = write_test_video(tmp_path / name, size=(320, 240), fps=25, frames=40)
    source = open_source(str(path))
    assert isinstance(source, FileSource) and not source.live
    with source:
        assert source.size == (320, 240) and source.fps == pytest.approx(25)
        assert name in source.description
        images = []
        while (image := source.read()) is not None:
            images.append(image)
        assert source.read() is None  # stays ended
    assert [decode_index(im) for im in images] == list(range(40))
    assert all(im.dtype == np.uint8 and im.shape == (240, 320, 3) and im.flags.c_contiguous for im in images)
    assert source.skipped == 0 and source.last_index == 39
    source.close()  # idempotent
    assert source.read() is None


def test_realtime_file_is_paced_at_native_fps(tmp_path):
    fps, frames = 30, 30
    path = write_test_video(tmp_path / "clip.avi", size=(320, 240), fps=fps, frames=frames)
    with FileSource(path, realtime=True) as source:
        assert source.live
        start = time.perf_counter()
        got = []
        while (image := source.read()) is not None:
            got.append((time.perf_counter() - start, decode_index(image)))
        took = time.perf_counter() - start
    # N frames take about N/fps (the last frame is due at (N-1)/fps).
    assert (frames - 1) / fps - 0.02 <= took <= frames / fps + 0.5, took
    indices = [i for _, i in got]
    assert indices == sorted(indices) and indices[-1] == frames - 1
    assert source.skipped == frames - len(got) <= 2  # a fast consumer loses (almost) nothing
    # No frame comes before its time.
    for t, index in got:
        assert t >= index / fps - 0.002, (t, index)


def test_realtime_file_skips_stale_frames_for_a_slow_consumer(tmp_path):
    fps, frames = 30, 60
    path = write_test_video(tmp_path / "clip.mp4", size=(320, 240), fps=fps, frames=frames)
    source = FileSource(path, realtime=True)
    source.open()
    got = []
    start = time.perf_counter()
    while (image := source.read()) is not None:
        got.append((time.perf_counter() - start, decode_index(image)))
        time.sleep(3 / fps)  # a pipeline three times slower than the camera
    source.close()
    indices = [i for _, i in got]
    steps = [b - a for a, b in zip(indices, indices[1:])]
    assert all(step >= 1 for step in steps)
    assert 2.5 <= statistics.median(steps) <= 4, steps  # about every third frame
    assert source.skipped + len(indices) == frames and source.skipped >= frames // 2  # all accounted for
    # Drops, not delay: every delivered frame is (nearly) the newest due one.
    for t, index in got:
        assert t - index / fps < 4 / fps, (t, index)  # a growing delay would reach ~40 frames


def test_close_wakes_a_paced_read_from_another_thread(tmp_path):
    path = write_test_video(tmp_path / "slow.avi", size=(320, 240), fps=1, frames=5)
    source = FileSource(path, realtime=True)
    source.open()
    assert decode_index(source.read()) == 0  # frame 1 is due one second later
    log, done = [], threading.Event()
    _reader_thread(source, log, done)
    time.sleep(0.2)
    t_close = time.perf_counter()
    source.close()
    assert done.wait(1.0)
    assert time.perf_counter() - t_close < 0.5 and log == []
    source.close()


def test_file_errors_name_the_path_and_say_how_to_fix(tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is a text file, not a video\n" * 50)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    cases = {
        tmp_path / "missing.mp4": "does not exist",
        tmp_path: "is a directory",
        junk: "could not be opened",
        empty: "is empty",
    }
    for path, words in cases.items():
        with pytest.raises(SourceError) as info:
            FileSource(path).open()
        assert str(path) in info.value.message and words in info.value.message
        assert info.value.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_reported(tmp_path):
    path = write_test_video(tmp_path / "locked.avi", frames=2)
    path.chmod(0)
    with pytest.raises(SourceError, match="permission denied"):
        FileSource(path).open()


# -- cameras ---------------------------------------------------------------------------------------

def test_unknown_camera_fails_fast_with_the_devices_that_exist():
    source = open_source("camera:97")
    assert isinstance(source, CameraSource) and source.live
    start = time.perf_counter()
    with pytest.raises(SourceError) as info:
        source.open()
    assert time.perf_counter() - start < 3.0
    assert info.value.message.startswith("Camera 97 could not be opened")
    if os.path.isdir("/dev"):
        assert "/dev/video97" in info.value.message
    assert "ls /dev/video*" in info.value.fix
    source.close()
    source.close()


# -- URLs ------------------------------------------------------------------------------------------

def test_url_that_never_answers_fails_within_bounded_time():
    with SilentServer() as server:
        source = open_source(server.url)
        assert isinstance(source, UrlSource)
        start = time.perf_counter()
        with pytest.raises(SourceError) as info:
            source.open()
        took = time.perf_counter() - start
    assert took < 15.0, took
    assert f"127.0.0.1:{server.port}" in info.value.message and "accepts connections" in info.value.message
    assert info.value.fix


def test_url_with_nothing_listening_fails_at_once():
    port = closed_port()
    start = time.perf_counter()
    with pytest.raises(SourceError, match="connection refused"):
        UrlSource(f"http://127.0.0.1:{port}/stream.mjpg").open()
    assert time.perf_counter() - start < 3.0


def test_url_credentials_never_reach_messages():
    port = closed_port()
    with pytest.raises(SourceError) as info:
        UrlSource(f"http://admin:hunter2@127.0.0.1:{port}/video").open()
    assert "hunter2" not in str(info.value) and "***@127.0.0.1" in str(info.value)


def test_mjpeg_url_is_live_and_reconnects_after_the_server_restarts():
    with MjpegServer(size=(320, 240), fps=30) as server:
        source = UrlSource(server.url, read_timeout_s=2.0)
        source.open()
        try:
            assert source.live and source.size == (320, 240)
            assert 20 <= source.fps <= 40, source.fps  # measured from arrivals, not FFmpeg's default 25
            log, done = [], threading.Event()
            reader = _reader_thread(source, log, done)
            assert _wait_for(lambda: len(log) >= 15, 5.0)
            first = [i for _, i in log]
            assert None not in first and first == sorted(first) and len(set(first)) == len(first)
            assert server.clock_index() - first[-1] <= 10  # live: what arrives is what the server sends now

            server.stop()
            t_stop = time.perf_counter()
            time.sleep(1.0)
            during_outage = [i for t, i in log if t > t_stop + 0.3]
            assert during_outage == []  # read() blocks while the stream is down
            assert source.reconnects == 0 and not done.is_set()

            server.start()  # same port
            restart_index = server.clock_index()
            assert _wait_for(lambda: any(i is not None and i >= restart_index for _, i in log), 6.0)
            assert source.reconnects >= 1 and server.connections >= 2
            fresh_count = len(log)
            assert _wait_for(lambda: len(log) >= fresh_count + 10, 3.0)  # and keeps streaming
        finally:
            source.close()
        assert done.wait(2.0)
        reader.join(1.0)
        assert source.read() is None


def test_close_returns_a_blocked_read_promptly_even_during_a_hanging_reconnect():
    server = MjpegServer(size=(320, 240), fps=30).start()
    source = UrlSource(server.url, open_timeout_s=5.0, read_timeout_s=2.0)
    source.open()
    port = server.port
    log, done = [], threading.Event()
    _reader_thread(source, log, done)
    assert _wait_for(lambda: len(log) >= 3, 3.0)
    server.stop()
    # The port now accepts connections and never answers: a reopen attempt hangs in FFmpeg.
    with SilentServer(port=port):
        time.sleep(1.2)  # past the first backoff steps: an open attempt is in flight
        assert not done.is_set()
        t_close = time.perf_counter()
        source.close()
        assert done.wait(2.0)
        assert time.perf_counter() - t_close < 0.5
    source.close()


# -- demo ------------------------------------------------------------------------------------------

def test_demo_is_deterministic_sized_and_moving():
    a = DemoSource(size=(640, 360), fps=30)
    b = open_source("demo", size=(640, 360), fps=30)
    assert isinstance(b, DemoSource) and not a.live
    with a, b:
        frames_a = [a.read() for _ in range(31)]
        frames_b = [b.read() for _ in range(31)]
        assert np.array_equal(a.frame(7), frames_a[7])
    for fa, fb in zip(frames_a, frames_b):
        assert fa.shape == (360, 640, 3) and fa.dtype == np.uint8 and fa.flags.c_contiguous
        assert np.array_equal(fa, fb)
    for prev, cur in zip(frames_a, frames_a[1:]):
        assert not np.array_equal(prev, cur)
    # Over one second the figure and the camera really move, not just the noise.
    one_second = np.abs(frames_a[30].astype(np.int16) - frames_a[0].astype(np.int16)).mean()
    noise_only = np.abs(frames_a[1].astype(np.int16) - frames_a[0].astype(np.int16)).mean()
    assert one_second > 8.0 and one_second > 2 * noise_only, (one_second, noise_only)
    # The scene has fine texture (upsampling quality shows): a strong Laplacian response.
    sharpness = cv2.Laplacian(cv2.cvtColor(frames_a[0], cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()
    assert sharpness > 50.0, sharpness
    assert a.read() is None  # closed by the with-block


def test_realtime_demo_paces_and_skips_for_a_slow_consumer():
    fps = 50.0
    with DemoSource(size=(320, 240), fps=fps, realtime=True) as source:
        assert source.live
        start = time.perf_counter()
        for _ in range(25):
            assert source.read() is not None
        took = time.perf_counter() - start
        assert 24 / fps - 0.02 <= took <= 25 / fps + 0.4, took
        before = source.skipped
        first = source.last_index
        for _ in range(10):
            source.read()
            time.sleep(4 / fps)
        assert source.skipped - before >= 20
        assert source.last_index - first >= 30
