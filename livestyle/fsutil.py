"""Safe file writing: every file livestyle writes goes through here.

Two rules hold for every output:

* **Atomic.** Data goes to a temporary name in the destination folder, is
  flushed and fsynced, optionally checked, and only then ``os.replace``d onto
  the final name.  A crash, a full disk or a failed check leaves the final
  name untouched (the old file, or nothing) and no stray temporary file.
* **Never an input.** :func:`check_output_path` refuses a destination that is
  the same file as one of the inputs: same inode, a symlink to it, or a hard
  link to it, compared with ``os.stat``, never as strings.

Nothing here imports anything heavier than the standard library.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from livestyle.errors import LivestyleError, OutputError, UsageError

log = logging.getLogger(__name__)

__all__ = ["OUTPUT_KINDS", "KeyedRecord", "atomic_dir", "atomic_path", "atomic_write", "check_output_path",
           "fsync_dir", "refuse_special", "remove_stale_temps", "same_file", "stale_temps", "state_path",
           "write_bytes_atomic", "write_error", "write_json_atomic", "write_text_atomic"]


def state_path(name: str) -> Path:
    """Where livestyle keeps a small state file: ``$LIVESTYLE_HOME/NAME``, else
    ``$XDG_STATE_HOME/livestyle/NAME``, else ``~/.local/state/livestyle/NAME``."""
    home = os.environ.get("LIVESTYLE_HOME")
    if home:
        return Path(home) / name
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "livestyle" / name


class KeyedRecord:
    """One record (a JSON object) under ``key`` in a small JSON state file shared by several keys.

    Reads never fail (a missing or broken file is empty); every write is
    atomic, and a failed write is logged, not raised: a state file is a
    convenience, never a reason to stop.
    """

    def __init__(self, path: str | os.PathLike, key: str):
        self.path, self.key = Path(path), key

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self) -> dict | None:
        rec = self._load().get(self.key)
        return rec if isinstance(rec, dict) else None

    def put(self, rec: dict | None) -> None:
        """Store ``rec`` under the key (None removes it)."""
        data = self._load()
        if rec is None:
            if self.key not in data:
                return
            data.pop(self.key)
        else:
            data[self.key] = rec
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, data)
        except (OSError, LivestyleError) as e:
            log.debug("could not write %s: %s", self.path, e)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same existing file (inode and device), through links and symlinks.

    A path that does not exist is never the same file as anything.
    """
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _kind_of(mode: int) -> str:
    """What a non-regular file is, in words: 'character device', 'named pipe', ..."""
    for test, words in ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                        (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return words
    return "special file"  # pragma: no cover


# what an existing file must look like to be replaced by an output of this kind: name suffixes, or first bytes
OUTPUT_KINDS: dict[str, tuple[tuple[str, ...], tuple[bytes, ...], str]] = {
    "json": ((".json",), (b"{", b"["), "JSON"),
}


def _is_kind(path: Path, kind: str) -> bool:
    """True when the existing regular file ``path`` may hold an output of ``kind``: its name has one of the kind's
    suffixes, or it is empty, or its first non-blank bytes are the kind's (a JSON file starts with { or [)."""
    suffixes, heads, _ = OUTPUT_KINDS[kind]
    if path.suffix.lower() in suffixes:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return not head or head.startswith(heads)


def check_output_path(path: str | os.PathLike, *, flag: str, inputs: Iterable[tuple[str, str | os.PathLike]] = (),
                      allow_dir: bool = False, kind: str | None = None) -> Path:
    """Validate an output destination before any work starts; returns it as a Path.

    The rule for every file livestyle writes: the destination is a new name
    or an existing *regular* file, never a device, a named pipe, a socket or
    one of the command's inputs; and for an output of a fixed format
    (``kind="json"``: reports) an existing file is replaced only when it is
    of that kind (a ``.json`` name, an empty file, or text starting with
    ``{`` or ``[``), so ``--report talk.mp4`` never turns a video into JSON.

    Raises :class:`UsageError` (one sentence with the fix) when ``path`` is one
    of ``inputs`` (pairs of ``(flag, path)``; compared by inode), is an existing
    folder (unless ``allow_dir``), is not a regular file, is a file of another
    kind, or lies in a folder that cannot be created or written.
    """
    p = Path(path)
    for in_flag, in_path in inputs:
        if in_path is None:
            continue
        try:
            same_name = p.resolve() == Path(in_path).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            same_name = False
        if same_name or same_file(p, in_path):
            raise UsageError(f"{flag} {str(p)!r} is the same file as {in_flag} {str(in_path)!r}; "
                             "livestyle never overwrites a file it was given.",
                             fix=f"Choose another {flag} path.")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None  # a new name (or a dangling link, which the write replaces)
    except NotADirectoryError:
        st = None  # a file where a folder should be: said below, naming that file
    except OSError as e:  # a link loop, no permission
        raise UsageError(f"{flag} {str(p)!r} cannot be used ({e.strerror}).", fix=f"Choose another {flag} path.") \
            from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        if not allow_dir:
            raise UsageError(f"{flag} {str(p)!r} is a folder, not a file.", fix=f"Give {flag} a file name inside it.")
    elif st is not None and not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{flag} {str(p)!r} is a {_kind_of(st.st_mode)}, not a regular file; livestyle writes "
                         "its outputs only to regular files or new names.", fix=f"Give {flag} a new file name.")
    elif st is not None and kind is not None and not _is_kind(p, kind):
        words = OUTPUT_KINDS[kind][2]
        raise UsageError(f"{flag} {str(p)!r} already exists and is not a {words} file; livestyle will not "
                         f"overwrite it with its {words} output.",
                         fix=f"Give {flag} a new name, or one ending in {OUTPUT_KINDS[kind][0][0]}.")
    parent = p.parent if not (allow_dir and p.is_dir()) else p
    existing = parent
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {str(p)!r}: {str(existing)!r} is a file, so no folder can be made there.",
                         fix=f"Choose another {flag} path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {str(p)!r}: the folder {str(existing)!r} is not writable.",
                         fix=f"Choose a {flag} path in a folder you can write to.")
    return p


def refuse_special(path: str | os.PathLike) -> None:
    """UsageError when ``path`` exists and is not a regular file (a device, a pipe, a socket, a folder).

    :func:`atomic_path` calls it before every write, so no writer ever
    replaces ``/dev/full`` or a named pipe with a file of its own.
    """
    try:
        st = os.stat(path)
    except OSError:
        return  # a new name; a broken path fails on the write itself
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{str(path)!r} is a {_kind_of(st.st_mode)}, not a regular file; livestyle writes only to "
                         "regular files or new names.", fix="Write to a new file name.")


_WRITE_FIXES = {
    errno.ENOSPC: "Free some disk space, or write somewhere else.",
    errno.EFBIG: "Free some disk space (or raise the file-size limit), or write somewhere else.",
    errno.EDQUOT: "Free some of your disk quota, or write somewhere else.",
    errno.EROFS: "That place is read-only; write somewhere else.",
    errno.EACCES: "Write to a folder you may write to.",
    errno.EPERM: "Write to a folder you may write to.",
    errno.ENOTDIR: "A file stands where a folder is needed; move it, or write somewhere else.",
    errno.EEXIST: "A file stands where a folder is needed; move it, or write somewhere else.",
}


def write_error(path: str | os.PathLike, exc: OSError, *, kept: bool = True) -> OutputError:
    """One-line :class:`~livestyle.errors.OutputError` for a failed write of ``path`` (from ``exc``).

    ``kept``: say that the earlier file, if any, is untouched (true for every atomic write).
    """
    if isinstance(exc, OutputError):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(Path(path))
        if blocker is not None:
            return OutputError(f"Cannot write {str(path)!r}: {str(blocker)!r} is a file, not a folder.",
                               fix="Move that file away, or write somewhere else.", errno=exc.errno)
    tail = " (the earlier file of that name is kept)" if kept and os.path.lexists(path) else ""
    return OutputError(f"Cannot write {str(path)!r}: {reason}{tail}.",
                       fix=_WRITE_FIXES.get(exc.errno, "Check that the folder exists, is writable and has free space."),
                       errno=exc.errno)


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (so nothing can be made under it)."""
    here = path.parent
    while not here.exists() and here.parent != here:
        here = here.parent
    return here if here.exists() and not here.is_dir() else None


@contextlib.contextmanager
def _as_write_error(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError of livestyle's own file operations on ``path`` into a one-line OutputError."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_name(final: Path, suffix: str = "", *, private: bool = False) -> Path:
    """A new empty file beside ``final``: mode 0600 when ``private``, else what a plain open() would give."""
    # the writer's PID in the name lets a later run tell an abandoned temporary file (its writer was
    # killed) from one being written right now (see stale_temps)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=f".tmp{suffix}", dir=final.parent)
    try:
        if not private:  # mkstemp makes 0600 files; the user's outputs get the usual 0666 & ~umask
            os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def stale_temps(path: str | os.PathLike, *, folders: bool = False) -> list[Path]:
    """Temporary files that :func:`atomic_path` made for ``path`` and whose writing process is gone.

    A SIGKILL or power cut during a write leaves ``.NAME.PID.XXXX.tmp...``
    beside the target; no process will ever finish it.  A file whose PID is
    still running (this process included) is never listed.  ``folders=True``
    lists instead the folders :func:`atomic_dir` left: ``.NAME.PID.XXXX.tmp``
    (a folder being assembled) and ``.NAME.PID.XXXX.old`` (the previous
    folder, set aside for the swap).
    """
    final = Path(path)
    prefix = f".{final.name}."
    out = []
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        rest = name[len(prefix):]
        if not name.startswith(prefix):
            continue
        if not (".tmp" in rest or (folders and rest.endswith(".old"))):
            continue
        pid_text = rest.split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        if (entry.is_dir() and not entry.is_symlink()) if folders else entry.is_file():
            out.append(entry)
    return out


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entry list to disk (after a rename into it); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_stale_temps(path: str | os.PathLike, what: str = "file") -> None:
    """Delete :func:`stale_temps` of ``path``, with a warning naming each (``what`` words it: "recording")."""
    for leftover in stale_temps(path):
        try:
            leftover.unlink()
            log.warning("removed %s, the unfinished %s of an earlier run that was killed", leftover, what)
        except OSError as exc:
            log.warning("could not remove %s, the unfinished %s of an earlier run: %s", leftover, what, exc)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, check: Callable[[Path], None] | None = None,
                keep_suffix: bool = False, private: bool = False, what: str = "file") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit check it and move it onto ``path``.

    For writers that need a file name (OpenCV's VideoWriter, safetensors,
    ONNX).  ``keep_suffix`` keeps ``path``'s extension on the temporary name,
    for writers that pick the format from it.  ``check(tmp)`` may raise to
    refuse the result; then, as on any exception, the temporary file is
    removed and ``path`` is left as it was.  ``private`` keeps the file
    readable by its owner only (mode 0600: caches, tokens).  Temporary files
    that an earlier, killed process left for the same ``path`` are removed
    first (:func:`remove_stale_temps`; ``what`` names the file in the warning).
    """
    final = Path(path)
    refuse_special(final)
    with _as_write_error(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(final, what)
        tmp = _tmp_name(final, final.suffix if keep_suffix else "", private=private)
    try:
        yield tmp
        if check is not None:
            check(tmp)
        with _as_write_error(final):
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_image(path: str | os.PathLike, image, params: Iterable[int] = (), *,
                fix: str = "Check that the folder exists, is writable and has free space.") -> Path:
    """Write ``image`` (uint8 BGR, as OpenCV takes it) to ``path`` atomically; the format follows the suffix.

    The one image writer of livestyle: datasets, contact sheets, training
    samples, captured photos and benchmark pictures all go through it, so a
    killed process or a full disk never leaves half a picture under the
    final name.  ``params`` are OpenCV's (e.g. JPEG quality).  DataError
    naming the file, with ``fix``, when OpenCV cannot write it.
    """
    import cv2

    from livestyle.errors import DataError

    with atomic_path(path, keep_suffix=True, what="image") as tmp:
        try:
            ok = cv2.imwrite(str(tmp), image, list(params))
        except cv2.error as e:  # e.g. no encoder for the suffix: OpenCV raises instead of returning False
            reason = str(e).strip().splitlines()[-1].split("error: ")[-1].split(" in function")[0]
            reason = reason.split(") ", 1)[-1]  # drop OpenCV's "(-2:Unspecified error)" code
            raise DataError(f"Cannot write image {str(path)!r} ({reason}).", fix=fix) from None
        if not ok:
            raise DataError(f"Cannot write image {str(path)!r}.", fix=fix)
    return Path(path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, check: Callable[[Path], None] | None = None,
                 encoding: str | None = "utf-8", private: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; it replaces ``path`` only if the block succeeds.

    ``mode`` is ``"w"`` (text) or ``"wb"`` (bytes).  The data is flushed and
    fsynced before the rename, so a full disk surfaces here as ``OSError``
    and the final name is never left half-written.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path, check=check, private=private) as tmp:
        with _as_write_error(path), open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2) -> None:
    """``data`` as JSON (plus a newline) at ``path``, atomically; the text is built before any file is touched."""
    write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def recover_stale_dirs(path: str | os.PathLike) -> None:
    """Tidy what a killed :func:`atomic_dir` left beside ``path``, with a warning for each.

    A folder being assembled (``.tmp``) is removed.  A previous folder set
    aside for the swap (``.old``) is put back when ``path`` is missing (the
    writer died between the two renames: the old version is the last
    complete one), else removed.
    """
    final = Path(path)
    for leftover in sorted(stale_temps(final, folders=True), key=lambda p: not p.name.endswith(".old")):
        try:
            if leftover.name.endswith(".old") and not final.exists():
                os.replace(leftover, final)
                log.warning("restored %s from %s, set aside by an earlier run that was killed", final, leftover.name)
            else:
                shutil.rmtree(leftover)
                log.warning("removed %s, left unfinished by an earlier run that was killed", leftover)
        except OSError as exc:
            log.warning("could not tidy %s, left by an earlier run that was killed: %s", leftover, exc)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it becomes ``path``.

    With ``replace=True`` an existing ``path`` is swapped out (renamed aside,
    then removed once the new folder is in place); otherwise an existing
    ``path`` raises :class:`FileExistsError` before anything is written.
    The temporary names carry the writer's PID, so what a killed writer
    left is tidied by the next write to the same ``path``
    (:func:`recover_stale_dirs`).
    """
    final = Path(path)
    with _as_write_error(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        recover_stale_dirs(final)
    if final.exists() and not replace:
        raise FileExistsError(str(final))
    prefix = f".{final.name}.{os.getpid()}."
    with _as_write_error(final):
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; the user's outputs get the usual mode
    try:
        yield tmp
        old = None
        with _as_write_error(final):
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=final.parent))
                os.rmdir(old)
                os.replace(final, old)
            os.replace(tmp, final)
        fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
