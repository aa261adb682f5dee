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
is the real one, tests pass a fake one to exercise the cache on any machine.

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
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from livestyle.errors import BackendError, ModelError, UsageError

log = logging.getLogger(__name__)

PRECISIONS = ("fp16", "fp32")
MANIFEST_FORMAT = 1
ENGINE_SUFFIX = ".engine"
MANIFEST_SUFFIX = ".json"

#: ``progress(phase, done, total)``: ``phase`` is a " > "-joined path of
#: TensorRT optimiser phases, ``done`` of ``total`` steps are finished.
ProgressFn = Callable[[str, int, int], None]


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
    root = Path(__file__).resolve().parents[2]
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


# --------------------------------------------------------------------------- build target / request


@dataclass(frozen=True)
class BuildTarget:
    """What an engine is specialised to besides the ONNX file: TensorRT version and GPU.

    ``versions`` records the builder's software (tensorrt, torch, CUDA,
    driver) in the manifest; it is informational and not part of the key.
    """

    trt_version: str
    gpu_name: str
    compute_capability: str
    versions: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BuildRequest:
    """Everything a builder needs: the ONNX to compile, the exact input shape and precision."""

    onnx_path: Path
    size: tuple[int, int]           # (width, height); the engine's input is uint8 (1, h, w, 3) BGR
    precision: str                  # "fp16" | "fp32"
    target: BuildTarget
    work_dir: Path                  # private scratch folder for intermediate files (removed afterwards)
    timing_cache: Path | None = None  # TensorRT timing cache to read and update, if any
    progress: ProgressFn | None = None


Builder = Callable[[BuildRequest, BinaryIO], None]


@dataclass(frozen=True)
class EngineEntry:
    """A verified cache entry: its key, engine file, manifest, and whether this call built it."""

    key: str
    path: Path
    manifest: dict
    built: bool = False


# --------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
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
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _private_file_ok(path: Path) -> str | None:
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
        bad = _private_file_ok(manifest_path)
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
        bad = _private_file_ok(engine)
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


# --------------------------------------------------------------------------- TensorRT


def import_tensorrt():
    """``import tensorrt`` or a BackendError that says why and how to fix it."""
    try:
        import tensorrt as trt
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == "tensorrt":
            raise BackendError("TensorRT is not installed (no `tensorrt` Python package).",
                               fix="On a machine with an NVIDIA GPU: pip install 'livestyle[tensorrt]'.") from None
        raise BackendError(f"The tensorrt package is installed but does not load ({e}).",
                           fix="Reinstall it matching your CUDA version: pip install --force-reinstall tensorrt-cu12 "
                               "(or tensorrt-cu13).") from None
    if not hasattr(trt, "Builder"):
        raise BackendError(f"Only the TensorRT runtime is installed (tensorrt {getattr(trt, '__version__', '?')} has "
                           "no Builder); building engines needs the full package.",
                           fix="pip install 'livestyle[tensorrt]' (tensorrt-cu12 or tensorrt-cu13).")
    return trt


def trt_major(version: str) -> int:
    """Major version of a TensorRT version string ("10.9.0.34" -> 10)."""
    m = re.match(r"\s*(\d+)", str(version))
    return int(m.group(1)) if m else 0


def detect_target() -> BuildTarget:
    """This machine's TensorRT version and GPU 0 (name, compute capability), with versions for the manifest."""
    trt = import_tensorrt()
    try:
        import torch
    except ImportError:
        raise BackendError("The TensorRT backend needs torch (with CUDA) for its GPU buffers; torch is not installed.",
                           fix="pip install torch (a CUDA build) on the GPU machine.") from None
    if not torch.cuda.is_available():
        raise BackendError("CUDA is not usable from torch here (torch.cuda.is_available() is False).",
                           fix="Install the NVIDIA driver and a CUDA build of torch, or pick --backend onnxruntime.")
    props = torch.cuda.get_device_properties(0)
    versions = {"tensorrt": trt.__version__, "torch": torch.__version__, "cuda": str(torch.version.cuda),
                "python": sys.version.split()[0]}
    from livestyle import __version__ as livestyle_version

    versions["livestyle"] = livestyle_version
    driver = _read_driver_version()
    if driver:
        versions["driver"] = driver
    return BuildTarget(trt_version=trt.__version__, gpu_name=props.name,
                       compute_capability=f"{props.major}.{props.minor}", versions=versions)


def _read_driver_version() -> str | None:
    from livestyle.runners.base import nvidia_driver

    line = nvidia_driver()
    if line is None:
        return None
    m = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", line) or re.search(r"\s(\d+\.\d+(?:\.\d+)?)\s", line)
    return m.group(1) if m else line.strip()


def _progress_monitor(trt, report: ProgressFn):
    """A ``trt.IProgressMonitor`` forwarding phases and steps to ``report(phase_path, done, total)``."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._parent: dict[str, str | None] = {}
            self._total: dict[str, int] = {}

        def _path(self, phase: str) -> str:
            parts, p, seen = [], phase, set()
            while p is not None and p not in seen:
                seen.add(p)
                parts.append(p)
                p = self._parent.get(p)
            return " > ".join(reversed(parts))

        def phase_start(self, phase_name, parent_phase, num_steps):
            try:
                with self._lock:
                    self._parent[phase_name] = parent_phase
                    self._total[phase_name] = int(num_steps)
                    path = self._path(phase_name)
                report(path, 0, int(num_steps))
            except Exception:  # never let a display problem escape into TensorRT
                log.debug("progress report failed", exc_info=True)

        def step_complete(self, phase_name, step):
            try:
                with self._lock:
                    path, total = self._path(phase_name), self._total.get(phase_name, 0)
                report(path, int(step) + 1, total)
            except Exception:
                log.debug("progress report failed", exc_info=True)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            try:
                with self._lock:
                    path, total = self._path(phase_name), self._total.get(phase_name, 0)
                report(path, total, total)
            except Exception:
                log.debug("progress report failed", exc_info=True)

    return Monitor()


def _trt_logger(trt):
    """A TensorRT logger that forwards into ``logging`` (warnings and errors as such)."""

    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)

        def log(self, severity, msg):
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR):
                log.error("TensorRT: %s", msg)
            elif severity == sev.WARNING:
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


def tensorrt_builder(request: BuildRequest, out: BinaryIO) -> None:
    """Compile ``request.onnx_path`` into a serialised TensorRT engine written to ``out``.

    The engine's input ``bgr`` is uint8 (1, h, w, 3) BGR (an optimisation
    profile with min = opt = max = that shape) and its output ``out`` the
    same.  Precision: fp32 builds a strongly typed network from the ONNX as
    is.  fp16 on TensorRT 10 sets ``BuilderFlag.FP16`` on a weakly typed
    network; on TensorRT 11 (which removed that flag and weak typing) it
    builds a strongly typed network from an FP16 copy of the ONNX
    (:func:`make_fp16_onnx`).  The timing cache at ``request.timing_cache``
    is loaded when present and saved (atomically) after the build.
    """
    trt = import_tensorrt()
    w, h = request.size
    logger = _trt_logger(trt)
    builder = trt.Builder(logger)
    legacy_fp16 = request.precision == "fp16" and hasattr(trt.BuilderFlag, "FP16")
    flag_enum = trt.NetworkDefinitionCreationFlag
    strongly_typed = not legacy_fp16 and hasattr(flag_enum, "STRONGLY_TYPED")
    flags = (1 << int(flag_enum.STRONGLY_TYPED)) if strongly_typed else 0
    network = builder.create_network(flags)

    onnx_for_trt = request.work_dir / "model.onnx"
    prepare_onnx_for_tensorrt(request.onnx_path, onnx_for_trt,
                              fp16=request.precision == "fp16" and not legacy_fp16)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_for_trt)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
        raise BackendError(f"TensorRT could not parse {request.onnx_path.name}: {errors[:400]}.",
                           fix="Re-export the style with `livestyle train --resume`, or use --backend torch.")
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    images = [t for t in inputs if t.name != "weights"]
    looks = [t for t in inputs if t.name == "weights"]  # a multi-look engine: float32 (1, K), a fixed shape
    if len(images) != 1 or len(looks) > 1 or network.num_outputs != 1:
        raise ModelError(f"{request.onnx_path.name} has {network.num_inputs} inputs and {network.num_outputs} "
                         "outputs; expected an image input (plus an optional 'weights' input) and 1 output.",
                         fix="Re-export the style pack.")
    inp, outp = images[0], network.get_output(0)
    if inp.dtype != trt.uint8 or outp.dtype != trt.uint8:
        raise ModelError(f"{request.onnx_path.name} takes {inp.dtype} and returns {outp.dtype}; expected uint8 "
                         "BGR in and out.", fix="Re-export the style pack.")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if legacy_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = (1, h, w, 3)
    profile.set_shape(inp.name, shape, shape, shape)
    config.add_optimization_profile(profile)

    timing_data = b""
    if request.timing_cache is not None and request.timing_cache.is_file() \
            and _private_file_ok(request.timing_cache) is None:
        timing_data = request.timing_cache.read_bytes()
    try:
        timing = config.create_timing_cache(timing_data)
    except Exception:  # a corrupt timing cache only costs time: start empty
        log.warning("ignoring unreadable TensorRT timing cache %s", request.timing_cache)
        timing = config.create_timing_cache(b"")
    config.set_timing_cache(timing, True)  # ignore_mismatch: a cache from another device only costs time

    monitor = None
    if request.progress is not None and hasattr(trt, "IProgressMonitor"):
        monitor = _progress_monitor(trt, request.progress)
        config.progress_monitor = monitor

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine for {request.onnx_path.name} at {w}x{h} "
                           f"({request.precision}).", fix="Run with -vv for TensorRT's log; try --precision fp32.")
    out.write(memoryview(serialized))

    if request.timing_cache is not None:
        try:
            data = bytes(memoryview(config.get_timing_cache().serialize()))
            atomic_write(request.timing_cache, lambda f: f.write(data))
        except Exception:  # the engine is fine without it
            log.warning("could not save the TensorRT timing cache", exc_info=True)
    del monitor


# --------------------------------------------------------------------------- ONNX rewrites


# (op_type, input index) whose float inputs must stay float32 in an FP16 graph
_KEEP_FLOAT32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise BackendError("Building a TensorRT engine needs the onnx package, which is not installed.",
                           fix="pip install 'livestyle[tensorrt]' (or pip install onnx).") from None
    return onnx


def _load_onnx(path):
    onnx = _import_onnx()
    try:
        return onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"{path} is not a readable ONNX model ({type(e).__name__}).",
                         fix="Re-export the style pack with `livestyle train --resume`.") from None


def _consumers(graph) -> dict[str, list[tuple[object, int]]]:
    uses: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                uses.setdefault(name, []).append((node, i))
    return uses


def _stays_float32(name: str, uses: dict) -> bool:
    keep = [(n.op_type, i) in _KEEP_FLOAT32_INPUTS for n, i in uses.get(name, [])]
    if any(keep) and not all(keep):
        raise ModelError(f"Tensor {name!r} feeds both float32-only inputs and ordinary ones; cannot convert to FP16.",
                         fix="Build with --precision fp32.")
    return bool(keep) and all(keep)


def _tensor_to_fp16(tensor):
    import numpy as np
    from onnx import numpy_helper

    arr = numpy_helper.to_array(tensor)
    if np.isfinite(arr).all() and np.abs(arr).max(initial=0.0) > 65504.0:
        raise ModelError(f"Constant {tensor.name!r} holds values beyond FP16's range.", fix="Build with --precision fp32.")
    return numpy_helper.from_array(arr.astype(np.float16), tensor.name)


def make_fp16_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write an FP16 copy of a float32 ONNX graph, keeping uint8 I/O; returns ``dst``.

    Float32 initializers and ``Constant``/``ConstantOfShape`` values become
    float16, ``Cast(to=FLOAT)`` becomes ``Cast(to=FLOAT16)`` (so the uint8
    input is cast straight to half and the final cast to uint8 starts from
    half), float graph inputs/outputs become float16.  Inputs that ONNX
    requires in float32 (Resize ``roi``/``scales``) stay float32.  The result
    is type-checked with ONNX's strict shape inference; a graph this cannot
    convert raises ModelError.
    """
    onnx = _import_onnx()
    from onnx import TensorProto, helper

    model = _load_onnx(src)
    graph = model.graph
    uses = _consumers(graph)
    f32, f16 = TensorProto.FLOAT, TensorProto.FLOAT16

    for init in graph.initializer:
        if init.data_type == f32 and not _stays_float32(init.name, uses):
            init.CopyFrom(_tensor_to_fp16(init))
    for node in graph.node:
        out = node.output[0] if node.output else ""
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == f32 and not _stays_float32(out, uses):
                    a.i = f16
        elif node.op_type in ("Constant", "ConstantOfShape"):
            if _stays_float32(out, uses):
                continue
            for a in list(node.attribute):
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR and a.t.data_type == f32:
                    a.t.CopyFrom(_tensor_to_fp16(a.t))
                elif a.name in ("value_float", "value_floats") and node.op_type == "Constant":
                    import numpy as np
                    from onnx import numpy_helper

                    vals = np.array(a.f if a.name == "value_float" else list(a.floats), dtype=np.float16)
                    node.attribute.remove(a)
                    node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(vals)))
            if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
                # the default value is float32 zero
                node.attribute.append(helper.make_attribute(
                    "value", helper.make_tensor("value", f16, [1], [0.0])))
        elif node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike"):
            raise ModelError(f"{node.op_type} in the graph is not supported by the FP16 conversion.",
                             fix="Build with --precision fp32.")
    for vi in list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == f32:
            vi.type.tensor_type.elem_type = f16
    del graph.value_info[:]  # stale float32 annotations; re-inferred below
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(inferred)
    except Exception as e:
        raise ModelError(f"The FP16 conversion of {Path(src).name} is not a consistent graph ({str(e)[:300]}).",
                         fix="Build with --precision fp32.") from None
    dst = Path(dst)
    data = model.SerializeToString()
    atomic_write(dst, lambda f: f.write(data))
    return dst


def _move_casts_next_to_uint8_io(graph) -> int:
    """Rewrite ``uint8 in -> Transpose -> Cast`` as ``Cast -> Transpose`` and ``Cast(uint8) -> Transpose -> out``
    as ``Transpose -> Cast``, so no layer but a cast touches a uint8 tensor (TensorRT allows uint8 only at
    network I/O through casts).  The two orders compute the same values.  Returns the number of swaps.
    """
    from onnx import TensorProto

    swaps = 0
    nodes = list(graph.node)
    index = {id(n): i for i, n in enumerate(nodes)}
    uses = _consumers(graph)
    for vi in graph.input:
        if vi.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        users = uses.get(vi.name, [])
        if len(users) != 1 or users[0][0].op_type != "Transpose":
            continue
        t = users[0][0]
        after = uses.get(t.output[0], [])
        if len(after) != 1 or after[0][0].op_type != "Cast":
            continue
        c = after[0][0]
        mid, final = t.output[0], c.output[0]
        c.input[0], c.output[0] = vi.name, mid
        t.input[0], t.output[0] = mid, final
        i, j = index[id(t)], index[id(c)]
        nodes[i], nodes[j] = nodes[j], nodes[i]
        index[id(t)], index[id(c)] = j, i
        swaps += 1
    producers = {o: n for n in nodes for o in n.output}
    for vi in graph.output:
        if vi.type.tensor_type.elem_type != TensorProto.UINT8:
            continue
        t = producers.get(vi.name)
        if t is None or t.op_type != "Transpose":
            continue
        c = producers.get(t.input[0])
        if c is None or c.op_type != "Cast" or len(uses.get(c.output[0], [])) != 1:
            continue
        src, mid = c.input[0], c.output[0]
        t.input[0], t.output[0] = src, mid
        c.input[0], c.output[0] = mid, vi.name
        i, j = index[id(c)], index[id(t)]
        nodes[i], nodes[j] = nodes[j], nodes[i]
        index[id(c)], index[id(t)] = j, i
        swaps += 1
    if swaps:
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.value_info[:]
    return swaps


def prepare_onnx_for_tensorrt(src: str | os.PathLike, dst: str | os.PathLike, *, fp16: bool) -> Path:
    """The ONNX TensorRT compiles: casts moved next to the uint8 I/O, and FP16 when ``fp16``; returns ``dst``.

    Same contract as the source: ``bgr`` uint8 (1, H, W, 3) BGR in, ``out``
    uint8 (1, H, W, 3) BGR out.
    """
    onnx = _import_onnx()
    dst = Path(dst)
    source = Path(src)
    if fp16:
        make_fp16_onnx(source, dst)
        source = dst
    model = _load_onnx(source)
    _move_casts_next_to_uint8_io(model.graph)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # pragma: no cover - the rewrite keeps the graph valid
        raise ModelError(f"Preparing {Path(src).name} for TensorRT broke the graph ({str(e)[:300]}).",
                         fix="Build with --precision fp32, or use --backend torch.") from None
    data = model.SerializeToString()
    atomic_write(dst, lambda f: f.write(data))
    return dst
