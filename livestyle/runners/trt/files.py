"""Private, atomic files for the engine cache and the TensorRT build (through :mod:`livestyle.fsutil`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Callable

from livestyle import fsutil
from livestyle.fsutil import fsync_dir

__all__ = ["atomic_write", "fsync_dir", "private_file_ok"]


def atomic_write(path: Path, writer: Callable[[BinaryIO], None]) -> None:
    """Write a private file (mode 0600) through ``writer(f)``, atomically: the one write path of
    :mod:`livestyle.fsutil`; if ``writer`` raises, nothing appears under ``path``."""
    with fsutil.atomic_write(path, "wb", private=True) as f:
        writer(f)


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
