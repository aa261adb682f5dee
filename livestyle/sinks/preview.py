"""The preview sink: an OpenCV window with original | stylized and a status line.

Keys (see :func:`key_to_command`): 1-9 pick a style, +/= and - change the
strength by 0.1, space toggles bypass, q or Esc quits; closing the window
quits too.  Each key becomes a :class:`~livestyle.controls.Command` of the
one control vocabulary (``style-number``, ``strength-up``, ``strength-down``,
``bypass-toggle``, ``quit``), which the pipeline hands to ``Controls.apply``.
The drawing lives in the pure function :func:`compose_preview`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from livestyle.controls import Command
from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.base import Sink

log = logging.getLogger(__name__)

ESCAPE_KEY = 27
STATUS_STRIP_HEIGHT = 28
STATUS_STRIP_GREY = 24
STATUS_TEXT_GREY = 235
NO_DISPLAY_FIX = "Use --output vcam or a video file path instead, or run inside a desktop session (set DISPLAY)."


def key_to_command(key: int) -> Command | None:
    """The vocabulary :class:`Command` for a key code from ``cv2.waitKeyEx`` (or ``cv2.waitKey``), or None.

    1-9 -> ``style-number`` 1-9, + and = -> ``strength-up``, - -> ``strength-down``,
    space -> ``bypass-toggle``, b / B -> ``background-next``, q / Q / Esc -> ``quit``.

    Backends add modifier state above bit 16 (GTK) and report special keys
    as codes >= 256 (GTK 0xFFxx, Qt 0x01000000+, Windows vk << 16); those
    never map to a command, so an arrow or F-key cannot act as '1' or 'q'.
    """
    if key < 0 or key >= 0x01000000:  # -1: no key; >= 2**24: Qt special keys
        return None
    code = key & 0xFFFF  # drop GTK modifier bits
    if code >= 256:
        return None
    char = chr(code)
    if "1" <= char <= "9":
        return Command("style-number", ord(char) - ord("0"))
    if char in "+=":
        return Command("strength-up")
    if char == "-":
        return Command("strength-down")
    if char == " ":
        return Command("bypass-toggle")
    if char in "bB":
        return Command("background-next")
    if char in "qQ" or code == ESCAPE_KEY:
        return Command("quit")
    return None


def compose_preview(original: np.ndarray | None, stylized: np.ndarray, status: str = "", *,
                    max_width: int = 1600, strip_height: int = STATUS_STRIP_HEIGHT) -> np.ndarray:
    """The preview image: original | stylized side by side above a dark status strip.

    ``stylized`` is uint8 BGR, shape (H, W, 3), values 0..255.  ``original``
    is uint8 BGR of any size (resized to (H, W)) or None (then only the
    stylized image is shown).  The pair is downscaled (never enlarged) so the
    result is at most ``max_width`` pixels wide.  Returns uint8 BGR of shape
    (round(H * s) + strip_height, round(k * W * s), 3) with k = 2 (or 1
    without original) and s = min(1, max_width / (k * W)); the strip is grey
    ``STATUS_STRIP_GREY`` with ``status`` written in light grey.
    """
    if stylized.dtype != np.uint8 or stylized.ndim != 3 or stylized.shape[2] != 3:
        raise ValueError(f"stylized must be uint8 BGR (H, W, 3), got {stylized.dtype} {stylized.shape}")
    height, width = stylized.shape[:2]
    panels = [stylized]
    if original is not None:
        if original.dtype != np.uint8 or original.ndim != 3 or original.shape[2] != 3:
            raise ValueError(f"original must be uint8 BGR (H, W, 3), got {original.dtype} {original.shape}")
        if original.shape[:2] != (height, width):
            original = cv2.resize(original, (width, height), interpolation=cv2.INTER_AREA)
        panels.insert(0, original)
    pair = np.hstack(panels) if len(panels) > 1 else stylized
    scale = min(1.0, max_width / pair.shape[1])
    if scale < 1.0:
        out_w = max(1, min(max_width, round(pair.shape[1] * scale)))
        out_h = max(1, round(height * scale))
        pair = cv2.resize(pair, (out_w, out_h), interpolation=cv2.INTER_AREA)
    strip = np.full((strip_height, pair.shape[1], 3), STATUS_STRIP_GREY, np.uint8)
    if status and strip_height >= 12:
        font_scale = 0.5 * strip_height / STATUS_STRIP_HEIGHT
        baseline_y = strip_height - max(4, strip_height // 3)
        cv2.putText(strip, status, (8, baseline_y), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (STATUS_TEXT_GREY,) * 3, 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.vstack([pair, strip]))


def display_problem(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why no window can open here (a sentence), or None when a display looks available.

    Only Linux/BSD need a check: Qt aborts the whole process, rather than
    raising, when it cannot reach an X server.
    """
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    if environ.get("WAYLAND_DISPLAY"):
        return None
    display = environ.get("DISPLAY", "")
    if not display:
        return "The preview window needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set."
    if display.startswith(":"):  # local X server: its socket must exist
        number = display[1:].split(".")[0]
        if number.isdigit() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f"The preview window needs the X server DISPLAY={display}, but its socket /tmp/.X11-unix/X{number} does not exist."
    return None


class PreviewSink(Sink):
    """Show frames in an OpenCV window: original | stylized (uint8 BGR) plus the pipeline's status line.

    :attr:`written_size` is the (width, height) of the stylized frames shown (the opened size).
    """

    def __init__(self, *, window_name: str = "livestyle", max_width: int = 1600):
        self.window_name = window_name
        self.max_width = max_width
        self.frames_sent = 0
        self.written_size: tuple[int, int] | None = None
        self.description = f"preview window {window_name!r}"
        self._open = False
        self._shown = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Create the window; SinkError with a fix when there is no display or no GUI in OpenCV."""
        if self._open:
            raise SinkError(f"The {self.description} is already open.", fix="Close it before opening it again.")
        problem = display_problem()
        if problem:
            raise SinkError(problem, fix=NO_DISPLAY_FIX)
        try:
            cv2.namedWindow(self.window_name, cv2.WINDOW_AUTOSIZE)
        except cv2.error as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SinkError(f"OpenCV cannot open a window here ({reason}).",
                            fix=NO_DISPLAY_FIX + " A headless OpenCV build needs opencv-python instead.") from exc
        self._open, self._shown, self.frames_sent = True, False, 0
        self.written_size = (int(size[0]), int(size[1]))
        log.info("opened %s for %dx%d frames", self.description, size[0], size[1])

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Show ``frame.image`` (uint8 BGR) next to ``original`` (uint8 BGR or None) with ``status``."""
        if not self._open:
            raise SinkError(f"The {self.description} is not open.", fix="Call open(size, fps) before send().")
        try:
            canvas = compose_preview(original, frame.image, status, max_width=self.max_width)
        except ValueError as exc:
            raise SinkError(f"The {self.description} got a frame it cannot show: {exc}.",
                            fix="Send uint8 BGR images of shape (H, W, 3).") from exc
        try:
            cv2.imshow(self.window_name, canvas)
        except cv2.error as exc:
            raise SinkError(f"OpenCV could not draw the {self.description} ({str(exc).strip().splitlines()[-1]}).",
                            fix=NO_DISPLAY_FIX) from exc
        self._shown = True
        self.frames_sent += 1

    def poll(self) -> list[Command]:
        """Pump the window's events (waitKeyEx, 1 ms) and return the commands typed since the last call."""
        if not self._open:
            return []
        commands: list[Command] = []
        command = key_to_command(cv2.waitKeyEx(1))
        if command is not None:
            commands.append(command)
        if self._shown and not self._window_visible():
            log.info("%s was closed by the user", self.description)
            commands.append(Command("quit"))
            self._shown = False  # report the close once
        return commands

    def _window_visible(self) -> bool:
        """False once the user closed the window (OpenCV then reports < 1, or raises when no window is left)."""
        try:
            return cv2.getWindowProperty(self.window_name, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        """Destroy the window; safe to call twice."""
        if not self._open:
            return
        self._open = False
        try:
            cv2.destroyWindow(self.window_name)
            cv2.waitKey(1)  # let the GUI backend actually remove it
        except cv2.error:
            log.debug("window %s was already gone", self.window_name)
