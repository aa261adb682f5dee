"""What a colour run learned, and how well, measured without a true look (the user's case).

``livestyle train`` holds back every 10th style and content photo.  On them:

* **colour distance to the style photos**: sliced Wasserstein-1 distance
  (uint8 levels, 64 fixed directions) between the colours of the content
  photos and of the style photos, before and after the look: how much of the
  gap the look closed;
* **flicker**: the warping-error ratio (Lai et al. 2018) of the look on a
  slow pan over a held-out content photo (1.0 = as stable as the input);
* **learned**: the grade in words, read off the LUT (black and white
  levels, mid-grey cast, saturation).
"""

from __future__ import annotations

import numpy as np
import torch

from livestyle.models.convert import frames_to_unit, unit_to_frames

_SIDE = 192


def _fit(image: np.ndarray, side: int = _SIDE) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    f = side / min(h, w)
    out = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out[: side, : side])


def _apply(net: torch.nn.Module, images: list[np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        return [unit_to_frames(net(frames_to_unit(im[None])))[0] for im in images]


def colour_distance(a: list[np.ndarray], b: list[np.ndarray], samples: int = 20000, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance in uint8 levels between the pixel colours of two sets of uint8 BGR images."""
    rng = np.random.default_rng(seed)
    pa = np.concatenate([im.reshape(-1, 3) for im in a]).astype(np.float32)
    pb = np.concatenate([im.reshape(-1, 3) for im in b]).astype(np.float32)
    n = min(samples, len(pa), len(pb))
    pa = pa[rng.choice(len(pa), n, replace=False)]
    pb = pb[rng.choice(len(pb), n, replace=False)]
    d = rng.normal(size=(3, 64)).astype(np.float32)
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    return float(np.abs(np.sort(pa @ d, axis=0) - np.sort(pb @ d, axis=0)).mean())


def heldout_report(net: torch.nn.Module, content: list[np.ndarray], style: list[np.ndarray]) -> dict:
    """Colour distance and flicker of ``net`` (float BGR [-1, 1] -> [-1, 1]) on held-out uint8 BGR photos."""
    from livestyle.quality.dataset import pan_clip
    from livestyle.quality.metrics import warping_error_ratio

    content = [_fit(im) for im in content]
    style = [_fit(im) for im in style]
    styled = _apply(net, content)
    before = colour_distance(content, style)
    after = colour_distance(styled, style)
    frames = pan_clip(content[0], 24, (192, 128), seed=0)
    ratio = warping_error_ratio(_apply(net, frames), frames)
    return {"content_images": len(content), "style_images": len(style),
            "colour_distance_input": round(before, 2), "colour_distance_styled": round(after, 2),
            "closer_percent": round(100.0 * (before - after) / before, 1) if before > 0 else 0.0,
            "warping_error_ratio": round(ratio, 3)}


def describe_lut(net: torch.nn.Module) -> dict:
    """The grade of a colour look in numbers and one line of words, read off a grey ramp and a colour chart."""
    ramp = np.repeat(np.linspace(0, 255, 16).astype(np.uint8)[None, :, None], 3, axis=2)      # (1, 16, 3)
    rng = np.random.default_rng(0)
    chart = rng.integers(40, 216, (1, 64, 3)).astype(np.uint8)
    img = np.concatenate([np.repeat(ramp, 4, axis=1), chart], axis=1)  # (1, 128, 3)
    img = np.repeat(img, 8, axis=0)                                     # (8, 128, 3): a tiny frame
    out = _apply(net, [img])[0].astype(np.float32)
    g_in = img[0, :64:4].astype(np.float32)
    g_out = out[0, :64:4]
    black = float(g_out[0].mean())
    white = float(g_out[-1].mean())
    mid = g_out[7]                                    # input level 119
    cast = {"blue": float(mid[0] - mid.mean()), "green": float(mid[1] - mid.mean()), "red": float(mid[2] - mid.mean())}
    c_in, c_out = img[0, 64:].astype(np.float32), out[0, 64:]
    sat = float(np.mean(c_out.std(axis=1)) / max(1e-6, np.mean(c_in.std(axis=1))))
    contrast = float((white - black) / 255.0)
    words = []
    if black > 12:
        words.append(f"lifted blacks (0 -> {black:.0f})")
    if white < 243:
        words.append(f"softer whites (255 -> {white:.0f})")
    if contrast > 1.02:
        words.append("more contrast")
    warm = cast["red"] - cast["blue"]
    if warm > 4:
        words.append(f"warmer mid-tones (red-blue {warm:+.0f} levels)")
    elif warm < -4:
        words.append(f"cooler mid-tones (red-blue {warm:+.0f} levels)")
    if cast["green"] > 4:
        words.append("a green tint")
    elif cast["green"] < -4:
        words.append("a magenta tint")
    if sat < 0.15:
        words.append("black and white")
    elif sat < 0.9:
        words.append(f"muted colours (saturation x{sat:.2f})")
    elif sat > 1.1:
        words.append(f"richer colours (saturation x{sat:.2f})")
    del g_in
    return {"black_level": round(black, 1), "white_level": round(white, 1),
            "midgrey_cast": {k: round(v, 1) for k, v in cast.items()}, "saturation": round(sat, 2),
            "text": ", ".join(words) if words else "a subtle grade close to the input"}
