"""Real portraits for the people tests and benchmarks, and moving clips made from them.

* the astronaut (Eileen Collins, NASA, public domain) from scikit-image;
* Grace Hopper, 512x512 (US Navy, public domain), in the examples of Debian's ``facedetect`` package,
  fetched with ``apt-get download facedetect`` into ``benchmarks/.cache/portraits`` on first use;
* the photos in the ``face-recognition==1.3.0`` source archive's ``tests/test_images`` (official
  photographs; fetched with ``pip download --no-deps --no-binary :all:``).

Each getter returns a uint8 BGR image, or None with :func:`missing_reason` saying why (offline, no apt).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np

CACHE = Path(__file__).resolve().parents[2] / "benchmarks" / ".cache" / "portraits"
_why: dict[str, str] = {}


def missing_reason(name: str) -> str:
    return _why.get(name, f"{name} is not available")


def astronaut() -> np.ndarray:
    import skimage.data

    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def grace_hopper() -> np.ndarray | None:
    out = CACHE / "grace_hopper_512x512.jpg"
    if not out.is_file():
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            _why["grace_hopper"] = "Grace Hopper's portrait needs apt-get and dpkg-deb (Debian's facedetect package)"
            return None
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(["apt-get", "download", "facedetect"], cwd=tmp, capture_output=True, text=True)
            debs = list(Path(tmp).glob("facedetect*.deb"))
            if r.returncode != 0 or not debs:
                _why["grace_hopper"] = f"`apt-get download facedetect` failed: {r.stderr.strip()[-200:]}"
                return None
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(Path(tmp) / "x")], check=True)
            src = next((Path(tmp) / "x").rglob("grace_hopper_512x512.jpg"), None)
            if src is None:
                _why["grace_hopper"] = "the facedetect package holds no grace_hopper_512x512.jpg"
                return None
            CACHE.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
    return cv2.imread(str(out))


def face_recognition_photos() -> dict[str, np.ndarray]:
    """name -> image for the sdist's test photos (empty when it cannot be fetched)."""
    folder = CACHE / "face_recognition"
    if not folder.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                "--quiet", "-d", tmp, "face-recognition==1.3.0"], capture_output=True, text=True)
            tars = list(Path(tmp).glob("face_recognition-1.3.0.tar.gz"))
            if r.returncode != 0 or not tars:
                _why["face_recognition"] = f"pip could not download face-recognition==1.3.0: {r.stderr.strip()[-200:]}"
                return {}
            staging = Path(tmp) / "photos"
            staging.mkdir()
            with tarfile.open(tars[0]) as tf:
                for m in tf.getmembers():
                    if "/tests/test_images/" in m.name and m.name.endswith(".jpg") and m.isfile():
                        data = tf.extractfile(m).read()
                        (staging / Path(m.name).name).write_bytes(data)
            CACHE.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), folder)
    return {p.stem: cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))}


def place(portrait: np.ndarray, background: np.ndarray, *, scale: float = 1.0, dx: int = 0, dy: int = 0) -> np.ndarray:
    """The portrait, scaled to the background's height x ``scale``, over the background's centre (+dx, dy),
    bottom-aligned like a person at a desk: uint8 BGR at the background's size."""
    H, W = background.shape[:2]
    h = max(8, int(round(H * scale)))
    w = max(8, int(round(portrait.shape[1] * h / portrait.shape[0])))
    p = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_AREA if h < portrait.shape[0] else cv2.INTER_LINEAR)
    out = background.copy()
    x0, y0 = (W - w) // 2 + dx, H - h + dy
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xb > xa and yb > ya:
        out[ya:yb, xa:xb] = p[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def clip(portrait: np.ndarray, size: tuple[int, int], frames: int, *, motion: str = "still", noise: float = 3.0,
         background: np.ndarray | None = None, seed: int = 0) -> list[np.ndarray]:
    """Frames (uint8 BGR at ``size`` (W, H)) of a portrait: ``still``, ``pan`` (a slow sideways sway),
    ``zoom`` (leaning in and out) or ``bgmove`` (the background slides behind a still person), with
    Gaussian camera noise of ``noise`` levels (std) on every frame."""
    W, H = size
    rng = np.random.default_rng(seed)
    if background is None:
        background = np.full((H, W, 3), (120, 140, 150), np.uint8)
    bg = cv2.resize(background, (W, H))
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        dx, scale, b = 0, 1.0, bg
        if motion == "pan":
            dx = int(round(0.12 * W * np.sin(2 * np.pi * t)))
        elif motion == "zoom":
            scale = 1.0 + 0.15 * np.sin(2 * np.pi * t)
        elif motion == "bgmove":
            b = np.roll(bg, int(round(0.2 * W * t)), axis=1)
        elif motion != "still":
            raise ValueError(motion)
        f = place(portrait, b, scale=scale, dx=dx)
        if noise > 0:
            f = np.clip(f.astype(np.float32) + rng.normal(0, noise, f.shape), 0, 255).astype(np.uint8)
        out.append(f)
    return out
