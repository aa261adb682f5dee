"""Test support for the virtual camera: the emulated v4l2loopback device.

:func:`build_fake_v4l2` compiles ``fake_v4l2loopback.c`` (an LD_PRELOAD
library, see its header) with the system C compiler.  A process started with
``LD_PRELOAD=<lib>`` and ``FAKE_V4L2_DEVICE=/dev/videoN`` sees a v4l2loopback
output device at that path; the real pyvirtualcam writes its I420 frames to
``FAKE_V4L2_OUTPUT`` and the negotiated format to ``FAKE_V4L2_OUTPUT + ".fmt"``.
LD_PRELOAD only takes effect at process start, hence :func:`run_with_fake_device`.

Also: reading frames back (:func:`read_i420_frames`, :func:`i420_to_bgr`) and
finding real v4l2loopback devices (:func:`real_v4l2loopback_devices`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

SOURCE = Path(__file__).with_name("fake_v4l2loopback.c")
LIBRARY_NAME = "libfakev4l2.so"

# struct v4l2_capability: driver[16] card[32] bus_info[32] version capabilities device_caps reserved[3]
_V4L2_CAPABILITY_SIZE = 104
_VIDIOC_QUERYCAP = 0x80685600  # _IOR('V', 0, struct v4l2_capability)
_V4L2_CAP_VIDEO_OUTPUT = 0x00000002


def c_compiler() -> str | None:
    """Path of the system C compiler (cc, gcc or clang), or None."""
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_fake_v4l2(build_dir: Path) -> Path:
    """Compile the preload library into ``build_dir`` (reused while newer than its source); skip without a compiler."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the emulated v4l2loopback device is Linux-only (LD_PRELOAD, linux/videodev2.h)")
    compiler = c_compiler()
    if compiler is None:
        pytest.skip("no C compiler (cc/gcc/clang) to build the emulated v4l2loopback device")
    build_dir.mkdir(parents=True, exist_ok=True)
    library = build_dir / LIBRARY_NAME
    if library.exists() and library.stat().st_mtime >= SOURCE.stat().st_mtime:
        return library
    tmp = build_dir / (LIBRARY_NAME + ".tmp")
    cmd = [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(SOURCE), "-ldl", "-lpthread"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        if "videodev2.h" in done.stderr:
            pytest.skip("linux/videodev2.h is missing (install linux-libc-dev) to build the fake v4l2 device")
        raise RuntimeError(f"building {SOURCE.name} failed:\n{done.stderr}")
    os.replace(tmp, library)
    return library


def fake_device_env(library: Path, device: str | None, output: Path | None, **extra: str) -> dict[str, str]:
    """A copy of os.environ that preloads ``library`` and emulates ``device`` writing to ``output``.

    ``device`` None emulates a machine without any virtual camera.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_V4L2_")}
    env["LD_PRELOAD"] = str(library)
    if device is not None:
        env["FAKE_V4L2_DEVICE"] = device
    if output is not None:
        env["FAKE_V4L2_OUTPUT"] = str(output)
    env.update(extra)
    return env


def run_with_fake_device(code: str, library: Path, device: str | None, output: Path | None,
                         *args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
    """Run ``python -c code *args`` with the emulated device; returns the finished process (text output)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=fake_device_env(library, device, output, **extra),
        capture_output=True, text=True, timeout=timeout,
    )


def read_format_record(output: Path) -> dict:
    """The JSON the fake device wrote next to ``output``: width, height, pixelformat, sizeimage, frames, closed."""
    return json.loads(Path(str(output) + ".fmt").read_text())


def i420_frame_bytes(width: int, height: int) -> int:
    """Bytes of one I420 frame: full-resolution Y plane, then U and V at half resolution."""
    return width * height + 2 * (((width + 1) // 2) * ((height + 1) // 2))


def read_i420_frames(path: Path, width: int, height: int) -> list[np.ndarray]:
    """Split a raw file of back-to-back I420 frames into arrays.

    Each is uint8, shape (height * 3 // 2, width) (the layout
    ``cv2.COLOR_YUV2BGR_I420`` takes); width and height must be even.  A
    trailing partial frame raises ValueError.
    """
    if width % 2 or height % 2:
        raise ValueError(f"I420 read-back needs an even size, got {width}x{height}")
    data = np.fromfile(path, dtype=np.uint8)
    per_frame = i420_frame_bytes(width, height)
    if data.size % per_frame:
        raise ValueError(f"{path} holds {data.size} bytes, not a whole number of {width}x{height} I420 frames")
    return list(data.reshape(-1, height * 3 // 2, width))


def i420_to_bgr(frame: np.ndarray) -> np.ndarray:
    """uint8 I420, shape (H * 3 // 2, W) -> uint8 BGR, shape (H, W, 3) (BT.601, limited range, like libyuv)."""
    return cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)


def bgr_to_i420(image: np.ndarray) -> np.ndarray:
    """uint8 BGR, shape (H, W, 3) -> uint8 I420, shape (H * 3 // 2, W)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)


def query_v4l2_driver(device: str) -> tuple[str, int] | None:
    """(driver name, capabilities) from VIDIOC_QUERYCAP on ``device``, or None if it cannot be asked."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buf = bytearray(_V4L2_CAPABILITY_SIZE)
        fcntl.ioctl(fd, _VIDIOC_QUERYCAP, buf, True)
    except OSError:
        return None
    finally:
        os.close(fd)
    driver = bytes(buf[:16]).split(b"\0", 1)[0].decode("ascii", "replace")
    capabilities = int.from_bytes(buf[84:88], "little")
    return driver, capabilities


def real_v4l2loopback_devices() -> list[str]:
    """Paths of real v4l2loopback output devices on this machine (driver "v4l2 loopback")."""
    found = []
    for path in sorted(Path("/dev").glob("video*")):
        answer = query_v4l2_driver(str(path))
        if answer and answer[0] == "v4l2 loopback" and answer[1] & _V4L2_CAP_VIDEO_OUTPUT:
            found.append(str(path))
    return found


def camera_test_pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame that differs per ``index``: uint8 BGR, shape (height, width, 3), values 0..255.

    Random colour blocks of 8x8 pixels (aligned to the 2x2 chroma cells of
    I420, so colour survives subsampling) plus per-pixel grey noise in 0..15
    (luma detail that exposes any shift, flip or BGR/RGB swap).
    """
    rng = np.random.default_rng(1000 + index)
    blocks = rng.integers(16, 240, size=((height + 7) // 8, (width + 7) // 8, 3), dtype=np.uint8)
    image = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:height, :width].astype(np.int16)
    image += rng.integers(0, 16, size=(height, width, 1), dtype=np.int16)
    return np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
