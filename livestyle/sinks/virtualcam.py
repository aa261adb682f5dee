"""The virtual camera sink: stylized frames appear as a webcam in other apps.

Backed by pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera on Windows
and macOS.  The pipeline paces frames itself, so this sink never sleeps.
"""

from __future__ import annotations

import logging
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


class VirtualCamSink(Sink):
    """Send uint8 BGR frames, shape (H, W, 3), to a virtual camera via pyvirtualcam.

    ``device`` picks the camera (``/dev/videoN`` on Linux); None takes the
    first free one.  pyvirtualcam converts BGR to the device's native format
    (I420 for v4l2loopback) in its compiled backend.
    """

    def __init__(self, device: str | None = None):
        self.device = device
        self.frames_sent = 0
        self._camera = None
        self._size: tuple[int, int] | None = None
        self.description = f"virtual camera {device}" if device else "virtual camera (first free device)"

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Open the virtual camera at ``size`` = (width, height) and ``fps``; SinkError with a fix if none."""
        if self._camera is not None:
            raise SinkError(f"{self.description} is already open.", fix="Close it before opening it again.")
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0 or not fps > 0:
            raise SinkError(
                f"A virtual camera needs a positive size and frame rate, got {width}x{height} at {fps} fps.",
                fix="Pass --size WxH and --fps with positive values.",
            )
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise SinkError(
                f"The virtual camera needs the pyvirtualcam package, which cannot be imported ({exc}).",
                fix="Install it: `pip install pyvirtualcam`.",
            ) from exc
        try:
            camera = pyvirtualcam.Camera(
                width, height, float(fps), fmt=pyvirtualcam.PixelFormat.BGR, device=self.device
            )
        except Exception as exc:  # pyvirtualcam raises RuntimeError listing why each backend failed
            reason = _one_line(str(exc) or type(exc).__name__)
            wanted = self.device or "any virtual camera"
            raise SinkError(
                f"No virtual camera could be opened ({wanted}, {width}x{height}); pyvirtualcam says: {reason}",
                fix=virtual_camera_fix(reason),
            ) from exc
        self._camera = camera
        self._size = (width, height)
        self.frames_sent = 0
        self.description = f"virtual camera {camera.device} ({camera.backend})"
        log.info("opened %s at %dx%d, %.1f fps (native format %s)",
                 self.description, width, height, fps, camera.native_fmt)

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Send ``frame.image`` (uint8 BGR, (H, W, 3), the opened size) now; ``original``/``status`` are unused."""
        if self._camera is None or self._size is None:
            raise SinkError(f"{self.description} is not open.", fix="Call open(size, fps) before send().")
        image = frame.image
        self.check_frame(image, self._size)
        try:
            self._camera.send(np.ascontiguousarray(image))
        except Exception as exc:
            raise SinkError(
                f"Writing frame {frame.index} to {self.description} failed: {_one_line(str(exc))}",
                fix="Check that the virtual camera device still exists.",
            ) from exc
        self.frames_sent += 1

    def close(self) -> None:
        """Release the virtual camera; safe to call twice."""
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()
            log.info("closed %s after %d frames", self.description, self.frames_sent)
