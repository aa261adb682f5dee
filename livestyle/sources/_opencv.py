"""Shared machinery for live OpenCV captures (cameras and network streams).

:class:`ReconnectingCapture` owns one ``cv2.VideoCapture`` and turns a lost
stream into a wait: when a read fails it releases the capture and tries to
open a new one after 0.25 s, 0.5 s, 1 s, then every 2 s, until a frame comes
or :meth:`close` is called.  Subclasses only say how to open a capture and
how to explain a failed first open.

Threading: one thread calls :meth:`read` in a loop (the pipeline's capture
thread); any other thread may call :meth:`close` at any time.  ``close()``
never releases a capture that another thread is reading from (that can crash
inside the driver): the reader releases it when its current read returns.
Reconnection attempts run on a helper thread so that ``close()`` wakes a
blocked :meth:`read` at once, even while a slow open is still in progress.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from livestyle.errors import SourceError
from livestyle.frame import MIN_SIDE
from livestyle.sources.base import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: ``first_s`` doubling (``factor``) up to ``max_s``."""

    first_s: float = 0.25
    max_s: float = 2.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based)."""
        return min(self.max_s, self.first_s * self.factor ** min(attempt, 32))


# Once the delays stop growing, repeat the warning only every this many seconds.
_REPEAT_WARNING_S = 30.0


def fourcc_to_str(value: float) -> str:
    """The four characters of an OpenCV FOURCC property value ('MJPG'), or '' if none."""
    code = int(value) & 0xFFFFFFFF
    if code == 0:
        return ""
    text = "".join(chr((code >> (8 * k)) & 0xFF) for k in range(4))
    return text if text.isprintable() else ""


def as_bgr_frame(image: np.ndarray | None) -> np.ndarray | None:
    """Normalise what a capture returned to uint8 BGR (H, W, 3), C-contiguous; None if unusable."""
    if image is None or image.size == 0:
        return None
    if image.dtype != np.uint8:
        return None
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        return None
    return np.ascontiguousarray(image)


def _release(capture: cv2.VideoCapture | None) -> None:
    if capture is not None:
        try:
            capture.release()
        except cv2.error as exc:  # a dying device may complain; nothing to do about it
            log.debug("releasing a capture failed: %s", exc)


class ReconnectingCapture(Source):
    """A live source over ``cv2.VideoCapture`` that reconnects after a loss.

    :meth:`read` returns uint8 BGR frames, shape (H, W, 3), values 0..255,
    as the device delivers them; it blocks while the stream is down and
    returns None only after :meth:`close`.  ``reconnects`` counts
    recoveries; ``failed_attempts`` counts reopen attempts that failed.
    """

    live = True

    def __init__(self, *, backoff: Backoff = Backoff()):
        self.backoff = backoff
        self.reconnects = 0
        self.failed_attempts = 0
        self._capture: cv2.VideoCapture | None = None
        self._closed = threading.Event()
        self._opened = False
        # Held by whoever touches self._capture: the reader for a whole read,
        # close() only for the release.  Guards "released exactly once".
        self._capture_lock = threading.Lock()

    # -- what subclasses provide ------------------------------------------

    @abc.abstractmethod
    def _open_capture(self) -> cv2.VideoCapture | None:
        """Open and configure a new capture; None (or a capture that is not opened) on failure."""

    @abc.abstractmethod
    def _open_error(self) -> SourceError:
        """The error for a first open that failed: what was tried, why it may fail, the fix."""

    def _describe(self, capture: cv2.VideoCapture, first: np.ndarray) -> str:
        """The :attr:`description` once the first frame came (subclasses add detail)."""
        height, width = first.shape[:2]
        return f"{width}x{height}"

    def _on_first_frame(self, capture: cv2.VideoCapture, first: np.ndarray) -> None:
        """Hook run by :meth:`open` after the first frame (for example to measure the rate)."""

    # -- Source ------------------------------------------------------------

    def open(self) -> None:
        """Open the stream and read one frame to learn its size; SourceError with a fix on failure."""
        if self._opened:
            return
        if self._closed.is_set():
            raise SourceError(f"{type(self).__name__} was closed and cannot be reopened.",
                              fix="Create a new source.")
        capture = self._open_capture()
        if capture is None or not capture.isOpened():
            _release(capture)
            raise self._open_error()
        ok, image = capture.read()
        first = as_bgr_frame(image) if ok else None
        if first is None:
            _release(capture)
            raise self._no_frame_error()
        height, width = first.shape[:2]
        if min(width, height) < MIN_SIDE:
            _release(capture)
            raise SourceError(f"{self._name()} delivers {width}x{height} frames; livestyle needs at least "
                              f"{MIN_SIDE}x{MIN_SIDE} (the temporal filter's optical flow fails on smaller ones).",
                              fix="Set the camera or stream to a larger resolution (640x360 or more).")
        self.size = (width, height)
        self._on_first_frame(capture, first)
        self.description = self._describe(capture, first)
        self._capture = capture
        self._opened = True
        log.info("opened %s", self.description)

    def _no_frame_error(self) -> SourceError:
        err = self._open_error()
        return SourceError(f"{self._name()} opened but delivered no frame.", fix=err.fix)

    def _name(self) -> str:
        return type(self).__name__

    def read(self) -> np.ndarray | None:
        if not self._opened:
            raise SourceError(f"{self._name()} was read before open().", fix="Call open() first "
                              "(or use the source as a context manager).")
        attempt = 0
        lost_since: float | None = None
        last_warned_delay = -1.0
        last_warned_at = 0.0
        while not self._closed.is_set():
            with self._capture_lock:
                capture = self._capture
                if capture is not None and not self._closed.is_set():
                    ok, image = capture.read()
                    frame = as_bgr_frame(image) if ok else None
                    if frame is not None:
                        if lost_since is not None:
                            log.warning("%s is back after %.1f s", self.description,
                                        time.perf_counter() - lost_since)
                        return frame
                    # The stream is lost: drop this capture, then reconnect below.
                    self._capture = None
                    _release(capture)
                    if lost_since is None:
                        lost_since = time.perf_counter()
                        log.warning("%s: lost the stream; reconnecting", self.description)
            if self._closed.is_set():
                break
            delay = self.backoff.delay(attempt)
            now = time.perf_counter()
            if delay != last_warned_delay or now - last_warned_at >= _REPEAT_WARNING_S:
                log.warning("%s: reconnection attempt %d in %.2f s (down for %.1f s)",
                            self.description, attempt + 1, delay, now - (lost_since or now))
                last_warned_delay, last_warned_at = delay, now
            if self._closed.wait(delay):
                break
            attempt += 1
            capture = self._open_interruptibly()
            if capture is None:
                self.failed_attempts += 1
                continue
            with self._capture_lock:
                if self._closed.is_set():
                    _release(capture)
                    break
                self._capture = capture
            self.reconnects += 1
            attempt = 0
        self._release_if_idle()
        return None

    def close(self) -> None:
        """Stop: wake a blocked :meth:`read` (it returns None) and release the device.

        Idempotent and safe from any thread.  If another thread is inside a
        driver read right now, that thread releases the capture as soon as
        its read returns (within one frame for a working device, within the
        read timeout for a stalled one).
        """
        self._closed.set()
        self._release_if_idle(wait_s=0.5)

    # -- internals ---------------------------------------------------------

    def _release_if_idle(self, wait_s: float = 0.0) -> None:
        acquired = (self._capture_lock.acquire(timeout=wait_s) if wait_s > 0
                    else self._capture_lock.acquire(blocking=False))
        if not acquired:
            return  # a reader holds the capture; it will see _closed and release it
        try:
            capture, self._capture = self._capture, None
            _release(capture)
        finally:
            self._capture_lock.release()

    def _open_interruptibly(self) -> cv2.VideoCapture | None:
        """Run :meth:`_open_capture` on a helper thread; give up as soon as close() is called.

        Returns an opened capture that has delivered a frame, or None.  A
        capture that finishes opening after close() is released by the helper.
        """
        result: list[cv2.VideoCapture | None] = []
        done = threading.Event()
        handed_over = threading.Lock()
        abandoned = []

        def attempt() -> None:
            capture = None
            try:
                capture = self._open_capture()
                if capture is not None and not capture.isOpened():
                    _release(capture)
                    capture = None
            except Exception as exc:  # an open attempt must never kill the helper silently
                log.debug("reopen attempt raised %r", exc)
                capture = None
            with handed_over:
                if abandoned:
                    _release(capture)
                else:
                    result.append(capture)
            done.set()

        helper = threading.Thread(target=attempt, daemon=True, name=f"{self._name()}-reopen")
        helper.start()
        while not done.wait(0.05):
            if self._closed.is_set():
                with handed_over:
                    if not result:
                        abandoned.append(True)
                        return None
                break
        return result[0] if result else None
