"""Video files through OpenCV, read as fast as possible or paced like a camera."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import SourceError
from livestyle.frame import MIN_SIDE
from livestyle.sources._opencv import as_bgr_frame
from livestyle.sources.base import Source

log = logging.getLogger(__name__)

_FALLBACK_FPS = 30.0
_CONVERT_FIX = ("Check that the file plays in a media player; convert it with "
                "'ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4' if it does not open here.")


class FileSource(Source):
    """The frames of the video file at ``path``, in order; None at the end.

    Frames are uint8 BGR, shape (H, W, 3), values 0..255.  :attr:`fps` is the
    file's frame rate (30 when the file does not say), :attr:`size` comes from
    the first frame, :attr:`frame_count` is the container's count (None when
    unknown; it can be approximate).

    With ``realtime=False`` (offline) every frame is returned as fast as the
    consumer reads.  With ``realtime=True`` the file behaves like a camera
    running at the file's fps (:attr:`live` is True): frame ``i`` is due at
    ``t0 + i / fps``, where ``t0`` is the moment of the first :meth:`read`.
    A read never returns a frame before it is due (it sleeps), and when the
    consumer comes late it returns the most recent due frame and skips the
    older ones without converting them (``cap.grab()``), counting them in
    :attr:`skipped`.  A slow consumer therefore sees dropped frames, never a
    growing delay.  :attr:`last_index` is the file index of the frame the
    last read returned (-1 before the first).

    A file that ends before the frame count its container promised (a
    truncated download, a recording cut by a crash, damage in the middle)
    logs one warning at the end: "read 20 of 60 frames the file promised;
    it may be truncated or corrupt".  :attr:`frames_promised` (the
    container's count, None when unknown) and :attr:`frames_read` (frames
    decoded or skipped so far) say the same for the report.  Frames smaller
    than :data:`livestyle.frame.MIN_SIDE` on a side are refused by
    :meth:`open`.
    """

    def __init__(self, path: str | os.PathLike, *, realtime: bool = False):
        self.path = Path(path)
        self.realtime = bool(realtime)
        self.live = self.realtime
        self.fps = _FALLBACK_FPS
        self.size = (0, 0)
        self.reconnects = 0
        self.frame_count: int | None = None
        self.frames_promised: int | None = None
        self.frames_read = 0
        self.truncated = False
        self.skipped = 0
        self.last_index = -1
        self.description = f"file {self.path.name}"
        self._capture: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None  # frame 0, decoded by open() to learn the size
        self._next_index = 0  # file index of the frame the next decode returns
        self._t0: float | None = None
        self._ended = False
        self._closed = threading.Event()
        self._capture_lock = threading.Lock()

    def open(self) -> None:
        """Open the file and decode its first frame; SourceError naming the path on failure."""
        if self._capture is not None:
            return
        if self._closed.is_set():
            raise SourceError(f"The source for {self.path} was closed and cannot be reopened.",
                              fix="Create a new source.")
        self._check_path()
        capture = self._open_capture()
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self._name()} could not be opened: OpenCV does not "
                              "recognise it as a video.", fix=_CONVERT_FIX)
        ok, image = capture.read()
        first = as_bgr_frame(image) if ok else None
        if first is None:
            capture.release()
            raise SourceError(f"{self._name()} opened but contains no decodable frame.",
                              fix=_CONVERT_FIX)
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not fps or not math.isfinite(fps) or not 0 < fps <= 1000:
            log.warning("%s does not state a usable frame rate (%r); assuming %g fps",
                        self._label(), fps, _FALLBACK_FPS)
            fps = _FALLBACK_FPS
        self.fps = float(fps)
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if count and math.isfinite(count) and count > 0 else None
        height, width = first.shape[:2]
        if min(width, height) < MIN_SIDE:
            capture.release()
            raise SourceError(f"{self._name()} is {width}x{height}; livestyle needs frames of at least "
                              f"{MIN_SIDE}x{MIN_SIDE} (the temporal filter's optical flow fails on smaller ones).",
                              fix=f"Upscale the video first, e.g. 'ffmpeg -i INPUT -vf scale=-2:{max(MIN_SIDE, 360)} OUTPUT.mp4'.")
        self.size = (width, height)
        self.frames_promised = self.frame_count
        self._pending = first
        self._capture = capture
        frames = f", {self.frame_count} frames" if self.frame_count else ""
        pacing = ", paced" if self.realtime else ""
        self.description = f"{self._label()} ({width}x{height}@{self.fps:g}{frames}{pacing})"
        log.info("opened %s", self.description)

    def _name(self) -> str:
        return f"Video file {self.path}"

    def _label(self) -> str:
        return f"file {self.path.name}"

    def _open_capture(self) -> cv2.VideoCapture:
        """A new capture of the file (subclasses open other things, e.g. a URL)."""
        return cv2.VideoCapture(str(self.path))

    def _check_path(self) -> None:
        path = self.path
        if not path.exists():
            raise SourceError(f"Video file {path} does not exist.",
                              fix=f"Check the path (relative paths start at {os.getcwd()}), or use "
                                  "--input 0 for a camera or --input demo for the built-in scene.")
        if path.is_dir():
            raise SourceError(f"Video file {path} is a directory, not a video file.",
                              fix="Pass the path of a video file inside it.")
        if not os.access(path, os.R_OK):
            raise SourceError(f"Video file {path} cannot be read (permission denied).",
                              fix=f"Make it readable for this user (chmod u+r '{path}').")
        if path.stat().st_size == 0:
            raise SourceError(f"Video file {path} is empty (0 bytes).",
                              fix="Record or copy the video again; the file has no content.")

    def read(self) -> np.ndarray | None:
        if self._capture is None and not self._closed.is_set():
            raise SourceError(f"The source for {self.path} was read before open().",
                              fix="Call open() first (or use the source as a context manager).")
        if not self.realtime:
            with self._capture_lock:
                return self._decode_next()
        return self._read_paced()

    def _read_paced(self) -> np.ndarray | None:
        with self._capture_lock:
            now = time.perf_counter()
            if self._t0 is None:
                self._t0 = now
            due = int((now - self._t0) * self.fps)  # the newest frame whose time has come
            while self._next_index < due:
                if not self._skip_next():
                    return None
                self.skipped += 1
            index = self._next_index
        # Wait until the frame is due, then decode it, as a camera delivers a compressed frame that
        # still has to be decoded: the decode counts in the frame's capture->send latency.
        ready = self._t0 + index / self.fps
        delay = ready - time.perf_counter()
        if delay > 0 and self._closed.wait(delay):
            return None
        with self._capture_lock:
            frame = self._decode_next()
        if frame is not None:
            self.frame_ready_time = ready
        return frame

    def _decode_next(self) -> np.ndarray | None:
        """The next frame in file order (caller holds the lock); None at the end or after close."""
        if self._closed.is_set():
            self._release_locked()
            return None
        if self._ended or self._capture is None:
            return None
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, image = self._capture.read()
            frame = as_bgr_frame(image) if ok else None
        if frame is None:
            self._end()
            return None
        self.last_index = self._next_index
        self._next_index += 1
        self.frames_read = self._next_index
        return frame

    def _end(self) -> None:
        """Mark the end of the file; warn once when it came before the promised frame count."""
        if self._ended:
            return
        self._ended = True
        self.frames_read = self._next_index
        promised = self.frames_promised
        if promised is not None and self.frames_read < promised:
            self.truncated = True
            log.warning("%s: read %d of %d frames the file promised; it may be truncated or corrupt",
                        self._label(), self.frames_read, promised)
        else:
            log.info("%s: end of file after %d frames", self.description, self.frames_read)

    def _skip_next(self) -> bool:
        """Advance one frame without converting it (caller holds the lock); False at the end."""
        if self._closed.is_set():
            self._release_locked()
            return False
        if self._ended or self._capture is None:
            return False
        if self._pending is not None:
            self._pending = None
        elif not self._capture.grab():
            self._end()
            return False
        self._next_index += 1
        self.frames_read = self._next_index
        return True

    def close(self) -> None:
        """Release the file; idempotent, safe while another thread is in :meth:`read`."""
        self._closed.set()
        if not self._capture_lock.acquire(timeout=1.0):
            # A reader is inside a decode; it releases the capture on its next call
            # and returns None from then on.
            log.debug("close(): a read is in progress; the capture is released by the reader")
            return
        try:
            self._release_locked()
        finally:
            self._capture_lock.release()

    def _release_locked(self) -> None:
        capture, self._capture = self._capture, None
        self._pending = None
        if capture is not None:
            capture.release()
