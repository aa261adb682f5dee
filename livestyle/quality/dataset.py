"""Unpaired datasets for the quality benchmark, from what a machine has offline.

Sources are procedurally generated scenes (rooms, face-like figures,
textures, gradients, under varied lighting) and, when scikit-image is
installed (``pip install livestyle[bench]``), the public-domain / CC0
photographs shipped inside its wheel (``skimage/data``; licences from the
docstrings of ``skimage.data``).  Every image's provenance and licence is
written to ``provenance.json``.

A dataset folder for look ``L``::

    trainA/NNNN.png         content: unstyled images (sources set A)
    trainB/NNNN.png         style: L applied to a DIFFERENT set of sources (set B)
    test/input/NNNN.png     held-out sources (set C), unstyled
    test/target/NNNN.png    L applied to test/input (the true look)
    clips/NAME.avi          moving clips over held-out sources (lossless FFV1)
    provenance.json         source, licence, crop and seed of every file

The three source sets are disjoint: different photographs and different
random seeds for the procedural scenes, so trainA/trainB are truly unpaired
and the test images were never seen in either.

All images are uint8 BGR (H, W, 3), 0..255, written as PNG.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from livestyle import looks
from livestyle.errors import DataError
from livestyle.fsutil import write_image

log = logging.getLogger(__name__)

PROCEDURAL_LICENCE = "generated procedurally by livestyle (MIT, same as the code)"
SPLIT_SEEDS = {"trainA": 1, "trainB": 2, "test": 3, "clips": 4}  # disjoint random streams per split


@dataclass(frozen=True)
class PackagedPhoto:
    """A photograph shipped inside an installed package, with its licence."""

    package: str
    relpath: str        # path inside the package folder
    title: str
    licence: str
    url: str
    split: str          # which disjoint source set it belongs to: trainA, trainB or test


# Only images whose licence scikit-image documents as public domain or CC0 in
# ``skimage/data/_fetchers.py`` (checked for scikit-image 0.26.0).
SKIMAGE_PHOTOS: tuple[PackagedPhoto, ...] = (
    PackagedPhoto("skimage", "data/chelsea.png", "Chelsea the cat, by Stefan van der Walt",
                  "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.chelsea", "trainA"),
    PackagedPhoto("skimage", "data/camera.png", "Man with a camera, by Lav Varshney (greyscale)",
                  "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.camera", "trainA"),
    PackagedPhoto("skimage", "data/gravel.png", "Gravel04 texture, CC0Textures (greyscale)",
                  "CC0", "https://cc0textures.com/view.php?tex=Gravel04", "trainA"),
    PackagedPhoto("skimage", "data/coffee.png", "Coffee cup, by Rachel Michetti (Pikolo Espresso Bar)",
                  "CC0", "https://scikit-image.org/docs/stable/api/skimage.data.html#skimage.data.coffee", "trainB"),
    PackagedPhoto("skimage", "data/hubble_deep_field.jpg", "Hubble eXtreme Deep Field, NASA",
                  "public domain (NASA)", "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
                  "trainB"),
    PackagedPhoto("skimage", "data/brick.png", "Bricks25 texture, CC0Textures (greyscale)",
                  "CC0", "https://cc0textures.com/view.php?tex=Bricks25", "trainB"),
    PackagedPhoto("skimage", "data/grass.png", "Grass 01, by linolafett (greyscale)",
                  "CC0", "https://www.deviantart.com/linolafett/art/Grass-01-434853879", "trainB"),
    PackagedPhoto("skimage", "data/astronaut.png", "Astronaut Eileen Collins, NASA",
                  "public domain (NASA)", "https://flic.kr/p/r9qvLn", "test"),
    PackagedPhoto("skimage", "data/rocket.jpg", "DSCOVR launch on Falcon 9, SpaceX",
                  "public domain (released by SpaceX)",
                  "https://www.flickr.com/photos/spacexphotos/16511594820/in/photostream/", "test"),
)


@dataclass(frozen=True)
class DatasetConfig:
    """What :func:`make_dataset` writes.  Sizes are pixels; counts are images."""

    look: str
    size: int = 256            # square side of the training/test images
    n_content: int = 400       # trainA
    n_style: int = 400         # trainB
    n_test: int = 24           # test/input + test/target
    n_clips: int = 3           # clips/*.avi
    clip_frames: int = 64
    clip_size: tuple[int, int] = (320, 240)  # (width, height), multiples of 4
    photo_fraction: float = 0.35  # share of each split taken from photographs (when available)
    seed: int = 0


@dataclass(frozen=True)
class Sample:
    """One generated source image and where it came from."""

    image: np.ndarray   # uint8 BGR (H, W, 3)
    provenance: dict


# --------------------------------------------------------------------------- photos

def packaged_photo_path(photo: PackagedPhoto) -> Path | None:
    """The file of ``photo`` if its package is installed (found without importing it), else None."""
    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / photo.relpath
        if p.is_file():
            return p
    return None


def _package_version(package: str) -> str:
    from importlib import metadata

    dist = {"skimage": "scikit-image"}.get(package, package)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def available_photos(split: str) -> list[tuple[PackagedPhoto, np.ndarray]]:
    """The photographs of one source set that are installed, as uint8 BGR (H, W, 3)."""
    out = []
    for photo in SKIMAGE_PHOTOS:
        if photo.split != split:
            continue
        path = packaged_photo_path(photo)
        if path is None:
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("could not read packaged photo %s", path)
            continue
        out.append((photo, img))
    return out


def _photo_crop(rng: np.random.Generator, photo: PackagedPhoto, img: np.ndarray, size: int) -> Sample:
    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.45, 1.0))
    x = int(rng.integers(0, w - side + 1))
    y = int(rng.integers(0, h - side + 1))
    flip = bool(rng.random() < 0.5)
    crop = img[y:y + side, x:x + side]
    if flip:
        crop = crop[:, ::-1]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return Sample(np.ascontiguousarray(crop), {
        "source": f"{photo.package}/{photo.relpath}",
        "package_version": _package_version(photo.package),
        "title": photo.title, "licence": photo.licence, "url": photo.url,
        "crop_xywh": [x, y, side, side], "hflip": flip})


# --------------------------------------------------------------------------- procedural scenes

def _rand_colour(rng: np.random.Generator, lo: int = 30, hi: int = 230) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _skin_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A skin tone (BGR) from very light to deep, interpolated along a typical skin line."""
    t = rng.uniform(0.0, 1.0)
    light = np.array([170, 200, 240.0])   # BGR
    deep = np.array([45, 70, 110.0])
    c = light + t * (deep - light) + rng.normal(0, 6, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _noise_field(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    """Fractal value noise, float32 (h, w) in [0, 1]."""
    acc = np.zeros((h, w), np.float32)
    total = 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        amp = 0.55 ** o
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        acc += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
    acc /= total
    acc -= acc.min()
    return acc / max(float(acc.max()), 1e-6)


def _room(rng: np.random.Generator, size: int) -> np.ndarray:
    """A room seen from inside: back wall, side wall, floor, window, furniture, a picture."""
    s = size
    img = np.zeros((s, s, 3), np.uint8)
    wall = np.array(_rand_colour(rng, 90, 230))
    img[:] = wall
    horizon = int(s * rng.uniform(0.55, 0.75))
    floor = np.array(_rand_colour(rng, 40, 170))
    img[horizon:] = floor
    # floor boards / rug texture
    for x in range(0, s, max(4, s // int(rng.integers(6, 14)))):
        cv2.line(img, (x, horizon), (int(s / 2 + (x - s / 2) * 2.2), s), tuple(int(v) for v in floor * 0.8), 1,
                 cv2.LINE_AA)
    # side wall in perspective
    side_w = int(s * rng.uniform(0.1, 0.25))
    pts = np.array([[0, 0], [side_w, int(s * 0.1)], [side_w, horizon], [0, s]], np.int32)
    cv2.fillConvexPoly(img, pts, tuple(int(v) for v in wall * rng.uniform(0.6, 0.85)), cv2.LINE_AA)
    # window with sky
    wx, wy = int(s * rng.uniform(0.3, 0.6)), int(s * rng.uniform(0.08, 0.2))
    ww, wh = int(s * rng.uniform(0.18, 0.32)), int(s * rng.uniform(0.2, 0.35))
    sky_top, sky_bot = np.array(_rand_colour(rng, 150, 255)), np.array([245, 235, 225])
    for yy in range(wh):
        img[wy + yy, wx:wx + ww] = (sky_top + (sky_bot - sky_top) * yy / max(wh - 1, 1)).astype(np.uint8)
    cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), (235, 235, 235), max(1, s // 80))
    cv2.line(img, (wx + ww // 2, wy), (wx + ww // 2, wy + wh), (235, 235, 235), max(1, s // 120))
    # furniture: shelf / sofa / desk blocks
    for _ in range(int(rng.integers(2, 5))):
        fw, fh = int(s * rng.uniform(0.12, 0.4)), int(s * rng.uniform(0.08, 0.3))
        fx = int(rng.integers(0, s - fw))
        fy = int(np.clip(horizon - fh * rng.uniform(0.3, 1.0), 0, s - fh))
        col = _rand_colour(rng, 20, 200)
        cv2.rectangle(img, (fx, fy), (fx + fw, fy + fh), col, -1, cv2.LINE_AA)
        cv2.rectangle(img, (fx, fy), (fx + fw, fy + max(2, fh // 8)), tuple(min(255, c + 35) for c in col), -1)
    # picture frame on the wall
    px, py = int(s * rng.uniform(0.05, 0.7)), int(s * rng.uniform(0.1, 0.3))
    pw, ph = int(s * 0.15), int(s * 0.12)
    cv2.rectangle(img, (px, py), (px + pw, py + ph), _rand_colour(rng), -1)
    cv2.rectangle(img, (px, py), (px + pw, py + ph), (30, 30, 30), max(1, s // 100))
    # plant: a pot and leaves
    cx = int(s * rng.uniform(0.1, 0.9))
    cv2.rectangle(img, (cx - s // 30, horizon - s // 14), (cx + s // 30, horizon), (40, 70, 150), -1)
    for _ in range(8):
        ang = rng.uniform(0, 180)
        cv2.ellipse(img, (cx + int(rng.normal(0, s / 40)), horizon - s // 12 - int(rng.uniform(0, s / 10))),
                    (max(2, s // 25), max(1, s // 70)), ang, 0, 360,
                    (int(rng.integers(30, 80)), int(rng.integers(110, 170)), int(rng.integers(30, 80))), -1,
                    cv2.LINE_AA)
    return img


def _figure(rng: np.random.Generator, size: int, background: np.ndarray | None = None,
            centre: tuple[float, float] | None = None, skin=None, hair=None, shirt=None) -> np.ndarray:
    """A face-like figure (head, hair, eyes, brows, mouth, neck, shoulders) over a background.

    ``centre`` is the head centre in units of ``size``; colours are BGR tuples.
    """
    s = size
    img = background.copy() if background is not None else _gradient(rng, s)
    skin = skin or _skin_colour(rng)
    hair = hair or _rand_colour(rng, 10, 120)
    shirt = shirt or _rand_colour(rng, 20, 230)
    cx, cy = centre or (rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.5))
    cx, cy = int(cx * s), int(cy * s)
    hr = int(s * 0.16)  # head half-width
    # shoulders and torso
    cv2.ellipse(img, (cx, cy + int(hr * 3.1)), (int(hr * 2.6), int(hr * 1.6)), 0, 180, 360, shirt, -1, cv2.LINE_AA)
    cv2.rectangle(img, (cx - int(hr * 2.6), cy + int(hr * 3.1)), (cx + int(hr * 2.6), s), shirt, -1)
    # neck
    cv2.rectangle(img, (cx - hr // 2, cy + hr), (cx + hr // 2, cy + int(hr * 1.8)),
                  tuple(int(c * 0.85) for c in skin), -1, cv2.LINE_AA)
    # hair behind the head
    cv2.ellipse(img, (cx, cy - hr // 6), (int(hr * 1.15), int(hr * 1.35)), 0, 0, 360, hair, -1, cv2.LINE_AA)
    # head with soft shading (a lit side and a shadow side)
    face = np.zeros((s, s), np.float32)
    cv2.ellipse(face, (cx, cy), (hr, int(hr * 1.3)), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    light_dir = rng.uniform(-1, 1)
    shading = 1.0 + 0.18 * light_dir * (xx - cx) / hr - 0.08 * ((yy - cy) / hr) ** 2
    skin_layer = np.clip(np.array(skin, np.float32)[None, None] * shading[..., None], 0, 255)
    img = (img * (1 - face[..., None]) + skin_layer * face[..., None]).astype(np.uint8)
    # fringe
    cv2.ellipse(img, (cx, cy - int(hr * 0.95)), (int(hr * 1.05), int(hr * 0.5)), 0, 180, 360, hair, -1, cv2.LINE_AA)
    # eyes, brows, nose, mouth, cheeks
    ex, ey = int(hr * 0.42), cy - int(hr * 0.15)
    iris = _rand_colour(rng, 20, 140)
    for sx in (-1, 1):
        c = (cx + sx * ex, ey)
        cv2.ellipse(img, c, (max(2, hr // 5), max(1, hr // 9)), 0, 0, 360, (235, 240, 245), -1, cv2.LINE_AA)
        cv2.circle(img, c, max(1, hr // 10), iris, -1, cv2.LINE_AA)
        cv2.circle(img, c, max(1, hr // 22), (10, 10, 10), -1, cv2.LINE_AA)
        cv2.ellipse(img, (c[0], ey - hr // 4), (max(2, hr // 4), max(1, hr // 12)), 0, 190, 350,
                    tuple(int(v * 0.6) for v in hair), max(1, hr // 18), cv2.LINE_AA)
        blush = img.copy()
        cv2.circle(blush, (cx + sx * int(hr * 0.55), cy + int(hr * 0.3)), max(2, hr // 5), (120, 120, 220), -1,
                   cv2.LINE_AA)
        img = cv2.addWeighted(img, 0.85, blush, 0.15, 0)
    cv2.line(img, (cx, cy), (cx - hr // 10, cy + hr // 4), tuple(int(c * 0.75) for c in skin), max(1, hr // 20),
             cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy + int(hr * 0.55)), (max(2, hr // 3), max(1, hr // 7)), 0, 10, 170,
                (60, 60, 150), max(1, hr // 12), cv2.LINE_AA)
    return img


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth two- or three-colour gradient."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    ang = rng.uniform(0, 2 * np.pi)
    t = np.clip(0.5 + (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)), 0, 1)[..., None]
    a, b = np.array(_rand_colour(rng), np.float32), np.array(_rand_colour(rng), np.float32)
    return (a * (1 - t) + b * t).astype(np.uint8)


def _shapes(rng: np.random.Generator, size: int) -> np.ndarray:
    """A gradient with random anti-aliased circles, rectangles and lines."""
    img = _gradient(rng, size)
    for _ in range(int(rng.integers(4, 12))):
        kind = rng.integers(0, 3)
        col = _rand_colour(rng, 0, 256)
        if kind == 0:
            cv2.circle(img, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(size // 20, size // 4)),
                       col, -1, cv2.LINE_AA)
        elif kind == 1:
            p = rng.integers(0, size, 4)
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), col, -1, cv2.LINE_AA)
        else:
            p = rng.integers(0, size, 4)
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), col, int(rng.integers(1, max(2, size // 30))),
                     cv2.LINE_AA)
    return img


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fractal noise mapped through a random 3-colour palette (wood, stone, fabric-like)."""
    n = _noise_field(rng, size, size)
    if rng.random() < 0.5:  # stripes warped by noise: wood grain / fabric
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        freq = rng.uniform(6, 20)
        n = 0.5 + 0.5 * np.sin(2 * np.pi * (freq * (xx if rng.random() < 0.5 else yy) + 2.5 * n))
    pal = np.array([_rand_colour(rng) for _ in range(3)], np.float32)
    t = n[..., None]
    img = np.where(t < 0.5, pal[0] + (pal[1] - pal[0]) * (t * 2), pal[1] + (pal[2] - pal[1]) * (t * 2 - 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _light(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Varied lighting and a camera-like finish: illumination falloff, colour temperature, gamma, noise."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx, ly = rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.3, 1.3) * h
    dist = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / max(h, w)
    illum = rng.uniform(0.75, 1.2) * (1.0 - rng.uniform(0.1, 0.5) * np.clip(dist, 0, 1.5))
    temp = rng.uniform(-0.12, 0.12)  # + warm (more red), - cool (more blue)
    tint = np.array([1 - temp, 1.0, 1 + temp], np.float32)
    x = img.astype(np.float32) / 255.0
    x = np.power(np.clip(x * illum[..., None] * tint, 0, 1), rng.uniform(0.8, 1.25))
    x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.8))
    x = x + rng.normal(0, rng.uniform(0.003, 0.012), x.shape).astype(np.float32)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


SCENES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "figure": lambda rng, s: _figure(rng, s, background=_room(rng, s) if rng.random() < 0.7 else None),
    "room": _room,
    "texture": _texture,
    "shapes": _shapes,
}
SCENE_WEIGHTS = {"figure": 0.4, "room": 0.25, "texture": 0.15, "shapes": 0.2}  # faces and rooms matter most


def procedural_sample(split: str, index: int, size: int, seed: int = 0) -> Sample:
    """Procedural scene number ``index`` of ``split``; deterministic in (seed, split, index)."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index])
    kinds = list(SCENE_WEIGHTS)
    kind = kinds[int(rng.choice(len(kinds), p=[SCENE_WEIGHTS[k] for k in kinds]))]
    img = _light(rng, SCENES[kind](rng, size))
    return Sample(img, {"source": f"procedural:{kind}", "seed": [seed, SPLIT_SEEDS[split], index],
                        "licence": PROCEDURAL_LICENCE})


def source_samples(split: str, count: int, size: int, seed: int = 0,
                   photo_fraction: float = 0.35) -> Iterator[Sample]:
    """``count`` source images of one disjoint source set (procedural + that set's photos)."""
    photos = available_photos(split)
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], 10_000])
    fraction = photo_fraction if photos else 0.0
    n_photo = 0
    for i in range(count):
        # interleave: image i is a photo when the running photo share falls behind ``fraction``
        if int((i + 1) * fraction + 1e-9) > n_photo:
            photo, img = photos[n_photo % len(photos)]
            n_photo += 1
            yield _photo_crop(rng, photo, img, size)
        else:
            yield procedural_sample(split, i, size, seed)


# --------------------------------------------------------------------------- clips

def _clip_frames_pan(img: np.ndarray, n: int, size: tuple[int, int], rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A slow pan and zoom over ``img`` (sub-pixel, smooth)."""
    w, h = size
    ih, iw = img.shape[:2]
    base = min(iw / w, ih / h) * 0.8
    x0, y0 = rng.uniform(0.1, 0.3) * iw, rng.uniform(0.1, 0.3) * ih
    dx, dy = rng.uniform(-0.6, 0.6) * iw * 0.2, rng.uniform(-0.6, 0.6) * ih * 0.2
    zoom = rng.uniform(0.85, 1.15)
    for t in np.linspace(0.0, 1.0, n):
        sc = base * (1.0 + (zoom - 1.0) * t)
        cx = np.clip(x0 + dx * t + w * sc / 2, w * sc / 2, iw - w * sc / 2)
        cy = np.clip(y0 + dy * t + h * sc / 2, h * sc / 2, ih - h * sc / 2)
        m = np.array([[1 / sc, 0, w / 2 - cx / sc], [0, 1 / sc, h / 2 - cy / sc]], np.float32)
        yield cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _clip_frames_figure(n: int, size: tuple[int, int], rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A static room with a figure that sways and bobs, plus light sensor noise."""
    w, h = size
    s = max(w, h)
    room = _room(rng, s)[:h, :w].copy()
    skin, hair, shirt = _skin_colour(rng), _rand_colour(rng, 10, 120), _rand_colour(rng, 20, 230)
    figure_seed = int(rng.integers(1 << 31))
    for t in np.linspace(0.0, 1.0, n):
        sub = np.random.default_rng(figure_seed)  # same face details in every frame
        cx = 0.45 * w / s + 0.12 * np.sin(2 * np.pi * t) * w / s
        cy = 0.42 * h / s + 0.02 * np.sin(6 * np.pi * t)
        frame = _figure(sub, s, background=np.pad(room, ((0, s - h), (0, s - w), (0, 0)), mode="edge"),
                        centre=(cx, cy), skin=skin, hair=hair, shirt=shirt)[:h, :w]
        noise = np.random.default_rng([int(t * 1000), 7]).normal(0, 1.5, frame.shape)
        yield np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_clip(path: str | os.PathLike, frames: Iterator[np.ndarray], fps: float = 30.0) -> Path:
    """Write uint8 BGR frames to a lossless FFV1 .avi (MJPG if FFV1 is unavailable); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
                if not writer.isOpened():
                    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                if not writer.isOpened():
                    raise DataError(f"OpenCV cannot write a video file at {str(path)!r}.",
                                    fix="Check that the folder is writable and OpenCV has video support.")
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    return path


def read_clip(path: str | os.PathLike, max_frames: int | None = None) -> list[np.ndarray]:
    """All frames of a video file as uint8 BGR (H, W, 3) arrays (DataError if none can be read)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if len(frames) < 2:
        raise DataError(f"Clip {str(path)!r} gave {len(frames)} readable frames; at least 2 are needed.",
                        fix="Pass a video file OpenCV can read (e.g. one from `make_datasets.py`).")
    return frames


def make_clips(folder: str | os.PathLike, cfg: DatasetConfig) -> list[dict]:
    """Write ``cfg.n_clips`` moving clips over held-out sources into ``folder``; returns provenance entries."""
    folder = Path(folder)
    photos = available_photos("test")
    entries = []
    for i in range(cfg.n_clips):
        rng = np.random.default_rng([cfg.seed, SPLIT_SEEDS["clips"], i])
        if i % 2 == 0:
            name = f"figure{i:02d}.avi"
            frames = _clip_frames_figure(cfg.clip_frames, cfg.clip_size, rng)
            prov = {"source": "procedural:figure over room, swaying", "seed": [cfg.seed, SPLIT_SEEDS["clips"], i],
                    "licence": PROCEDURAL_LICENCE}
        else:
            if photos:
                photo, img = photos[(i // 2) % len(photos)]
                prov = {"source": f"{photo.package}/{photo.relpath}", "title": photo.title,
                        "licence": photo.licence, "url": photo.url, "motion": "slow pan and zoom"}
            else:
                img = _light(rng, _figure(rng, 512, background=_room(rng, 512)))
                prov = {"source": "procedural:figure over room (no photos installed)", "licence": PROCEDURAL_LICENCE,
                        "motion": "slow pan and zoom"}
            name = f"pan{i:02d}.avi"
            frames = _clip_frames_pan(img, cfg.clip_frames, cfg.clip_size, rng)
        write_clip(folder / name, frames)
        entries.append({"file": f"clips/{name}", "frames": cfg.clip_frames, "size": list(cfg.clip_size), **prov})
    return entries


# --------------------------------------------------------------------------- the dataset

def make_dataset(out: str | os.PathLike, cfg: DatasetConfig) -> Path:
    """Write the dataset described by ``cfg`` into folder ``out`` (created); returns it.

    Raises StyleError for an unknown look and DataError if ``out`` cannot be written.
    """
    look_fn = hidden_look(cfg.look)
    out = Path(out)
    try:
        for sub in ("trainA", "trainB", "test/input", "test/target", "clips"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"Cannot create dataset folder {str(out)!r} ({e}).", fix="Pick a writable folder.") from None
    files: dict[str, list[dict]] = {"trainA": [], "trainB": [], "test": []}
    for i, sample in enumerate(source_samples("trainA", cfg.n_content, cfg.size, cfg.seed, cfg.photo_fraction)):
        write_image(out / "trainA" / f"{i:04d}.png", sample.image)
        files["trainA"].append({"file": f"trainA/{i:04d}.png", **sample.provenance})
    for i, sample in enumerate(source_samples("trainB", cfg.n_style, cfg.size, cfg.seed, cfg.photo_fraction)):
        write_image(out / "trainB" / f"{i:04d}.png", look_fn(sample.image))
        files["trainB"].append({"file": f"trainB/{i:04d}.png", "look": cfg.look, **sample.provenance})
    for i, sample in enumerate(source_samples("test", cfg.n_test, cfg.size, cfg.seed, max(cfg.photo_fraction, 0.5))):
        write_image(out / "test" / "input" / f"{i:04d}.png", sample.image)
        write_image(out / "test" / "target" / f"{i:04d}.png", look_fn(sample.image))
        files["test"].append({"file": f"test/input/{i:04d}.png", "target": f"test/target/{i:04d}.png",
                              "look": cfg.look, **sample.provenance})
    clips = make_clips(out / "clips", cfg)
    photos_missing = not any(packaged_photo_path(p) for p in SKIMAGE_PHOTOS)
    provenance = {
        "config": {**asdict(cfg), "clip_size": list(cfg.clip_size)},
        "look": cfg.look,
        "look_description": (HIDDEN_LOOKS[cfg.look].__doc__ or "").split(".")[0] if cfg.look in HIDDEN_LOOKS
        else looks.describe(cfg.look),
        "photos": "none installed (procedural only; `pip install livestyle[bench]` adds scikit-image's photos)"
                  if photos_missing else "scikit-image sample photographs (public domain / CC0)",
        "splits": files, "clips": clips,
    }
    tmp = out / ".provenance.json.tmp"
    tmp.write_text(json.dumps(provenance, indent=1))
    os.replace(tmp, out / "provenance.json")
    log.info("dataset for look %s written to %s", cfg.look, out)
    return out


def read_test_set(folder: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, input, true look) triples of ``folder/test``; uint8 BGR (H, W, 3) each.

    Raises DataError when the folder has no test images.
    """
    folder = Path(folder)
    inputs = sorted((folder / "test" / "input").glob("*.png"))
    out = []
    for p in inputs:
        tgt = folder / "test" / "target" / p.name
        a, b = cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.imread(str(tgt), cv2.IMREAD_COLOR)
        if a is None or b is None:
            raise DataError(f"Test pair {p.name!r} in {str(folder)!r} is unreadable or has no target.",
                            fix="Regenerate the dataset with benchmarks/quality/make_datasets.py.")
        out.append((p.stem, a, b))
    if not out:
        raise DataError(f"No test images under {str(folder / 'test' / 'input')!r}.",
                        fix="Pass a folder made by benchmarks/quality/make_datasets.py, or omit --data.")
    return out


def pan_clip(image: np.ndarray, frames: int, size: tuple[int, int], *, seed: int = 0) -> list[np.ndarray]:
    """A slow pan and zoom over ``image`` (uint8 BGR): ``frames`` uint8 BGR frames of ``size`` = (width, height)."""
    return list(_clip_frames_pan(image, frames, size, np.random.default_rng(seed)))


# --------------------------------------------------------------------------- folders of very different photos
#
# A user's camera shows rooms and faces under indoor light; an influencer's feed shows beaches, foliage and
# sunsets.  These datasets put the two apart on purpose (other subjects, other palettes, other brightness) and
# hide a look the project's own looks do not include, so a trainer cannot have been tuned to it.

def amber_cyan(image: np.ndarray) -> np.ndarray:
    """A hue-moving grade: warm tones (reds, oranges, yellows) turn toward amber and gain a little saturation,
    greens turn toward cyan; greys, brightness and blues are left as they are.  uint8 BGR -> uint8 BGR."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV_FULL).astype(np.float32)   # H 0..255 over 360 degrees
    hue = hsv[..., 0] * (360.0 / 256.0)
    sat = hsv[..., 1] / 255.0
    weight = np.clip((sat - 0.05) / 0.25, 0.0, 1.0)                          # greys have no hue to move
    warm = np.clip(1.0 - np.abs(((hue - 30.0 + 180.0) % 360.0) - 180.0) / 45.0, 0.0, 1.0)   # 0..75 deg, peak 30
    green = np.clip(1.0 - np.abs(((hue - 120.0 + 180.0) % 360.0) - 180.0) / 55.0, 0.0, 1.0)  # 65..175 deg
    shift = weight * (warm * (40.0 - hue.clip(0, 75)) * 0.7 + green * 45.0)
    hsv[..., 0] = ((hue + shift) % 360.0) * (256.0 / 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + 0.15 * warm * weight), 0, 255)
    out = cv2.cvtColor(np.clip(hsv + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR_FULL)
    return out


def split_fade(image: np.ndarray) -> np.ndarray:
    """A faded split-tone film grade: blacks lifted and whites lowered, colours muted, shadows toward blue-teal
    and highlights toward warm cream.  uint8 BGR -> uint8 BGR."""
    x = image.astype(np.float32) / 255.0
    y0 = (0.114 * x[..., 0] + 0.587 * x[..., 1] + 0.299 * x[..., 2])[..., None]
    x = 0.09 + 0.84 * x
    y = 0.09 + 0.84 * y0
    x = y + 0.72 * (x - y)
    hi = np.clip((y0 - 0.2) / 0.6, 0.0, 1.0)
    hi = hi * hi * (3 - 2 * hi)
    cool = np.array([0.06, 0.02, -0.04], np.float32)       # B, G, R
    warm = np.array([-0.05, 0.005, 0.04], np.float32)
    x = x + (1.0 - hi) * cool + hi * warm
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def glow_vignette(image: np.ndarray) -> np.ndarray:
    """A look with a local part: a warm, slightly lifted grade, a strong bloom around highlights and a vignette
    (the corners a third darker).  The vignette falls off as r^3 and multiplies the graded colour, and the bloom
    is a screen of the blurred bright parts: neither is exactly what livestyle's local terms can express
    (r^2 and r^4 times the input, added light).  uint8 BGR -> uint8 BGR."""
    from livestyle.looks._common import luma, smoothstep, to_float, to_uint8, wide_blur

    x = to_float(image)
    y0 = luma(x)
    x = 0.03 + 0.95 * x
    x = x * np.array([0.90, 1.0, 1.07], np.float32)                   # warm: less blue, more red
    bright = x * smoothstep(0.55, 1.0, y0)[..., None]
    glow = wide_blur(bright, 8.0)
    x = 1.0 - (1.0 - x) * (1.0 - 0.55 * glow)
    h, w = y0.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    r = np.sqrt(((yy - cy) ** 2 + (xx - cx) ** 2) / (cy ** 2 + cx ** 2))
    x = x * (1.0 - 0.35 * r ** 3)[..., None]
    return to_uint8(x)


HIDDEN_LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"amber_cyan": amber_cyan, "split_fade": split_fade,
                                                                "glow_vignette": glow_vignette}


def _beach(rng: np.random.Generator, size: int) -> np.ndarray:
    """Sky, sea and sand, sometimes a palm: bright, blue and beige."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    img = np.zeros((s, s, 3), np.float32)
    horizon, shore = rng.uniform(0.3, 0.5), rng.uniform(0.55, 0.8)
    sky_top = np.array([rng.uniform(200, 250), rng.uniform(140, 190), rng.uniform(60, 110)])
    sky_low = np.array([rng.uniform(230, 255), rng.uniform(215, 240), rng.uniform(190, 225)])
    t = np.clip(yy / horizon, 0, 1)[..., None]
    img[:] = sky_top * (1 - t) + sky_low * t
    n = _noise_field(rng, s, s)[..., None]
    sea = np.array([rng.uniform(150, 200), rng.uniform(120, 160), rng.uniform(10, 60)])
    waves = sea * (0.8 + 0.35 * n) + 40 * (np.sin(yy * 90 + 6 * n[..., 0]) > 0.92)[..., None]
    sand = np.array([rng.uniform(140, 180), rng.uniform(190, 215), rng.uniform(215, 240)])
    ground = sand * (0.85 + 0.25 * n)
    img = np.where((yy >= horizon)[..., None], waves, img)
    edge = shore + 0.03 * np.sin(xx * rng.uniform(8, 16))
    img = np.where((yy >= edge)[..., None], ground, img)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # a palm: dark trunk and green fronds
        px = int(s * rng.uniform(0.1, 0.9))
        cv2.line(img, (px, s), (px + int(s * rng.uniform(-0.1, 0.1)), int(s * 0.3)), (40, 70, 90), max(2, s // 30))
        for _ in range(7):
            ang = rng.uniform(0, 360)
            cv2.ellipse(img, (px, int(s * 0.3)), (s // 6, s // 30), ang, 0, 360,
                        (int(rng.integers(20, 60)), int(rng.integers(110, 170)), int(rng.integers(40, 90))), -1,
                        cv2.LINE_AA)
    if rng.random() < 0.5:  # a bright towel or umbrella
        c = (int(rng.integers(0, 120)), int(rng.integers(60, 200)), int(rng.integers(180, 255)))
        cx, cy = int(s * rng.uniform(0.2, 0.8)), int(s * rng.uniform(0.7, 0.9))
        cv2.ellipse(img, (cx, cy), (s // 8, s // 20), 0, 0, 360, c, -1, cv2.LINE_AA)
    return img


def _foliage(rng: np.random.Generator, size: int) -> np.ndarray:
    """Leaves and grass in sunlight: mostly greens, yellow-green highlights, deep shadows, a few flowers."""
    s = size
    n = _noise_field(rng, s, s)
    dark = np.array([rng.uniform(10, 40), rng.uniform(50, 80), rng.uniform(15, 40)])
    mid = np.array([rng.uniform(30, 70), rng.uniform(120, 170), rng.uniform(40, 90)])
    light = np.array([rng.uniform(60, 110), rng.uniform(200, 240), rng.uniform(150, 200)])
    t = n[..., None]
    img = np.where(t < 0.5, dark + (mid - dark) * t * 2, mid + (light - mid) * (t * 2 - 1))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(20, 60))):       # leaves
        c = (int(rng.integers(10, 80)), int(rng.integers(90, 220)), int(rng.integers(20, 150)))
        cv2.ellipse(img, tuple(int(v) for v in rng.integers(0, s, 2)), (max(2, s // 16), max(1, s // 40)),
                    rng.uniform(0, 180), 0, 360, c, -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 8))):         # flowers: red, yellow, pink
        c = [(30, 30, 220), (30, 210, 240), (180, 120, 240)][int(rng.integers(0, 3))]
        cv2.circle(img, tuple(int(v) for v in rng.integers(0, s, 2)), max(2, s // 40), c, -1, cv2.LINE_AA)
    return img


def _sunset(rng: np.random.Generator, size: int) -> np.ndarray:
    """An orange-to-purple sky over dark hills or water, with a low sun."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    top = np.array([rng.uniform(90, 160), rng.uniform(40, 80), rng.uniform(80, 140)])     # purple
    low = np.array([rng.uniform(20, 80), rng.uniform(120, 180), rng.uniform(230, 255)])   # orange
    horizon = rng.uniform(0.55, 0.75)
    t = np.clip(yy / horizon, 0, 1)[..., None] ** 0.8
    img = top * (1 - t) + low * t
    sx, sy = rng.uniform(0.2, 0.8), horizon - rng.uniform(0.02, 0.15)
    d = np.hypot(xx - sx, yy - sy)
    img = img + (np.array([170, 235, 255]) - img) * np.clip(1 - d / 0.25, 0, 1)[..., None] ** 2
    ground = np.array([rng.uniform(20, 60), rng.uniform(20, 50), rng.uniform(30, 70)])
    hills = horizon + 0.05 * np.sin(xx * rng.uniform(4, 10) + rng.uniform(0, 6))
    if rng.random() < 0.5:   # water reflects the sky
        refl = img[::-1] * 0.6
        img = np.where((yy >= hills)[..., None], refl, img)
    else:
        img = np.where((yy >= hills)[..., None], ground * (0.7 + 0.5 * _noise_field(rng, s, s)[..., None]), img)
    return np.clip(img, 0, 255).astype(np.uint8)


OUTDOOR_SCENES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "beach": _beach, "foliage": _foliage, "sunset": _sunset}


def _outdoor_light(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Daylight finish: bright, a little contrast and saturation, mild noise."""
    x = img.astype(np.float32) / 255.0
    x = np.clip(x * rng.uniform(1.0, 1.15), 0, 1) ** rng.uniform(0.8, 1.0)
    y = x.mean(axis=2, keepdims=True)
    x = y + rng.uniform(1.0, 1.3) * (x - y)
    x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 0.7))
    x = x + rng.normal(0, 0.005, x.shape).astype(np.float32)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _indoor_light(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A webcam in a room: dimmer, warm lamp light, duller colours, more sensor noise."""
    x = _light(rng, img).astype(np.float32) / 255.0
    x = x * rng.uniform(0.55, 0.85) * np.array([rng.uniform(0.8, 0.95), 1.0, rng.uniform(1.0, 1.1)], np.float32)
    y = x.mean(axis=2, keepdims=True)
    x = y + rng.uniform(0.7, 0.95) * (x - y)
    x = x + rng.normal(0, 0.01, x.shape).astype(np.float32)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def indoor_sample(split: str, index: int, size: int, seed: int = 0) -> Sample:
    """Webcam-like scene number ``index`` of ``split``: a face over a room (70 %) or a room alone, indoor light."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index, 77])
    kind = "figure" if rng.random() < 0.7 else "room"
    img = _figure(rng, size, background=_room(rng, size)) if kind == "figure" else _room(rng, size)
    return Sample(_indoor_light(rng, img), {"source": f"procedural:{kind}, indoor light",
                                            "seed": [seed, SPLIT_SEEDS[split], index, 77],
                                            "licence": PROCEDURAL_LICENCE})


def outdoor_sample(split: str, index: int, size: int, seed: int = 0) -> Sample:
    """Feed-like scene number ``index`` of ``split``: a beach, foliage or a sunset, in daylight."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index, 88])
    kinds = list(OUTDOOR_SCENES)
    kind = kinds[int(rng.integers(0, len(kinds)))]
    return Sample(_outdoor_light(rng, OUTDOOR_SCENES[kind](rng, size)),
                  {"source": f"procedural:{kind}, daylight", "seed": [seed, SPLIT_SEEDS[split], index, 88],
                   "licence": PROCEDURAL_LICENCE})


@dataclass(frozen=True)
class DifferentConfig:
    """What :func:`make_different_dataset` writes: a hidden look (a :data:`HIDDEN_LOOKS` name or one of
    :mod:`livestyle.looks`), content = webcam-like indoor scenes, style = the look over outdoor scenes."""

    look: str
    size: int = 128
    n_content: int = 200
    n_style: int = 200
    n_test: int = 24
    seed: int = 0
    outdoor_share: float = 1.0   # share of the style photos that are outdoor scenes; the rest are indoor ones
                                 # (other scenes than the content's), as a feed that is partly selfies


def hidden_look(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The look function ``name``: one of :data:`HIDDEN_LOOKS` or of :mod:`livestyle.looks`."""
    return HIDDEN_LOOKS[name] if name in HIDDEN_LOOKS else looks.get(name)


def make_different_dataset(out: str | os.PathLike, cfg: DifferentConfig) -> Path:
    """A dataset whose two folders show very different photographs (same layout as :func:`make_dataset`, no clips).

    trainA: indoor scenes (faces over rooms, rooms) under dim warm light, as a webcam sees them; trainB: the look
    applied to outdoor scenes (beaches, foliage, sunsets) in daylight (``cfg.outdoor_share`` of them; the rest
    are other indoor scenes); test: held-out indoor scenes and the look
    applied to them.  Deterministic in ``cfg``; written with ``provenance.json`` last (its presence marks a
    finished dataset).
    """
    fn = hidden_look(cfg.look)
    out = Path(out)
    try:
        for sub in ("trainA", "trainB", "test/input", "test/target"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"Cannot create dataset folder {str(out)!r} ({e}).", fix="Pick a writable folder.") from None
    files: dict[str, list[dict]] = {"trainA": [], "trainB": [], "test": []}
    for i in range(cfg.n_content):
        s = indoor_sample("trainA", i, cfg.size, cfg.seed)
        write_image(out / "trainA" / f"{i:04d}.png", s.image)
        files["trainA"].append({"file": f"trainA/{i:04d}.png", **s.provenance})
    pick = np.random.default_rng([cfg.seed, SPLIT_SEEDS["trainB"], 99])
    for i in range(cfg.n_style):
        outdoor = pick.random() < cfg.outdoor_share
        s = (outdoor_sample if outdoor else indoor_sample)("trainB", i, cfg.size, cfg.seed)
        write_image(out / "trainB" / f"{i:04d}.png", fn(s.image))
        files["trainB"].append({"file": f"trainB/{i:04d}.png", "look": cfg.look, **s.provenance})
    for i in range(cfg.n_test):
        s = indoor_sample("test", i, cfg.size, cfg.seed)
        write_image(out / "test" / "input" / f"{i:04d}.png", s.image)
        write_image(out / "test" / "target" / f"{i:04d}.png", fn(s.image))
        files["test"].append({"file": f"test/input/{i:04d}.png", "target": f"test/target/{i:04d}.png",
                              "look": cfg.look, **s.provenance})
    provenance = {"config": asdict(cfg), "kind": "different photographs (indoor content, outdoor style)",
                  "look": cfg.look, "splits": files}
    tmp = out / ".provenance.json.tmp"
    tmp.write_text(json.dumps(provenance, indent=1))
    os.replace(tmp, out / "provenance.json")
    return out
