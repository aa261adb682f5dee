"""TensorRT engines: build from a style's ONNX, cache on disk, load only what this machine built.

An engine is compiled GPU code specialised to one ONNX file, one TensorRT
version, one GPU model and one input shape, so the cache key covers all of
them (:func:`engine_key`).  Each cached engine sits next to a JSON manifest
holding the key's fields, the engine file's sha256 and size, when it was
built and with which versions.  An engine is used only when its manifest
parses, names the right key and its hash matches the file byte for byte;
anything else (truncated, corrupt, edited, half-written, missing) is thrown
away and rebuilt, never loaded and never a crash.

Engines are executable code, so the cache folder is private to the user
(mode 0o700, owned by the user); a folder others can write to is repaired
(and its old entries dropped, since anyone could have planted them) or, when
that is not possible, refused.  Every file is written to a temporary name in
the same folder and ``os.replace``d, so a crash never leaves a partial file
under a final name.

The builder is a plain callable ``builder(request, out)`` that writes the
serialised engine into the binary file object ``out``; :func:`tensorrt_builder`
(in :mod:`livestyle.runners.trt.build`) is the real one, tests pass a fake one
to exercise the cache on any machine.

The work is split by job: this module is the engine cache (keys, manifests,
verification, ``ensure_engine``); :mod:`livestyle.runners.trt.build` builds
engines with TensorRT; :mod:`livestyle.runners.trt.onnx_rewrite` rewrites the ONNX
first (FP16, casts next to the uint8 I/O); :mod:`livestyle.runners.trt.target` and
:mod:`livestyle.runners.trt.files` hold what they share.  Their public names are
re-exported here (one import for the TensorRT runner and for the tools above it).
These modules sat in ``livestyle.export`` until a run needed them: a run
builds a missing engine, and nothing at run time imports ``livestyle.export``.

This module imports nothing heavy at import time: ``tensorrt``, ``torch`` and
``onnx`` are imported inside the functions that need them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from livestyle.errors import BackendError, ModelError, UsageError
from livestyle.runners.trt.files import atomic_write, fsync_dir, private_file_ok
from livestyle.runners.trt.onnx_rewrite import (make_fp16_onnx, move_casts_next_to_uint8_io,
                                               prepare_onnx_for_tensorrt)
from livestyle.runners.trt.target import BuildRequest, BuildTarget, ProgressFn
from livestyle.runners.trt.build import (detect_target, import_tensorrt, progress_monitor, read_driver_version,
                                         tensorrt_builder, trt_logger, trt_major)

log = logging.getLogger(__name__)

PRECISIONS = ("fp16", "fp32")
MANIFEST_FORMAT = 1
ENGINE_SUFFIX = ".engine"
MANIFEST_SUFFIX = ".json"



# --------------------------------------------------------------------------- key


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _key_fields(onnx_sha256: str, trt_version: str, gpu_name: str, compute_capability: str,
                precision: str, size: tuple[int, int]) -> dict:
    w, h = size
    return {"onnx_sha256": onnx_sha256, "trt_version": str(trt_version), "gpu_name": str(gpu_name),
            "compute_capability": str(compute_capability), "precision": str(precision),
            "size": [int(w), int(h)]}


def _key_from_fields(fields: dict) -> str:
    blob = json.dumps({"format": MANIFEST_FORMAT, **fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def engine_key(onnx_path: str | os.PathLike, trt_version: str, gpu_name: str, compute_capability: str,
               precision: str, size: tuple[int, int]) -> str:
    """The cache key (64 hex chars): sha256 over the ONNX file's content hash and the build target.

    ``size`` is the (width, height) the engine is built for; ``precision`` is
    ``"fp16"`` or ``"fp32"``; ``compute_capability`` is e.g. ``"9.0"``.  The
    ONNX file's path does not enter the key, only its bytes.
    """
    return _key_from_fields(_key_fields(sha256_file(onnx_path), trt_version, gpu_name,
                                        compute_capability, precision, size))


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate an inference (width, height): positive multiples of 4 (the student halves twice)."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise UsageError(f"An engine size must be (width, height); got {size!r}.", fix="Pass e.g. 1920x1080.") from None
    if w <= 0 or h <= 0 or w % 4 or h % 4:
        raise UsageError(f"An engine size must be positive multiples of 4; got {w}x{h}.",
                         fix="Round the width and height to multiples of 4, e.g. 1920x1080 or 1280x720.")
    return w, h


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise UsageError(f"Precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.",
                         fix="Use --precision fp16 (fast) or fp32 (exact).")
    return precision


# --------------------------------------------------------------------------- where


def _checkout_root() -> Path | None:
    """The repository root when livestyle runs from a git checkout (editable install), else None."""
    root = Path(__file__).resolve().parents[3]  # livestyle/runners/trt/cache.py -> the checkout
    if (root / "pyproject.toml").is_file() and (root / ".git").exists() and (root / "livestyle").is_dir():
        return root
    return None


def default_engines_dir() -> Path:
    """Where engines are cached, first match wins.

    1. ``$LIVESTYLE_HOME/engines`` when ``LIVESTYLE_HOME`` is set;
    2. ``engines/`` at the repository root when running from a checkout;
    3. ``$XDG_CACHE_HOME/livestyle/engines`` (default ``~/.cache/livestyle/engines``).
    """
    home = os.environ.get("LIVESTYLE_HOME")
    if home:
        return Path(home) / "engines"
    root = _checkout_root()
    if root is not None:
        return root / "engines"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "livestyle" / "engines"


Builder = Callable[[BuildRequest, BinaryIO], None]


@dataclass(frozen=True)
class EngineEntry:
    """A verified cache entry: its key, engine file, manifest, and whether this call built it."""

    key: str
    path: Path
    manifest: dict
    built: bool = False


# --------------------------------------------------------------------------- the cache


class EngineCache:
    """Engines and their manifests in one private folder.

    File names are ``{w}x{h}-{precision}-{key[:24]}.engine`` and the same
    stem with ``.json``.  ``builds`` counts the engines built through this
    object and ``rebuild_reasons`` says why each cached entry was not usable
    (``"no manifest"``, ``"bad manifest"``, ``"missing engine"``,
    ``"size mismatch"``, ``"hash mismatch"``, ...).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_engines_dir()
        self.builds = 0
        self.rebuild_reasons: list[str] = []
        self._checked = False

    # ---- folder

    def ensure_private(self) -> Path:
        """Create the folder (0o700) or check an existing one; repair or refuse one others can write.

        Raises BackendError when the folder belongs to another user or its
        permissions cannot be fixed.
        """
        root = self.root
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.stat(root)
        except OSError as e:
            raise BackendError(f"Cannot create the engine cache folder {str(root)!r} ({e.strerror}).",
                               fix="Set LIVESTYLE_HOME to a folder you can write, or pass --engines-dir.") from None
        if not stat.S_ISDIR(st.st_mode):
            raise BackendError(f"The engine cache {str(root)!r} is not a folder.",
                               fix="Remove that file, set LIVESTYLE_HOME elsewhere, or pass --engines-dir.")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise BackendError(f"The engine cache {str(root)!r} belongs to another user (uid {st.st_uid}); "
                               "engines are executable code and are loaded only from a folder you own.",
                               fix="Set LIVESTYLE_HOME to a folder of your own, or pass --engines-dir.")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            try:
                os.chmod(root, 0o700)
            except OSError as e:
                raise BackendError(f"The engine cache {str(root)!r} has mode {mode:o} and cannot be made private "
                                   f"({e.strerror}).", fix=f"Run `chmod 700 {root}`, or pass --engines-dir.") from None
            if mode & 0o022:
                # others could write here: whatever is in the folder may have been planted
                dropped = self._drop_all_entries()
                log.warning("engine cache %s was writable by other users (mode %o); made it 0700 and dropped %d "
                            "entries it held", root, mode, dropped)
            else:
                log.info("engine cache %s had mode %o; made it 0700", root, mode)
        self._checked = True
        return root

    def _drop_all_entries(self) -> int:
        n = 0
        for p in list(self.root.iterdir()):
            if p.suffix in (ENGINE_SUFFIX, MANIFEST_SUFFIX, ".cache") and p.is_file():
                try:
                    p.unlink()
                    n += 1
                except OSError:  # pragma: no cover
                    pass
        return n

    # ---- names

    def stem(self, key: str, size: tuple[int, int], precision: str) -> str:
        w, h = size
        return f"{w}x{h}-{precision}-{key[:24]}"

    def paths(self, key: str, size: tuple[int, int], precision: str) -> tuple[Path, Path]:
        """(engine file, manifest file) for a key."""
        stem = self.stem(key, size, precision)
        return self.root / (stem + ENGINE_SUFFIX), self.root / (stem + MANIFEST_SUFFIX)

    def timing_cache_path(self, target: BuildTarget) -> Path:
        """One TensorRT timing cache per TensorRT version and GPU (tactic timings are reused across builds)."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", f"{target.trt_version}-{target.gpu_name}-sm{target.compute_capability}")
        return self.root / f"timing-{slug}.cache"

    # ---- lookup

    def _invalid(self, reason: str, key: str) -> None:
        self.rebuild_reasons.append(reason)
        log.info("engine %s… not usable (%s); it will be rebuilt", key[:12], reason)

    def lookup(self, key: str, size: tuple[int, int], precision: str) -> EngineEntry | None:
        """The verified entry for ``key``, or None (and the reason appended to ``rebuild_reasons``)."""
        engine, manifest_path = self.paths(key, size, precision)
        if not manifest_path.exists() and not engine.exists():
            return None  # plain miss, not a broken entry
        bad = private_file_ok(manifest_path)
        if bad == "missing":
            self._invalid("no manifest", key)
            return None
        if bad:
            self._invalid(f"manifest {bad}", key)
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            self._invalid("bad manifest", key)
            return None
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            self._invalid("bad manifest", key)
            return None
        if manifest.get("key") != key or manifest.get("engine_file") != engine.name:
            self._invalid("manifest for another key", key)
            return None
        fields = {k: manifest.get(k) for k in ("onnx_sha256", "trt_version", "gpu_name", "compute_capability",
                                                 "precision", "size")}
        try:
            recomputed = _key_from_fields(fields)
        except (TypeError, ValueError):
            recomputed = ""
        if recomputed != key:
            self._invalid("manifest fields do not match the key", key)
            return None
        bad = private_file_ok(engine)
        if bad == "missing":
            self._invalid("missing engine", key)
            return None
        if bad:
            self._invalid(f"engine {bad}", key)
            return None
        if engine.stat().st_size != manifest.get("engine_bytes"):
            self._invalid("size mismatch", key)
            return None
        if sha256_file(engine) != manifest.get("engine_sha256"):
            self._invalid("hash mismatch", key)
            return None
        return EngineEntry(key=key, path=engine, manifest=manifest, built=False)

    def read_verified(self, entry: EngineEntry) -> bytes:
        """The engine's bytes, hashed again after reading (what is deserialised is what was checked).

        Raises BackendError if the file changed since it was verified.
        """
        data = entry.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.manifest.get("engine_sha256"):
            raise BackendError(f"The engine {entry.path.name} changed on disk after it was verified.",
                               fix="Run `livestyle build-engine` again; if it repeats, check who writes to "
                                   f"{entry.path.parent}.")
        return data

    def invalidate(self, entry: EngineEntry | str, size: tuple[int, int] | None = None,
                   precision: str | None = None) -> None:
        """Remove an entry's engine and manifest (e.g. when TensorRT refuses to deserialise it)."""
        if isinstance(entry, EngineEntry):
            engine, manifest = entry.path, entry.path.with_suffix(MANIFEST_SUFFIX)
        else:
            engine, manifest = self.paths(entry, size, precision)
        for p in (manifest, engine):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    # ---- store

    def build(self, request: BuildRequest, builder: Builder, key: str) -> EngineEntry:
        """Run ``builder`` into a temp file, then publish engine and manifest atomically."""
        engine, manifest_path = self.paths(key, request.size, request.precision)
        self.invalidate(key, request.size, request.precision)  # the manifest goes first: no stale pairing
        t0 = time.perf_counter()
        atomic_write(engine, lambda f: builder(request, f))
        seconds = time.perf_counter() - t0
        nbytes = engine.stat().st_size
        if nbytes == 0:
            engine.unlink()
            raise BackendError("The engine builder produced an empty engine.",
                               fix="Run again with -vv to see the TensorRT log.")
        fields = _key_fields(sha256_file(request.onnx_path) if request.onnx_path.exists() else "",
                             request.target.trt_version, request.target.gpu_name,
                             request.target.compute_capability, request.precision, request.size)
        manifest = {
            "format": MANIFEST_FORMAT,
            "key": key,
            **fields,
            "engine_file": engine.name,
            "engine_sha256": sha256_file(engine),
            "engine_bytes": nbytes,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 3),
            "onnx_path": str(request.onnx_path),
            "builder_versions": dict(request.target.versions),
        }
        if _key_from_fields(fields) != key:  # the ONNX changed while we were building
            engine.unlink()
            raise BackendError(f"{request.onnx_path} changed while its engine was being built.",
                               fix="Run the command again once the style pack is no longer being written.")
        data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        atomic_write(manifest_path, lambda f: f.write(data))
        self.builds += 1
        return EngineEntry(key=key, path=engine, manifest=manifest, built=True)

    def entries(self) -> list[dict]:
        """Manifests of the valid-looking entries (for ``doctor``); does not hash engines."""
        out = []
        if not self.root.is_dir():
            return out
        for p in sorted(self.root.glob("*" + MANIFEST_SUFFIX)):
            try:
                m = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT:
                out.append(m)
        return out


# --------------------------------------------------------------------------- ensure


def ensure_engine_entry(onnx_path: str | os.PathLike, size: tuple[int, int], precision: str = "fp16", *,
                        cache: EngineCache | None = None, target: BuildTarget | None = None,
                        builder: Builder | None = None, progress: ProgressFn | None = None,
                        force: bool = False) -> EngineEntry:
    """A verified engine for ``onnx_path`` at ``size`` (w, h) and ``precision``: cached, else built now.

    ``target`` defaults to this machine's TensorRT and GPU (:func:`detect_target`,
    which needs tensorrt and CUDA) and ``builder`` to :func:`tensorrt_builder`.
    A broken cache entry is rebuilt; ``force`` rebuilds a good one too.
    """
    onnx_path = Path(onnx_path)
    size = check_size(size)
    precision = check_precision(precision)
    if not onnx_path.is_file():
        raise ModelError(f"No ONNX file at {str(onnx_path)!r} to build an engine from.",
                         fix="Check the style pack (`livestyle styles`), or re-export it.")
    cache = cache if cache is not None else EngineCache()
    cache.ensure_private()
    if target is None:
        target = detect_target()
    if builder is None:
        builder = tensorrt_builder
    key = engine_key(onnx_path, target.trt_version, target.gpu_name, target.compute_capability, precision, size)
    if not force:
        entry = cache.lookup(key, size, precision)
        if entry is not None:
            log.info("using cached engine %s", entry.path)
            return entry
    with tempfile.TemporaryDirectory(prefix=".work-", dir=cache.root) as work:
        request = BuildRequest(onnx_path=onnx_path, size=size, precision=precision, target=target,
                               work_dir=Path(work), timing_cache=cache.timing_cache_path(target),
                               progress=progress)
        log.warning("building a %s TensorRT engine for %s at %dx%d (once per style, size and GPU; up to a minute)",
                    precision, onnx_path, *size)
        return cache.build(request, builder, key)


def ensure_engine(onnx_path: str | os.PathLike, size: tuple[int, int], precision: str = "fp16", **kwargs) -> Path:
    """Path of a verified engine (see :func:`ensure_engine_entry` for the arguments)."""
    return ensure_engine_entry(onnx_path, size, precision, **kwargs).path


__all__ = ["BuildRequest", "BuildTarget", "Builder", "EngineCache", "EngineEntry", "PRECISIONS", "ProgressFn",
           "atomic_write", "check_precision", "check_size", "default_engines_dir", "detect_target", "engine_key",
           "ensure_engine", "ensure_engine_entry", "fsync_dir", "import_tensorrt", "make_fp16_onnx",
           "move_casts_next_to_uint8_io", "prepare_onnx_for_tensorrt", "private_file_ok", "progress_monitor",
           "read_driver_version", "sha256_file", "tensorrt_builder", "trt_logger", "trt_major"]
