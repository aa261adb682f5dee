"""The video file sink: records stylized frames with OpenCV's VideoWriter.

Crash safety: frames go to ``<stem>.partial<suffix>`` next to the target and
the file is ``os.replace``d onto the final name by :meth:`FileSink.close`,
which the pipeline also calls on Ctrl+C and SIGTERM.  So the final name only
ever holds a finished file.  A process killed hard (SIGKILL, power loss)
leaves the ``.partial`` file behind: an .avi (MJPG) or .mkv one is playable
up to the crash, an .mp4 one lacks its index and is not.

The file is written at the nominal ``fps`` given to :meth:`FileSink.open`;
frames dropped by a slow pipeline therefore make playback a little fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.sinks.base import Sink

log = logging.getLogger(__name__)

# FourCC codes tried in order per container (the first that opens wins).
# Measured with opencv-python 5.0 (FFmpeg backend): mp4v opens in .mp4, .mkv
# and .avi, MJPG in .avi and .mkv; avc1/X264/H264 open nowhere, because the
# wheels carry no H.264 encoder, and each failed attempt prints FFmpeg errors
# on stderr.  So H.264 is opt-in: ``FileSink(path, codecs=("avc1", "mp4v"))``
# with an OpenCV build that has libx264.
CODECS_BY_SUFFIX: dict[str, tuple[str, ...]] = {
    ".mp4": ("mp4v",),
    ".avi": ("MJPG", "mp4v"),
    ".mkv": ("mp4v", "MJPG"),
}


def partial_path(path: Path) -> Path:
    """Where a recording to ``path`` is written until it is closed: ``name.partial.mp4`` for ``name.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _check_target(path: Path) -> None:
    """Raise SinkError with a fix when ``path`` cannot be a new video file."""
    parent = path.parent
    if path.is_dir():
        raise SinkError(f"The output {str(path)!r} is a directory, not a video file.",
                        fix="Give a file name ending in .mp4, .avi or .mkv.")
    if not parent.exists():
        raise SinkError(f"The output directory {str(parent)!r} does not exist.",
                        fix=f"Create it (mkdir -p {parent}) or choose another path.")
    if not parent.is_dir():
        raise SinkError(f"The output's parent {str(parent)!r} is not a directory.",
                        fix="Choose a path inside an existing directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SinkError(f"The output directory {str(parent)!r} is not writable.",
                        fix="Choose a directory you can write to, or fix its permissions.")


class FileSink(Sink):
    """Write uint8 BGR frames, shape (H, W, 3), to a .mp4, .avi or .mkv file.

    The codec is chosen by suffix from :data:`CODECS_BY_SUFFIX` (the first that
    opens wins; ``codec`` holds it once open) unless ``codecs`` lists FourCC
    codes to try instead.  ``frames_sent`` counts frames.
    """

    def __init__(self, path: str | os.PathLike[str], *, codecs: tuple[str, ...] | None = None):
        self.path = Path(path)
        self.codecs = tuple(codecs) if codecs else None
        self.codec = ""
        self.frames_sent = 0
        self.description = f"video file {self.path}"
        self._writer: cv2.VideoWriter | None = None
        self._partial: Path | None = None
        self._size: tuple[int, int] | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Start ``<stem>.partial<suffix>`` at ``size`` = (width, height) and ``fps``; SinkError with a fix on failure."""
        if self._writer is not None:
            raise SinkError(f"{self.description} is already open.", fix="Close it before opening it again.")
        suffix = self.path.suffix.lower()
        codecs = self.codecs or CODECS_BY_SUFFIX.get(suffix)
        if suffix not in CODECS_BY_SUFFIX or not codecs:
            raise SinkError(f"Cannot record to {str(self.path)!r}: the suffix {suffix or '(none)'} is not a video container I write.",
                            fix="Use a path ending in .mp4, .avi or .mkv.")
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0 or not fps > 0:
            raise SinkError(f"A video file needs a positive size and frame rate, got {width}x{height} at {fps} fps.",
                            fix="Pass --size WxH and --fps with positive values.")
        _check_target(self.path)
        partial = partial_path(self.path)
        for codec in codecs:
            if len(codec) != 4:
                raise SinkError(f"A FourCC codec code has 4 characters, got {codec!r}.",
                                fix="Use a code such as mp4v, MJPG or avc1.")
            writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*codec), float(fps), (width, height))
            if writer.isOpened():
                break
            writer.release()
            log.debug("codec %s does not open %s with this OpenCV build", codec, partial)
        else:
            partial.unlink(missing_ok=True)
            raise SinkError(
                f"OpenCV could not open {str(partial)!r} for writing with any of the codecs {', '.join(codecs)}.",
                fix="Check that the disk is writable and not full, or record to .avi (MJPG), which every OpenCV build writes.",
            )
        self._writer, self._partial, self._size = writer, partial, (width, height)
        self.codec, self.frames_sent = codec, 0
        self.description = f"video file {self.path} ({codec}, {width}x{height} at {fps:g} fps)"
        log.info("recording to %s via %s", self.description, partial.name)

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Append ``frame.image`` (uint8 BGR, (H, W, 3), the opened size); ``original``/``status`` are unused."""
        if self._writer is None or self._size is None:
            raise SinkError(f"{self.description} is not open.", fix="Call open(size, fps) before send().")
        self.check_frame(frame.image, self._size)
        self._writer.write(np.ascontiguousarray(frame.image))
        self.frames_sent += 1

    def close(self) -> None:
        """Finish the file and move it onto the final name; safe to call twice.

        A recording without a single frame is deleted rather than left as an
        empty, unplayable file.
        """
        writer, self._writer = self._writer, None
        partial, self._partial = self._partial, None
        if writer is None or partial is None:
            return
        writer.release()
        if self.frames_sent == 0:
            partial.unlink(missing_ok=True)
            log.warning("no frames were recorded; %s not written", self.path)
            return
        try:
            os.replace(partial, self.path)
        except OSError as exc:
            raise SinkError(f"The finished recording {str(partial)!r} could not be moved to {str(self.path)!r}: {exc.strerror}.",
                            fix=f"Rename {partial} by hand; it holds all {self.frames_sent} frames.") from exc
        log.info("wrote %d frames to %s", self.frames_sent, self.path)
