"""Drawn looks: cel/anime shading and coloured pencil.

These change structure, not only colour (flat colour areas, ink lines,
pencil strokes), so they are harder for a tiny student than the grades.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.looks._common import REFERENCE_SIDE, luma, odd, scale_of, smoothstep, to_float, to_uint8


def _at_reference(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``image`` downscaled so its shorter side is at most REFERENCE_SIDE, and the factor used (<= 1)."""
    factor = min(1.0, REFERENCE_SIDE / min(image.shape[:2]))
    if factor >= 1.0:
        return image, 1.0
    h, w = image.shape[:2]
    return cv2.resize(image, (max(8, round(w * factor)), max(8, round(h * factor))),
                      interpolation=cv2.INTER_AREA), factor


def _flat_colours(image: np.ndarray) -> np.ndarray:
    """Edge-preserving smoothing at reference resolution, upscaled back.

    ``image``: uint8 BGR (H, W, 3).  Returns float32 BGR (H, W, 3) in [0, 1].
    """
    small, factor = _at_reference(image)
    s = scale_of(small)
    d = odd(5 * s, 5)
    for _ in range(3):  # repeated small bilateral filters flatten regions but keep edges
        small = cv2.bilateralFilter(small, d, 28, 3.0 * s, borderType=cv2.BORDER_REFLECT)
    out = to_float(small)
    if factor < 1.0:
        out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return out


def _ink_lines(gray: np.ndarray, sigma_ref: float, strength: float, threshold: float) -> np.ndarray:
    """Soft dark-line mask from a difference of Gaussians (XDoG-like).

    ``gray``: float32 (H, W) in [0, 1].  Returns float32 (H, W) in [0, 1],
    1 where a line is drawn.  Lines sit on the dark side of edges.
    """
    sigma = sigma_ref * scale_of(gray)
    fine = cv2.GaussianBlur(gray, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    coarse = cv2.GaussianBlur(gray, (0, 0), 1.6 * sigma, borderType=cv2.BORDER_REFLECT)
    dog = fine - coarse  # negative just inside dark edges
    return smoothstep(threshold, threshold + strength, -dog)


def anime(image: np.ndarray) -> np.ndarray:
    """Cel (anime) shading.

    Flattened colours (repeated bilateral filtering), lightness quantised to
    a few soft-edged bands in CIELAB with a small saturation boost, and dark
    ink lines along edges.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    flat = _flat_colours(image)
    lab = cv2.cvtColor(flat, cv2.COLOR_BGR2Lab)
    levels = 6.0
    pos = lab[..., 0] * (levels / 100.0)
    base = np.floor(pos)
    frac = pos - base
    # Soft steps (width 0.2 of a band) avoid jagged contours and keep video calmer.
    band = base + smoothstep(0.4, 0.6, frac)
    lab[..., 0] = np.clip((band + 0.15) * (100.0 / levels), 0.0, 100.0)
    lab[..., 1:] *= 1.10
    cel = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    # Lines come from the flattened image, so fine texture (fur, wood grain)
    # does not turn into ink speckles; only real edges are drawn.
    lines = _ink_lines(luma(flat), 1.0, 0.03, 0.012)
    ink = np.array([0.16, 0.10, 0.12], np.float32)  # dark warm-purple ink, BGR
    cel = cel * (1.0 - 0.9 * lines[..., None]) + 0.9 * lines[..., None] * ink
    return to_uint8(cel)


def pencil(image: np.ndarray) -> np.ndarray:
    """Coloured pencil on warm paper.

    A colour-dodge pencil sketch (grey divided by the blurred inverse) gives
    the strokes; light, desaturated colours from the image tint them; the
    paper is a warm off-white.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    gray = luma(x)
    sigma = 2.5 * scale_of(image)
    blurred_inv = cv2.GaussianBlur(1.0 - gray, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    sketch = np.clip(gray / np.maximum(1.0 - blurred_inv, 1e-3), 0.0, 1.0)
    sketch = sketch ** 2.5  # darker, more visible strokes
    # Keep some tone in the dark areas so faces do not turn into outlines only.
    tone = 0.72 + 0.28 * smoothstep(0.0, 0.7, gray)
    shade = (sketch * tone)[..., None]
    smooth = cv2.GaussianBlur(x, (0, 0), 0.8 * scale_of(image), borderType=cv2.BORDER_REFLECT)
    y = luma(smooth)[..., None]
    colour = y + 1.25 * (smooth - y)             # a little more saturated before lightening
    colour = 1.0 - 0.42 * (1.0 - np.clip(colour, 0.0, 1.0))  # pencil colour: light, on paper
    paper = np.array([0.90, 0.96, 0.99], np.float32)  # warm off-white, BGR
    return to_uint8(paper * colour * shade)
