"""Webcams through OpenCV (V4L2 on Linux), with MJPG negotiation and reconnection."""

from __future__ import annotations

import glob
import logging
import os
import sys

import cv2
import numpy as np

from livestyle.errors import SourceError
from livestyle.sources._opencv import Backoff, ReconnectingCapture, fourcc_to_str

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0


class CameraSource(ReconnectingCapture):
    """Camera number ``index`` (``/dev/video<index>`` on Linux).

    Asks the driver for MJPG at ``size`` = (width, height) and ``fps``
    (default 1280x720 at 30 fps; USB cameras deliver 720p30 only as MJPG) and
    a one-frame driver buffer, so a read returns a fresh frame rather than a
    queued one.  What the camera actually granted is in :attr:`size`,
    :attr:`fps` and :attr:`description` (e.g. ``camera 0 (MJPG 1280x720@30)``).
    :meth:`read` returns uint8 BGR frames, shape (H, W, 3), values 0..255.
    If the camera disappears (unplugged, driver reset), reads block while
    it is reopened with backoff; :attr:`reconnects` counts recoveries.
    """

    def __init__(self, index: int, *, size: tuple[int, int] | None = None, fps: float | None = None,
                 backoff: Backoff = Backoff()):
        super().__init__(backoff=backoff)
        self.index = int(index)
        self.requested_size = tuple(size) if size else DEFAULT_SIZE
        self.requested_fps = float(fps) if fps else DEFAULT_FPS
        self.fps = self.requested_fps
        self.description = f"camera {self.index}"

    def _name(self) -> str:
        return f"Camera {self.index}"

    def _open_capture(self) -> cv2.VideoCapture:
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        capture = cv2.VideoCapture(self.index, api)
        if not capture.isOpened():
            return capture
        width, height = self.requested_size
        # Order matters for V4L2: the pixel format first, then size, then rate.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, self.requested_fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def _on_first_frame(self, capture: cv2.VideoCapture, first: np.ndarray) -> None:
        granted_fps = capture.get(cv2.CAP_PROP_FPS)
        if granted_fps and 0 < granted_fps <= 1000:
            self.fps = float(granted_fps)
        if self.size != self.requested_size:
            log.warning("camera %d delivers %dx%d instead of the requested %dx%d", self.index,
                        *self.size, *self.requested_size)

    def _describe(self, capture: cv2.VideoCapture, first: np.ndarray) -> str:
        fourcc = fourcc_to_str(capture.get(cv2.CAP_PROP_FOURCC)) or "?"
        width, height = self.size
        return f"camera {self.index} ({fourcc} {width}x{height}@{self.fps:g})"

    def _open_error(self) -> SourceError:
        fix = ("Pass the index of a connected camera (on Linux: ls /dev/video*, "
               "v4l2-ctl --list-devices), make sure your user may open it (group 'video'), "
               "and close other programs that use the camera.")
        if not sys.platform.startswith("linux"):
            return SourceError(f"Camera {self.index} could not be opened.", fix=fix)
        device = f"/dev/video{self.index}"
        present = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
        if not os.path.exists(device):
            reason = f"{device} does not exist (video devices present: {', '.join(present) or 'none'})"
        elif not os.access(device, os.R_OK | os.W_OK):
            reason = f"{device} exists but this user has no permission to open it"
            fix = (f"Add your user to the group that owns {device} (usually 'video': "
                   "sudo usermod -aG video $USER, then log in again), or pick another camera.")
        else:
            reason = (f"{device} exists but did not open as a capture device (busy in another "
                      "program, or an output-only/metadata node)")
        return SourceError(f"Camera {self.index} could not be opened: {reason}.", fix=fix)
