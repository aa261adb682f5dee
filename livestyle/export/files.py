"""Private, atomic files for the engine cache and the TensorRT build (standard library only)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["atomic_write", "fsync_dir", "private_file_ok"]


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - not POSIX
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, writer: Callable[[BinaryIO], None]) -> None:
    """Write a file through ``writer(f)`` into a temp file next to ``path``, fsync, then ``os.replace``.

    The temp file is created with mode 0o600; if ``writer`` raises, it is
    removed and nothing appears under ``path``.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def private_file_ok(path: Path) -> str | None:
    """None when ``path`` is a regular file we own that only we can write; else why not."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "owned by another user"
    if st.st_mode & 0o022:
        return "writable by other users"
    return None
