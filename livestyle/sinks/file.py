"""The video file sink: records stylized frames with OpenCV's VideoWriter.

Never a broken file under the final name:

* Frames go to a temporary file beside the target (``.NAME.PID.XXXX.tmp.mp4``,
  made by :func:`livestyle.fsutil.atomic_path`, which keeps the suffix so
  OpenCV picks the container).  The pipeline calls :meth:`FileSink.close` on
  every way out (end of input, Ctrl+C, SIGTERM, errors).
* **Every write is checked.**  ``cv2.VideoWriter.write`` returns False when
  FFmpeg could not write (measured with opencv-python 5.0: a full disk or a
  file-size limit turns the return value False from the first frame whose
  buffered data could not be flushed).  The first failed write raises
  :class:`SinkError` (one line, with the free space left) and the temporary
  file is deleted: a full disk never leaves an unplayable file anywhere.
* **The result is verified before the rename.**  :meth:`close` reopens the
  finished file with OpenCV and requires the frame count the container
  reports to match the frames written, the first and the last frame to
  decode, and the size to be :attr:`written_size`.  An .mp4 whose index
  could not be written, or an .avi truncated by the disk, fails this check.
  A process killed hard (SIGKILL, power loss) leaves the hidden temporary
  file behind, never a file under the final name; the next recording to the
  same name removes it, with a warning, once its process (the PID in its
  name) is gone.

Odd sizes: OpenCV's FFmpeg writer can only store even widths and heights
(measured: 1281x721 is stored as 1280x720, 134x135 as 134x134), so the sink
crops the last column/row itself, warns once, and says so in
:attr:`written_size`.

The file is written at the nominal ``fps`` given to :meth:`FileSink.open`;
frames dropped by a slow pipeline therefore make playback a little fast.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import SinkError
from livestyle.frame import Frame
from livestyle.fsutil import atomic_path
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

# Containers whose frame count OpenCV estimates from the duration (Matroska has no
# per-frame index in the header): allow this many frames of difference.
_COUNT_SLACK = {".mkv": 1}


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) rounded down to even numbers: what OpenCV's FFmpeg writer stores."""
    return int(size[0]) // 2 * 2, int(size[1]) // 2 * 2


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


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown free space"
    return f"{free / 1e6:.1f} MB free"


def verify_video(path: Path, *, frames: int, size: tuple[int, int], slack: int = 0) -> None:
    """Raise SinkError unless ``path`` opens in OpenCV with ``frames`` frames of ``size`` = (W, H).

    The container's frame count must be within ``slack`` of ``frames``; the
    first and the last frame must decode to uint8 BGR (H, W, 3).
    """
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise _unplayable(path, "OpenCV cannot open it (no index or header)")
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if count and count > 0 else 0
        if abs(count - frames) > slack:
            raise _unplayable(path, f"it holds {count} frames but {frames} were written")
        ok, first = capture.read()
        if not ok or first is None:
            raise _unplayable(path, "its first frame does not decode")
        got = (first.shape[1], first.shape[0])
        if got != tuple(size):
            raise _unplayable(path, f"its frames are {got[0]}x{got[1]}, not {size[0]}x{size[1]}")
        if frames > 1:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1 - slack)
            ok, last = capture.read()
            if not ok or last is None:
                raise _unplayable(path, f"its last frame (number {frames}) does not decode")
    finally:
        capture.release()


def _unplayable(path: Path, why: str) -> SinkError:
    return SinkError(f"The recording came out unplayable ({why}); it was deleted and nothing was written "
                     "under the output name.",
                     fix=f"Check the free space and file-size limits of {str(path.parent)!r} and record again.")


class FileSink(Sink):
    """Write uint8 BGR frames, shape (H, W, 3), to a .mp4, .avi or .mkv file.

    The codec is chosen by suffix from :data:`CODECS_BY_SUFFIX` (the first that
    opens wins; ``codec`` holds it once open) unless ``codecs`` lists FourCC
    codes to try instead.  ``frames_sent`` counts frames written;
    :attr:`written_size` is the (width, height) stored in the file (the
    opened size rounded down to even numbers); :attr:`temp_path` the
    temporary file while recording.
    """

    def __init__(self, path: str | os.PathLike[str], *, codecs: tuple[str, ...] | None = None):
        self.path = Path(path)
        self.codecs = tuple(codecs) if codecs else None
        self.codec = ""
        self.frames_sent = 0
        self.written_size: tuple[int, int] | None = None
        self.temp_path: Path | None = None
        self.description = f"video file {self.path}"
        self._writer: cv2.VideoWriter | None = None
        self._atomic = None  # the atomic_path context manager, entered by open()
        self._size: tuple[int, int] | None = None
        self._failed: BaseException | None = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        """Start the temporary file at ``size`` = (width, height) and ``fps``; SinkError with a fix on failure."""
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
        written = even_size((width, height))
        if min(written) < 2:
            raise SinkError(f"A video file needs at least 2x2 pixels, got {width}x{height}.",
                            fix="Pass a larger --size.")
        _check_target(self.path)
        for codec in codecs:
            if len(codec) != 4:
                raise SinkError(f"A FourCC codec code has 4 characters, got {codec!r}.",
                                fix="Use a code such as mp4v, MJPG or avc1.")
        atomic = atomic_path(self.path, keep_suffix=True, check=self._verify, what="recording")
        try:
            tmp = atomic.__enter__()
        except OSError as exc:
            raise SinkError(f"Cannot create a file in {str(self.path.parent)!r}: {exc.strerror or exc}.",
                            fix="Choose a directory you can write to, with free space.") from exc
        for codec in codecs:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), float(fps), written)
            if writer.isOpened():
                break
            writer.release()
            log.debug("codec %s does not open %s with this OpenCV build", codec, tmp)
        else:
            _discard(atomic, SinkError("no codec"))
            raise SinkError(
                f"OpenCV could not open {str(self.path)!r} for writing with any of the codecs {', '.join(codecs)}.",
                fix="Check that the disk is writable and not full, or record to .avi (MJPG), which every OpenCV build writes.",
            )
        if written != (width, height):
            log.warning("%s: video files store even sizes only; frames of %dx%d are written as %dx%d "
                        "(the last column/row is cropped)", self.path, width, height, *written)
        self._writer, self._atomic, self._size = writer, atomic, (width, height)
        self.temp_path, self.written_size, self._failed = tmp, written, None
        self.codec, self.frames_sent = codec, 0
        self.description = f"video file {self.path} ({codec}, {written[0]}x{written[1]} at {fps:g} fps)"
        log.info("recording to %s via %s", self.description, tmp.name)

    def send(self, frame: Frame, *, original: np.ndarray | None = None, status: str = "") -> None:
        """Append ``frame.image`` (uint8 BGR, (H, W, 3), the opened size); ``original``/``status`` are unused.

        Raises SinkError when the write fails (full disk, file-size limit,
        I/O error); the recording is then deleted.
        """
        if self._failed is not None:
            raise self._failed
        if self._writer is None or self._size is None or self.written_size is None:
            raise SinkError(f"{self.description} is not open.", fix="Call open(size, fps) before send().")
        self.check_frame(frame.image, self._size)
        w, h = self.written_size
        image = frame.image if (w, h) == self._size else frame.image[:h, :w]
        ok = self._writer.write(np.ascontiguousarray(image))
        if ok is False:  # OpenCV < 4.x returns None: then only the check at close() can tell
            self._fail(SinkError(
                f"Writing frame {self.frames_sent + 1} to {str(self.path)!r} failed (the disk is full, the file "
                f"is over a size limit, or the device failed; {_free_space(self.path.parent)}); the partial "
                "recording was deleted.",
                fix="Free some space or record to another disk, then run again."))
        self.frames_sent += 1

    def _fail(self, error: SinkError) -> None:
        """Delete the temporary file now and remember ``error`` for every later call; raises it."""
        self._failed = error
        writer, self._writer = self._writer, None
        atomic, self._atomic = self._atomic, None
        if writer is not None:
            writer.release()
        if atomic is not None:
            _discard(atomic, error)
        log.debug("%s", error.message)  # raised: the CLI prints it once (an error log printed it twice)
        raise error

    def _verify(self, tmp: Path) -> None:
        assert self.written_size is not None
        verify_video(tmp, frames=self.frames_sent, size=self.written_size,
                     slack=_COUNT_SLACK.get(self.path.suffix.lower(), 0))

    def close(self) -> None:
        """Finish the file, verify it and move it onto the final name; safe to call twice.

        A recording without a single frame is deleted rather than left as an
        empty, unplayable file.  A recording that fails verification is
        deleted and raises SinkError; so does a move that fails.
        """
        writer, self._writer = self._writer, None
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return
        if writer is not None:
            writer.release()
        if self.frames_sent == 0:
            _discard(atomic, SinkError("no frames"))
            log.warning("no frames were recorded; %s not written", self.path)
            return
        try:
            atomic.__exit__(None, None, None)
        except SinkError:
            raise
        except OSError as exc:
            raise SinkError(f"The finished recording could not be moved to {str(self.path)!r}: "
                            f"{exc.strerror or exc} ({_free_space(self.path.parent)}).",
                            fix="Free some space or record to another disk, then run again.") from exc
        log.info("wrote %d frames (%dx%d) to %s", self.frames_sent, *self.written_size, self.path)


def _discard(atomic, error: BaseException) -> None:
    """Leave an entered ``atomic_path`` context by an exception: its temporary file is removed."""
    try:
        atomic.__exit__(type(error), error, None)
    except BaseException as exc:  # the context re-raises what it was given; anything else is logged
        if exc is not error:
            log.debug("discarding a temporary recording: %r", exc)
