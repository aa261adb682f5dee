"""Every user-facing failure is a :class:`LivestyleError`.

The CLI prints ``str(error)`` as one line on stderr and exits non-zero; no
traceback.  A message says what was expected, what came, and how to fix it.
"""

from __future__ import annotations


class LivestyleError(Exception):
    """Base class: a failure a user can act on. ``exit_code`` is the CLI status."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(message if not fix else f"{message} {fix}")


class UsageError(LivestyleError):
    """A flag or argument has the wrong form (size not WxH, strength outside 0..1)."""


class SourceError(LivestyleError):
    """The input cannot be opened or read (unknown camera, unreadable file, dead URL)."""


class SinkError(LivestyleError):
    """The output cannot be opened or written (no virtual camera, unwritable path)."""


class OutputError(SinkError, OSError):
    """A file or folder could not be written (full disk, read-only place, a file where a folder should be).

    Also an :class:`OSError`, so code that handles a failed write as one keeps working; ``errno`` is the
    system's (ENOSPC, EROFS, ...).
    """

    def __init__(self, message: str, *, fix: str | None = None, errno: int | None = None):
        super().__init__(message, fix=fix)
        self.errno = errno


class StyleError(LivestyleError):
    """A style pack is unknown, incomplete or malformed."""


class ModelError(LivestyleError):
    """A model file is corrupt or breaks the runtime's contract (uint8 BGR NHWC in and out)."""


class BackendError(LivestyleError):
    """An inference backend is unavailable (package missing, no GPU, no driver)."""


class MissingExtraError(LivestyleError):
    """A feature needs an optional dependency (a pip extra such as ``livestyle[train]``) that is not installed."""


class DataError(LivestyleError):
    """Training data is missing or unusable."""


class TrainingError(LivestyleError):
    """Training cannot start or continue (bad checkpoint, bad configuration)."""
