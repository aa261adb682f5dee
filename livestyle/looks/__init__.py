"""Procedural looks: deterministic image-to-image styles used as ground truth.

Each look is a pure function from a uint8 BGR image (H, W, 3), values
0..255, to a uint8 BGR image of the same shape.  Spatial parameters scale
with the image's shorter side (tuned at 256 px), so a look learned at
128-256 px means the same at 720p.  Only numpy and OpenCV are used.

    >>> from livestyle import looks
    >>> looks.names()
    ['anime', 'mono', 'neon', 'pastel', 'pencil', 'soft_glow', 'teal_orange', 'vintage']
    >>> out = looks.apply("pastel", frame)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from livestyle.errors import StyleError
from livestyle.looks._common import check_image
from livestyle.looks.drawn import anime, pencil
from livestyle.looks.grades import mono, neon, pastel, soft_glow, teal_orange, vintage

LookFunction = Callable[[np.ndarray], np.ndarray]

# looks that change structure (strokes, ink lines), not only colour: their true look flickers by itself
DRAWN = frozenset({"anime", "pencil"})

# name -> (function, one-line description); read-only.
_LOOKS: dict[str, tuple[LookFunction, str]] = {
    "anime": (anime, "cel shading: flat colours in soft bands, dark ink lines"),
    "mono": (mono, "black-and-white film: soft print contrast, cool shadows, warm highlights"),
    "neon": (neon, "synthwave neon grade: punchy contrast, violet-blue shadows, magenta-pink highlights"),
    "pastel": (pastel, "warm soft pastel grade: lifted blacks, peach highlights, glow"),
    "pencil": (pencil, "coloured pencil strokes on warm paper"),
    "soft_glow": (soft_glow, "streamer beauty grade: warm flattering skin, gentle contrast, faint bloom"),
    "teal_orange": (teal_orange, "cinematic split toning: teal shadows, orange skin and highlights"),
    "vintage": (vintage, "faded warm film: matte olive shadows, golden highlights, muted colours, halation"),
}


def names() -> list[str]:
    """The available look names, sorted."""
    return sorted(_LOOKS)


def describe(name: str) -> str:
    """A one-line description of look ``name`` (StyleError if unknown)."""
    return _LOOKS[_check_name(name)][1]


def get(name: str) -> LookFunction:
    """The look function for ``name`` (StyleError listing the names if unknown)."""
    return _LOOKS[_check_name(name)][0]


def apply(name: str, image: np.ndarray) -> np.ndarray:
    """Apply look ``name`` to ``image``.

    ``image``: uint8 BGR (H, W, 3), 0..255, H and W >= 8.  Returns a new
    uint8 BGR (H, W, 3) array; the input is not modified.
    """
    fn = get(name)
    check_image(image)
    return fn(image)


def _check_name(name: str) -> str:
    if name not in _LOOKS:
        raise StyleError(f"Unknown look {name!r} (available: {', '.join(names())}).",
                         fix="Use one of those names.")
    return name


__all__ = ["apply", "describe", "get", "names", "anime", "mono", "neon", "pastel", "pencil", "teal_orange", "vintage"]
