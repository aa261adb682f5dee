"""Colour-grade looks: global colour transforms plus, for ``pastel``, a soft glow.

These are what a tiny residual student learns most easily: almost all of the
change is a per-pixel colour mapping.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.looks._common import luma, smoothstep, to_float, to_uint8, wide_blur


def pastel(image: np.ndarray) -> np.ndarray:
    """Warm, soft "influencer" grade.

    Lifted blacks, lowered contrast, slightly reduced saturation, peach
    highlights and lavender shadows, and a soft bloom around bright areas.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    y0 = luma(x)
    # Brighter midtones, lifted blacks, whites pulled down: an airy, matte base.
    x = np.power(x, 0.8)
    x = 0.10 + 0.86 * x
    # A little less saturation, so colours read as pastel rather than neon.
    y = luma(x)[..., None]
    x = y + 0.75 * (x - y)
    # Split tint: peach highlights (more red, less blue), lavender-pink shadows.
    hi = smoothstep(0.25, 0.95, y0)[..., None]
    peach = np.array([-0.050, 0.010, 0.055], np.float32)   # B, G, R offsets
    lavender = np.array([0.045, -0.015, 0.035], np.float32)
    x = x + hi * peach + (1.0 - hi) * lavender
    # Bloom: the bright parts, blurred wide, screened back over the image.
    bright = x * smoothstep(0.55, 1.0, y0)[..., None]
    glow = wide_blur(bright, 6.0)
    x = 1.0 - (1.0 - x) * (1.0 - 0.45 * glow)
    return to_uint8(x)


# Direction of "orange" in CIELAB's (a*, b*) plane: hue angle ~57 degrees,
# where skin tones sit; "teal" is the opposite direction.
_ORANGE_HUE = np.deg2rad(57.0)
_ORANGE_AXIS = np.array([np.cos(_ORANGE_HUE), np.sin(_ORANGE_HUE)], np.float32)


def teal_orange(image: np.ndarray) -> np.ndarray:
    """Cinematic teal-and-orange split toning.

    In CIELAB: an S-curve on lightness; hues are squeezed towards the
    orange-teal axis (skin stays orange and gains a little saturation, blues
    and greens drift to teal); shadows are pushed to teal, highlights to
    orange.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    lab = cv2.cvtColor(x, cv2.COLOR_BGR2Lab)  # L in 0..100, a, b in about -110..110
    lum = lab[..., 0] * 0.01
    # S-curve: deeper shadows, brighter highlights, midtones kept.
    s_curve = lum + 0.55 * (smoothstep(0.0, 1.0, lum) - lum)
    a, b = lab[..., 1], lab[..., 2]
    u, v = _ORANGE_AXIS
    along = a * u + b * v          # + orange, - teal
    across = -a * v + b * u        # magenta/green component, squeezed
    along = 1.12 * along
    across = 0.40 * across
    # Split toning: teal in the shadows, orange in the highlights.
    along = along - 16.0 * (1.0 - s_curve) ** 2 + 9.0 * s_curve ** 2
    lab = np.stack([s_curve * 100.0, along * u - across * v, along * v + across * u], axis=-1)
    return to_uint8(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2BGR))


def neon(image: np.ndarray) -> np.ndarray:
    """Synthwave "neon" grade, as gaming streamers use it: punchy, violet-blue shadows, magenta-pink highlights.

    A per-pixel colour map: an S-curve for contrast, saturation raised by
    a third, greens and yellows pushed towards cyan (blue rises where green
    leads red), then split toning with the green channel held back in both
    halves: violet-blue in the shadows, magenta-pink in the highlights.
    Skin turns rosy, not green or grey.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    y0 = luma(x)
    # Punchy contrast: deeper blacks, brighter highlights.
    x = x + 0.35 * (smoothstep(0.0, 1.0, x) - x)
    # Richer colours around each pixel's own luma.
    y = luma(x)[..., None]
    x = y + 1.30 * (x - y)
    # Greens and yellows drift to cyan.
    lead = np.clip(x[..., 1] - x[..., 2], 0.0, 1.0)[..., None]
    x = x + lead * np.array([0.55, -0.10, -0.20], np.float32)   # B, G, R
    # Split tone: violet-blue shadows (fading towards the midtones), magenta-pink highlights.
    hi = smoothstep(0.15, 0.85, y0)[..., None]
    violet = np.array([0.14, -0.04, 0.05], np.float32)
    pink = np.array([0.06, -0.07, 0.08], np.float32)
    x = x + (1.0 - hi) * violet * (1.0 - 0.5 * y0[..., None]) + hi * pink
    return to_uint8(x)


def vintage(image: np.ndarray) -> np.ndarray:
    """Faded warm film: matte olive shadows, golden highlights, muted colours, soft halation.

    A per-pixel print-film curve (blacks lifted to a green-olive, whites
    rolled off to cream), saturation cut to half, a golden cast that grows
    with brightness, and a warm red-orange halation bleeding around bright
    areas, as film stock does.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    y0 = luma(x)
    # Muted colours first, around each pixel's own luma.
    y = y0[..., None]
    x = y + 0.50 * (x - y)
    # Print-film tone curve: a soft toe and shoulder, then faded to a matte base.
    x = x + 0.35 * (smoothstep(0.0, 1.0, x) - x)
    shadows = np.array([0.13, 0.17, 0.15], np.float32)   # B, G, R: olive-green blacks
    whites = np.array([0.76, 0.89, 0.95], np.float32)    # cream whites
    x = shadows + (whites - shadows) * x
    # Golden cast growing with brightness (less blue, a touch more red).
    hi = smoothstep(0.2, 0.9, y0)[..., None]
    x = x + hi * np.array([-0.06, 0.01, 0.04], np.float32)
    # Halation: the brightest parts, blurred, added back in warm red-orange.
    bright = smoothstep(0.6, 1.0, y0)
    halo = wide_blur(bright, 5.0)[..., None]
    x = x + 0.18 * halo * np.array([0.05, 0.35, 1.0], np.float32)
    return to_uint8(x)


def mono(image: np.ndarray) -> np.ndarray:
    """Black-and-white film: soft print contrast, cool shadows and warm highlights.

    BT.601 luma through a gentle film curve with matte blacks, then split
    toned (a hint of blue-grey in the shadows, of warm paper in the
    highlights), as in a selenium-toned print.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    y = luma(to_float(image))
    y = y + 0.25 * (smoothstep(0.0, 1.0, y) - y)
    y = 0.05 + 0.91 * y
    hi = smoothstep(0.3, 0.9, y)[..., None]
    cool = np.array([0.030, 0.008, -0.012], np.float32)   # B, G, R
    warm = np.array([-0.035, 0.0, 0.025], np.float32)
    x = y[..., None] + (1.0 - hi) * cool + hi * warm
    return to_uint8(x)


def soft_glow(image: np.ndarray) -> np.ndarray:
    """Streamer "soft glow": warm, flattering skin, gentle contrast and a faint bloom.

    Shadows lifted a little, highlights rolled off, reds and yellows (skin)
    warmed and slightly saturated while blues are calmed, plus a faint wide
    bloom around bright areas, as beauty presets do.  Almost all of the change
    is a per-pixel colour map; the bloom is small.

    ``image``: uint8 BGR (H, W, 3), 0..255.  Returns uint8 BGR (H, W, 3).
    """
    x = to_float(image)
    y0 = luma(x)
    # Soft tone curve: lifted shadows, a gentle shoulder.
    x = 0.04 + 0.94 * (x + 0.18 * (np.sqrt(np.clip(x, 0.0, 1.0)) - x))
    # Warm balance that grows towards the midtones (where skin sits).
    mid = (smoothstep(0.05, 0.45, y0) * (1.0 - 0.5 * smoothstep(0.7, 1.0, y0)))[..., None]
    x = x + mid * np.array([-0.045, 0.008, 0.040], np.float32)   # B, G, R
    # Saturation: a little more for warm hues, a little less for cool ones.
    y = luma(x)[..., None]
    warmth = np.clip((x[..., 2:3] - x[..., 0:1]) * 4.0, 0.0, 1.0)
    x = y + (0.85 + 0.25 * warmth) * (x - y)
    # Faint bloom.
    bright = x * smoothstep(0.65, 1.0, y0)[..., None]
    glow = wide_blur(bright, 5.0)
    x = 1.0 - (1.0 - x) * (1.0 - 0.20 * glow)
    return to_uint8(x)
