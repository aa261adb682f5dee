"""The virtual camera sink: stylized frames appear as a webcam in other apps.

Backed by pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera on Windows
and macOS.  The pipeline paces frames itself, so this sink never sleeps.

Every frame is checked.  pyvirtualcam's Linux backend does not raise when
the device refuses a frame: it prints ``error writing frame: <reason>``
(without a newline) and carries on, so a run could report "5 out" while the
camera showed nothing.  The sink therefore clears the C library's ``errno``
before each send and reads it afterwards (both in the calling thread, where
the backend's ``write()`` runs); a non-zero value, or an exception from the
Windows/macOS backends, is a failed frame.  A failed frame is counted in
:attr:`VirtualCamSink.errors`, the device is reopened, the frame sent again,
and a success after that counts in :attr:`VirtualCamSink.recoveries`; after
``max_failures`` failed frames in a row the sink raises :class:`SinkError`.

Odd sizes: the device takes I420 (4:2:0), whose chroma planes need an even
width and height (v4l2loopback and pyvirtualcam disagree on the buffer size
of an odd one, and every frame then fails with EINVAL).  The sink opens the
camera at the size rounded down to even numbers, warns once, and crops each
frame's last column/row; :attr:`VirtualCamSink.written_size` says what the
camera shows.
"""

from __future__ import annotations

import logging
import ctypes
import os
import re
import sys

import numpy as np

from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.base import Sink

log = logging.getLogger(__name__)

LINUX_FIX = (
    "Load a v4l2loopback device: `sudo modprobe v4l2loopback exclusive_caps=1 card_label=livestyle` "
    "(package v4l2loopback-dkms), or pass --device /dev/videoN of an existing one."
)
LINUX_PERMISSION_FIX = (
    "Give your user access to the device: `sudo usermod -a -G video $USER`, then log out and in again."
)
OBS_FIX = (
    "Install OBS Studio (28 or newer) and start its Virtual Camera once "
    "(Controls > Start Virtual Camera), then try again."
)


def virtual_camera_fix(reason: str, platform: str = sys.platform) -> str:
    """The platform-specific advice for a virtual camera that would not open.

    ``reason`` is pyvirtualcam's own message; ``platform`` is a ``sys.platform`` value.
    """
    if platform.startswith("linux"):
        if "permission" in reason.lower():
            return LINUX_PERMISSION_FIX
        return LINUX_FIX
    return OBS_FIX


# Advice inside pyvirtualcam's messages that our own fix replaces.
_PYVIRTUALCAM_ADVICE = re.compile(r"\s*(Did you run [^?]*\?|See also pyvirtualcam's documentation\.)")


def _one_line(text: str, limit: int = 300) -> str:
    """pyvirtualcam lists one line per backend; join them, drop its advice and keep it short."""
    text = _PYVIRTUALCAM_ADVICE.sub("", text)
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _errno_cell():
    """A pointer to this thread's C ``errno`` (glibc/musl on Linux), or None where it cannot be had."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        location = ctypes.CDLL(None).__errno_location
    except (OSError, AttributeError):
        return None
    location.restype = ctypes.POINTER(ctypes.c_int)
    return location


class VirtualCamSink(Sink):
    """Send uint8 BGR frames, shape (H, W, 3), to a virtual camera via pyvirtualcam.

    ``device`` picks the camera (``/dev/videoN`` on Linux); None takes the
    first free one.  pyvirtualcam converts BGR to the device's native format
    (I420 for v4l2loopback) in its compiled backend.  :attr:`written_size`
    is the (width, height) the camera shows (the opened size rounded down to
    even numbers); :attr:`errors` counts frames the device refused,
    :attr:`recoveries` the times it worked again after a reopen.
    """

    def __init__(self, device: str | None = None, *, max_failures: int = 5):
        self.device = device
        self.max_failures = int(max_failures)
        self.frames_sent = 0
        self.errors = 0
        self.recoveries = 0
        self.written_size: tuple[int, int] | None = None
        self.last_error = ""
        self._camera = None
        self._size: tuple[int, int] | None = None
        self._fps = 30.0
        self._failing = 0  # failed frames in a row
        self._errno = _errno_cell()
        self.description = f"virtual camera {device}" if device else "virtual camera (first free device)"

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Open the virtual camera at ``size`` = (width, height) and ``fps``; SinkError with a fix if none."""
        if self._size is not None:
            raise SinkError(f"{self.description} is already open.", fix="Close it before opening it again.")
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0 or not fps > 0:
            raise SinkError(
                f"A virtual camera needs a positive size and frame rate, got {width}x{height} at {fps} fps.",
                fix="Pass --size WxH and --fps with positive values.",
            )
        written = (width // 2 * 2, height // 2 * 2)
        if min(written) < 2:
            raise SinkError(f"A virtual camera needs at least 2x2 pixels, got {width}x{height}.",
                            fix="Pass a larger --size.")
        camera = self._open_camera(written, fps, self.device)
        if written != (width, height):
            log.warning("the virtual camera takes even sizes only (I420); frames of %dx%d are sent as %dx%d "
                        "(the last column/row is cropped)", width, height, *written)
        self._camera = camera
        self._size, self.written_size, self._fps = (width, height), written, float(fps)
        self.frames_sent = self.errors = self.recoveries = self._failing = 0
        self.description = f"virtual camera {camera.device} ({camera.backend})"
        log.info("opened %s at %dx%d, %.1f fps (native format %s)",
                 self.description, written[0], written[1], fps, camera.native_fmt)

    def _open_camera(self, size: tuple[int, int], fps: float, device: str | None):
        width, height = size
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise SinkError(
                f"The virtual camera needs the pyvirtualcam package, which cannot be imported ({exc}).",
                fix="Install it: `pip install pyvirtualcam`.",
            ) from exc
        try:
            return pyvirtualcam.Camera(width, height, float(fps), fmt=pyvirtualcam.PixelFormat.BGR, device=device)
        except Exception as exc:  # pyvirtualcam raises RuntimeError listing why each backend failed
            reason = _one_line(str(exc) or type(exc).__name__)
            wanted = device or "any virtual camera"
            raise SinkError(
                f"No virtual camera could be opened ({wanted}, {width}x{height}); pyvirtualcam says: {reason}",
                fix=virtual_camera_fix(reason),
            ) from exc

    def _write(self, image: np.ndarray) -> str | None:
        """Send one frame; None on success, else why it failed (one line)."""
        camera = self._camera
        if camera is None:  # the last reopen failed: its reason still holds
            return self.last_error or "the device is closed"
        cell = self._errno() if self._errno is not None else None
        if cell is not None:
            cell[0] = 0
        try:
            camera.send(image)
        except Exception as exc:  # Windows/macOS backends raise
            return _one_line(str(exc) or type(exc).__name__)
        if cell is not None and cell[0] != 0:
            code = cell[0]
            # pyvirtualcam printed "error writing frame: ..." without a newline; end that line.
            try:
                os.write(2, b"\n")
            except OSError:
                pass
            return f"{os.strerror(code)} (errno {code})"
        return None

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Send ``frame.image`` (uint8 BGR, (H, W, 3), the opened size) now; ``original``/``status`` are unused.

        A frame the device refuses is counted, the device reopened and the
        frame sent again; SinkError after ``max_failures`` failed frames in a row.
        """
        if self._size is None or self.written_size is None:  # (a failed reopen leaves _camera None: retried below)
            raise SinkError(f"{self.description} is not open.", fix="Call open(size, fps) before send().")
        image = frame.image
        self.check_frame(image, self._size)
        w, h = self.written_size
        if (w, h) != self._size:
            image = image[:h, :w]
        image = np.ascontiguousarray(image)
        reason = self._write(image)
        if reason is not None:
            self.errors += 1
            self._failing += 1
            self.last_error = reason
            log.warning("%s refused frame %d (%s); reopening it", self.description, frame.index, reason)
            if self._failing >= self.max_failures:
                raise SinkError(
                    f"Writing to {self.description} failed for {self._failing} frames in a row "
                    f"(last: {reason}), also after reopening it.",
                    fix="Check that the virtual camera device still exists (ls /dev/video*) and is a "
                        "v4l2loopback device, then start again.")
            reason = self._reopen() or self._write(image)
            if reason is not None:
                self.last_error = reason
                return  # this frame is lost; the next one tries again
        if self._failing:
            self.recoveries += 1
            log.warning("%s works again after a reopen (%d recoveries)", self.description, self.recoveries)
        self._failing = 0
        self.frames_sent += 1

    def _reopen(self) -> str | None:
        """Close and reopen the same device; None on success, else why not."""
        camera, self._camera = self._camera, None
        device = self.device
        if camera is not None:
            device = device or camera.device
            try:
                camera.close()
            except Exception as exc:  # a vanished device may fail to close; the reopen decides
                log.debug("closing the failed camera: %r", exc)
        try:
            self._camera = self._open_camera(self.written_size, self._fps, device)
        except SinkError as exc:
            return exc.message
        return None

    def close(self) -> None:
        """Release the virtual camera; safe to call twice."""
        camera, self._camera = self._camera, None
        opened, self._size = self._size, None
        if camera is not None:
            try:
                camera.close()
            except Exception as exc:
                log.debug("closing the camera: %r", exc)
        if opened is not None:
            log.info("closed %s after %d frames (%d refused, %d recoveries)",
                     self.description, self.frames_sent, self.errors, self.recoveries)
