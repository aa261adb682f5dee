"""Frame sinks: the virtual camera through the real pyvirtualcam, video files, preview, null.

The virtual camera tests run the real pyvirtualcam (its compiled v4l2loopback
backend) in a subprocess against an emulated v4l2loopback device
(tests/support/fake_v4l2loopback.c, preloaded), then read back the raw I420
frames the "driver" received.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle.errors import LivestyleError, SinkError
from livestyle.frame import Frame
from livestyle.sinks.base import Command
from livestyle.sinks.registry import open_sink
from livestyle.sinks.file import CODECS_BY_SUFFIX, FileSink
from livestyle.sinks.null import NullSink
from livestyle.sinks.preview import (
    NO_DISPLAY_FIX,
    STATUS_STRIP_GREY,
    STATUS_STRIP_HEIGHT,
    PreviewSink,
    compose_preview,
    display_problem,
    key_to_command,
)
from livestyle.sinks.virtualcam import LINUX_PERMISSION_FIX, OBS_FIX, VirtualCamSink, virtual_camera_fix
from tests.support.fakecam import (
    bgr_to_i420,
    build_fake_v4l2,
    camera_test_pattern,
    i420_to_bgr,
    read_format_record,
    read_i420_frames,
    real_v4l2loopback_devices,
    run_with_fake_device,
)

ROOT = Path(__file__).resolve().parents[1]
FAKE_DEVICE = "/dev/video42"

# Runs in a fresh interpreter with the preload library: open a VirtualCamSink,
# send N camera_test_pattern frames, close twice, report as one JSON line.
SEND_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[5])
from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.virtualcam import VirtualCamSink
from tests.support.fakecam import camera_test_pattern
width, height, count = map(int, sys.argv[1:4])
sink = VirtualCamSink(device=sys.argv[4] or None)
try:
    sink.open((width, height), 30.0)
except SinkError as error:
    print(json.dumps({"error": str(error), "fix": error.fix}))
    sys.exit(3)
for index in range(count):
    sink.send(Frame(camera_test_pattern(index, width, height), index))
report = {"description": sink.description, "frames_sent": sink.frames_sent}
sink.close()
sink.close()
print(json.dumps(report))
"""


@pytest.fixture(scope="session")
def fake_v4l2(tmp_path_factory) -> Path:
    """The compiled LD_PRELOAD library emulating a v4l2loopback device."""
    return build_fake_v4l2(tmp_path_factory.mktemp("fake_v4l2"))


def send_through_fake(library: Path, output: Path | None, width: int, height: int, count: int,
                      device_arg: str, *, fake_device: str | None = FAKE_DEVICE, **extra: str) -> tuple[int, dict]:
    """Run SEND_SCRIPT with the emulated device; returns (exit code, its JSON report)."""
    done = run_with_fake_device(SEND_SCRIPT, library, fake_device, output,
                                str(width), str(height), str(count), device_arg, str(ROOT), **extra)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the subprocess (rc {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.returncode, json.loads(lines[-1])


# --------------------------------------------------------------------------- virtual camera


@pytest.mark.parametrize(
    ("width", "height", "count", "device_arg"),
    [(320, 240, 7, FAKE_DEVICE), (1280, 720, 4, "")],
    ids=["320x240-named-device", "1280x720-scanned"],
)
def test_virtual_camera_delivers_every_frame_through_real_pyvirtualcam(fake_v4l2, tmp_path, width, height, count, device_arg):
    output = tmp_path / "frames.i420"
    rc, report = send_through_fake(fake_v4l2, output, width, height, count, device_arg)
    assert rc == 0, report
    assert report["frames_sent"] == count
    assert report["description"] == f"virtual camera {FAKE_DEVICE} (v4l2loopback)"

    record = read_format_record(output)
    assert record["pixelformat"] == "YU12"  # V4L2_PIX_FMT_YUV420 = I420
    assert (record["width"], record["height"]) == (width, height)
    assert record["sizeimage"] == width * height * 3 // 2
    assert record["frames"] == count and record["bad_writes"] == 0 and record["closed"] is True

    received = read_i420_frames(output, width, height)
    assert len(received) == count
    for index, i420 in enumerate(received):
        sent = camera_test_pattern(index, width, height)
        expected_i420 = bgr_to_i420(sent)
        # Luma is computed per pixel by libyuv (pyvirtualcam) and OpenCV alike: off by rounding only.
        luma_diff = np.abs(i420[:height].astype(np.int16) - expected_i420[:height]).max()
        assert luma_diff <= 1, f"frame {index}: luma differs by {luma_diff}"
        # Colour: compare with what an exact I420 round trip of the sent frame gives.
        back = i420_to_bgr(i420)
        assert back.shape == (height, width, 3)
        psnr = cv2.PSNR(back, i420_to_bgr(expected_i420))
        assert psnr > 40, f"frame {index}: PSNR {psnr:.1f} dB against the I420 round trip of what was sent"
        if index:
            other = i420_to_bgr(bgr_to_i420(camera_test_pattern(index - 1, width, height)))
            assert cv2.PSNR(back, other) < 20, "frames arrived out of order or repeated"


def test_virtual_camera_without_any_device_says_how_to_load_v4l2loopback(fake_v4l2, tmp_path):
    if real_v4l2loopback_devices():
        pytest.skip("this machine has a real v4l2loopback device, so 'no device' cannot be shown")
    rc, report = send_through_fake(fake_v4l2, None, 320, 240, 1, "", fake_device=None)
    assert rc == 3, report
    message = report["error"]
    assert "\n" not in message
    assert "No v4l2 loopback device found" in message  # pyvirtualcam's own reason
    assert "sudo modprobe v4l2loopback exclusive_caps=1 card_label=livestyle" in report["fix"]
    assert "v4l2loopback-dkms" in report["fix"]


def test_virtual_camera_named_device_that_is_missing_or_not_loopback(fake_v4l2, tmp_path):
    rc, report = send_through_fake(fake_v4l2, None, 320, 240, 1, "/dev/video77")
    assert rc == 3, report
    assert "/dev/video77" in report["error"] and "does not exist" in report["error"]
    assert "modprobe v4l2loopback" in report["fix"]

    # A V4L2 device whose driver is not v4l2loopback (a webcam, say) is refused.
    rc, report = send_through_fake(fake_v4l2, tmp_path / "unused.i420", 320, 240, 1, FAKE_DEVICE,
                                   FAKE_V4L2_DRIVER="uvcvideo")
    assert rc == 3, report
    assert f"{FAKE_DEVICE} is not a V4L2 device" in report["error"]
    assert not (tmp_path / "unused.i420").exists() or (tmp_path / "unused.i420").stat().st_size == 0


def test_virtual_camera_fix_depends_on_platform():
    assert "modprobe v4l2loopback" in virtual_camera_fix("No v4l2 loopback device found", "linux")
    assert virtual_camera_fix("Could not access /dev/video0 due to missing permissions.", "linux") == LINUX_PERMISSION_FIX
    for platform in ("win32", "darwin"):
        assert virtual_camera_fix("OBS Virtual Camera is not installed", platform) == OBS_FIX
    assert "OBS" in OBS_FIX


def test_virtual_camera_refuses_send_before_open_and_wrong_frames():
    sink = VirtualCamSink(device="/dev/video99")
    with pytest.raises(SinkError, match="not open"):
        sink.send(Frame(np.zeros((4, 4, 3), np.uint8), 0))
    with pytest.raises(SinkError, match="positive size"):
        sink.open((0, 240), 30.0)
    sink.close()
    sink.close()


def test_real_v4l2loopback_device_roundtrip():
    devices = real_v4l2loopback_devices()
    if not devices:
        pytest.skip("no real v4l2loopback device here (needs `modprobe v4l2loopback`); "
                    "the emulated device tests cover pyvirtualcam")
    device, (width, height) = devices[0], (320, 240)
    pattern = camera_test_pattern(3, width, height)
    sink = VirtualCamSink(device=device)
    sink.open((width, height), 30.0)
    stop = threading.Event()

    def produce() -> None:
        index = 0
        while not stop.is_set():
            sink.send(Frame(pattern, index))
            index += 1
            time.sleep(1 / 30)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        time.sleep(0.3)
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        assert capture.isOpened(), f"cannot read back from {device}"
        frame = None
        for _ in range(30):
            ok, frame = capture.read()
            if ok:
                break
        capture.release()
        assert frame is not None and frame.shape == (height, width, 3)
        assert cv2.PSNR(frame, pattern) > 30
    finally:
        stop.set()
        producer.join(timeout=2)
        sink.close()


# --------------------------------------------------------------------------- video files


def smooth_frame(index: int, width: int, height: int) -> np.ndarray:
    """uint8 BGR (height, width, 3): gradients plus a moving disc, content a lossy codec keeps well."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.dstack([
        (xs * 255 // max(1, width - 1)),
        (ys * 255 // max(1, height - 1)),
        ((xs + ys + 6 * index) % 256),
    ]).astype(np.uint8)
    cv2.circle(image, (20 + 9 * index, height // 2), 30, (40, 200, 90), -1)
    return image


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"OpenCV cannot read back {path}"
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_file_sink_writes_a_readable_video(tmp_path, suffix):
    width, height, count = 320, 240, 12
    target = tmp_path / f"out{suffix}"
    sink = open_sink(str(target))
    assert isinstance(sink, FileSink)
    sink.open((width, height), 25.0)
    assert sink.codec in CODECS_BY_SUFFIX[suffix]
    for index in range(count):
        sink.send(Frame(smooth_frame(index, width, height), index))
    # Until close, only the temporary file exists: a crash never leaves a half file under the final name.
    temp = sink.temp_path
    assert temp is not None and temp.exists() and temp.parent == target.parent and not target.exists()
    assert sink.written_size == (width, height)
    sink.close()
    sink.close()
    assert target.exists() and not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]

    frames = read_video(target)
    assert len(frames) == count
    for index, image in enumerate(frames):
        assert image.shape == (height, width, 3)
        psnr = cv2.PSNR(image, smooth_frame(index, width, height))
        assert psnr > 30, f"{suffix} frame {index}: PSNR {psnr:.1f} dB"


def test_file_sink_falls_back_through_the_codec_list(tmp_path):
    target = tmp_path / "fallback.mp4"
    sink = FileSink(target, codecs=("ZZZZ", "mp4v"))  # ZZZZ is no codec at all
    sink.open((64, 48), 30.0)
    assert sink.codec == "mp4v"
    for index in range(3):
        sink.send(Frame(smooth_frame(index, 64, 48), index))
    sink.close()
    assert len(read_video(target)) == 3

    with pytest.raises(SinkError, match="any of the codecs ZZZZ") as caught:
        FileSink(tmp_path / "never.avi", codecs=("ZZZZ",)).open((64, 48), 30.0)
    assert caught.value.fix
    assert not list(tmp_path.glob("never*"))


def test_file_sink_refuses_paths_it_cannot_write(tmp_path):
    frame_size = (64, 48)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cases = {
        tmp_path / "missing" / "out.mp4": "does not exist",
        blocker / "out.mp4": "not a directory",
        tmp_path: "not a video container",  # no suffix
    }
    (tmp_path / "dir.mp4").mkdir()
    cases[tmp_path / "dir.mp4"] = "is a directory"
    for path, expected in cases.items():
        with pytest.raises(SinkError, match=expected) as caught:
            FileSink(path).open(frame_size, 30.0)
        assert caught.value.fix and "\n" not in str(caught.value)
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SinkError, match="not writable"):
            FileSink(locked / "out.avi").open(frame_size, 30.0)
    # Even root cannot create files in /proc: the writer itself fails to open.
    with pytest.raises(SinkError) as caught:
        FileSink("/proc/livestyle-test.avi").open(frame_size, 30.0)
    assert isinstance(caught.value, LivestyleError) and caught.value.fix


def test_file_sink_checks_frames_and_drops_empty_recordings(tmp_path):
    target = tmp_path / "empty.avi"
    sink = FileSink(target)
    with pytest.raises(SinkError, match="not open"):
        sink.send(Frame(np.zeros((48, 64, 3), np.uint8), 0))
    sink.open((64, 48), 30.0)
    with pytest.raises(SinkError, match=r"\(48, 64, 3\)"):
        sink.send(Frame(np.zeros((48, 65, 3), np.uint8), 0))
    sink.close()
    assert not target.exists() and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- preview


def test_compose_preview_puts_original_left_stylized_right_and_status_below():
    rng = np.random.default_rng(7)
    original = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    canvas = compose_preview(original, stylized, "")
    assert canvas.dtype == np.uint8 and canvas.shape == (240 + STATUS_STRIP_HEIGHT, 640, 3)
    assert np.array_equal(canvas[:240, :320], original)
    assert np.array_equal(canvas[:240, 320:], stylized)
    assert (canvas[240:] == STATUS_STRIP_GREY).all()

    with_text = compose_preview(original, stylized, "24.8 fps | 41 ms | style 2 | strength 0.70")
    strip = with_text[240:]
    assert np.array_equal(with_text[:240], canvas[:240])  # text never covers the pictures
    assert (strip > 150).any(axis=2).sum() > 100  # the text is drawn in light grey
    assert (strip[:, 600:] == STATUS_STRIP_GREY).all()  # left-aligned


def test_compose_preview_scales_to_fit_and_handles_missing_or_other_size_original():
    original = np.full((720, 1280, 3), 50, np.uint8)
    stylized = np.full((720, 1280, 3), 200, np.uint8)
    canvas = compose_preview(original, stylized, "x", max_width=1600)
    assert canvas.shape == (450 + STATUS_STRIP_HEIGHT, 1600, 3)
    assert (canvas[:450, :795] == 50).all() and (canvas[:450, 805:] == 200).all()

    alone = compose_preview(None, stylized, "", max_width=1600)
    assert alone.shape == (720 + STATUS_STRIP_HEIGHT, 1280, 3)

    small_original = np.full((360, 640, 3), 90, np.uint8)
    mixed = compose_preview(small_original, stylized, "", max_width=4000)
    assert mixed.shape == (720 + STATUS_STRIP_HEIGHT, 2560, 3)
    assert (mixed[:720, :1280] == 90).all()

    with pytest.raises(ValueError):
        compose_preview(None, stylized.astype(np.float32), "")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (ord("1"), Command("style-number", 1)),
        (ord("9"), Command("style-number", 9)),
        (ord("+"), Command("strength-up")),
        (ord("="), Command("strength-up")),
        (ord("-"), Command("strength-down")),
        (ord(" "), Command("bypass-toggle")),
        (ord("q"), Command("quit")),
        (27, Command("quit")),
        (ord("q") | (1 << 16), Command("quit")),  # GTK reports Shift/Ctrl state above bit 16
        (-1, None),  # no key pressed
        (ord("0"), None),
        (ord("a"), None),
        (0xFF51, None),  # GTK Left arrow: its low byte is 'Q', must not quit
        (0x01000031, None),  # Qt F2: its low byte is '1', must not switch style
    ],
)
def test_key_to_command(key, expected):
    assert key_to_command(key) == expected


def test_preview_without_a_display_raises_with_a_fix(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SinkError, match="needs a display") as caught:
        PreviewSink().open((320, 240), 30.0)
    assert caught.value.fix == NO_DISPLAY_FIX and "--output vcam" in str(caught.value)

    monkeypatch.setenv("DISPLAY", ":987")  # no X server socket behind it
    with pytest.raises(SinkError, match="X11-unix/X987"):
        PreviewSink().open((320, 240), 30.0)

    assert display_problem({}, "win32") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None


# Runs under a private Xvfb: a real OpenCV (Qt) window, real X key events typed
# by xdotool, then the window manager's close request (WM_DELETE_WINDOW).
PREVIEW_SCRIPT = r"""
import ctypes, ctypes.util, json, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from livestyle.frame import Frame
from livestyle.sinks.preview import PreviewSink

def pump(sink, seconds=0.4):
    got = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got += [[c.name, c.value] for c in sink.poll()]
        time.sleep(0.01)
    return got

def ask_to_close(window):
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]
    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]
    display = x11.XOpenDisplay(None)
    event = Event()
    event.xclient.type, event.xclient.window, event.xclient.format = 33, window, 32  # ClientMessage
    event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
    event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(display, window, 0, 0, ctypes.byref(event))
    x11.XFlush(display)

sink = PreviewSink(window_name="livestyle-preview-test")
sink.open((320, 240), 30.0)
image = np.full((240, 320, 3), 120, np.uint8)
sink.send(Frame(image, 0), original=image, status="30.0 fps")
pump(sink)
found = subprocess.run(["xdotool", "search", "--name", "livestyle-preview-test"], capture_output=True, text=True)
window = int(found.stdout.split()[-1])
report = {}
for key in ["3", "plus", "minus", "space", "Left", "F2", "q"]:
    subprocess.run(["xdotool", "key", "--window", str(window), key], check=True)
    report[key] = pump(sink)
ask_to_close(window)
report["closed"] = pump(sink)
sink.close()
sink.close()
print(json.dumps(report))
"""


def test_preview_window_maps_real_key_presses_and_closing(tmp_path):
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("needs Xvfb and xdotool (apt-get install xvfb xdotool) for a private X display")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as announce:
            display_number = announce.readline().strip()
        assert display_number.isdigit(), "Xvfb did not start"
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "LD_PRELOAD")}
        env["DISPLAY"] = f":{display_number}"
        done = subprocess.run([sys.executable, "-c", PREVIEW_SCRIPT, str(ROOT)], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["3"] == [["style-number", 3]]
    assert report["plus"] == [["strength-up", None]]
    assert report["minus"] == [["strength-down", None]]
    assert report["space"] == [["bypass-toggle", None]]
    assert report["Left"] == [] and report["F2"] == []
    assert report["q"] == [["quit", None]]
    assert report["closed"] == [["quit", None]]


# --------------------------------------------------------------------------- null and the parser


def test_null_sink_counts_and_checks_frames():
    sink = open_sink("null")
    assert isinstance(sink, NullSink)
    sink.open((64, 48), 30.0)
    for index in (0, 1, 5):
        sink.send(Frame(np.zeros((48, 64, 3), np.uint8), index))
    assert sink.frames_sent == 3 and sink.last_index == 5
    with pytest.raises(SinkError):
        sink.send(Frame(np.zeros((48, 64), np.uint8), 6))
    assert sink.poll() == []
    sink.close()
    sink.close()


def test_open_sink_builds_each_kind_without_opening(tmp_path):
    assert isinstance(open_sink("vcam", device="/dev/video9"), VirtualCamSink)
    assert open_sink("vcam", device="/dev/video9").device == "/dev/video9"
    assert isinstance(open_sink("preview"), PreviewSink)
    assert isinstance(open_sink(str(tmp_path / "x.MKV")), FileSink)
    assert not list(tmp_path.iterdir())
