"""Near-monochrome looks keep only their own tint: the LUT's output projected onto the style photos' tint curve.

A black-and-white look learned unpaired leaves some colour behind: the
students reach a low saturation, not none, so a saturated input (a red flag,
a blue shirt) keeps a trace of its hue, several times the look's own tint.
A look whose style photos are near-monochrome has, at every brightness, one
colour: its tint.  :func:`tint_curve` reads that colour off the style photos
(their mean offset from grey per band of BT.601 luma, a curve ``d(Y)`` with
zero luma of its own), and :func:`project_look` moves every lattice node's
output onto ``Y + d(Y)``, where ``Y`` is the node's own output luma: the
learned tone curve stays, the learned chroma is replaced by the tint's, so
no input hue survives.

The per-frame adaptation (:class:`~livestyle.models.lut.AdaptiveLUT`: the
frame's LUT is ``sum_m a_m basis_m`` with coefficients ``a`` from a tiny CNN)
cannot bring an input hue back, because every basis is projected:

* basis 0, the one that starts at the identity and carries the look, goes
  onto the tint curve, exactly at the coefficient ``c`` a mid-grey frame
  gives it; every other basis (a per-frame correction, starting at zero)
  goes onto the grey axis, its luma kept.  Any coefficients then give
  ``(sum_m a_m Y_m) + (a_0 / c) d(Y_0)``: a colour on the look's own tint
  axis, with the tint scaled by ``a_0 / c``.  (Projecting every basis onto the curve
  would give ``sum_m a_m d(Y_m)``, which leaves the curve wherever the
  coefficients do not sum to 1 and flips the tint where one is negative.)
* the engine clips each channel to 0..255, which can only lower chroma, and
  interpolates between lattice nodes, whose outputs all lie on the smooth
  curve, so a colour between nodes stays close to it (the bundled mono
  through ONNX Runtime: at most 1.4 levels of chroma off the curve on the
  astronaut, Grace Hopper and uniform noise).

Measured on a three-basis look with a deliberately erratic weight CNN
(coefficients from -3.7 to 4.9), this keeps the chroma p99 at 14 levels or
less on the astronaut, Grace Hopper and noise, where projecting every basis
onto the curve gave 13 to 40 (RESULTS, "mono keeps only its tint").

Only a look whose style photos are near-monochrome, their colour set by
brightness alone (:data:`OFF_TINT_LIMIT`), while its content photos are not,
is projected; a colourful look is left exactly as learned.
Needs numpy and torch.
"""

from __future__ import annotations

import numpy as np
import torch

# BT.601 luma weights in the B, G, R order of livestyle's images (the procedural looks' own luma).
LUMA_BGR = np.array([0.114, 0.587, 0.299], np.float64)

# Style photos are near-monochrome when their colour is set by brightness alone: the 99th percentile of their
# off-tint chroma (max - min channel of ``pixel - Y - d(Y)``, levels) is under this.  Measured on the style
# folders of make_datasets.py (400 photos, seed 0, read as the trainer reads them, 64 px): mono 2.0 levels
# (8.8 for the same photos at full size saved as JPEG at quality 70); the colour looks 65 (vintage, the most
# muted), 99 (pastel), 150 (soft_glow), 174 (teal_orange), 233 (neon); the unstyled content photos 151.  16 is
# about twice the JPEG'd mono and a quarter of vintage.  Plain chroma p99 separates them less (mono 14,
# vintage 112) and grows with the strength of the tint itself, which a toned print may have in plenty.
OFF_TINT_LIMIT = 16.0
# The content photos must show colour of their own (off-tint chroma p99 at least this many times the limit):
# from grey content and grey style photos nothing says whether the look removes colour.
CONTENT_FACTOR = 2.0
BANDS = 32            # luma bands of the tint curve, 8 levels each
MIN_BAND_PIXELS = 50  # a band with fewer pixels takes its tint from its neighbours
MAX_PIXELS = 2_000_000


def pooled_pixels(images: list[np.ndarray], max_pixels: int = MAX_PIXELS, seed: int = 0) -> np.ndarray:
    """The pixels of ``images`` (uint8 BGR (H, W, 3)) as one float64 (P, 3) array, at most ``max_pixels`` of them."""
    px = np.concatenate([np.asarray(im).reshape(-1, 3) for im in images]).astype(np.float64)
    if len(px) > max_pixels:
        px = px[np.random.default_rng(seed).choice(len(px), max_pixels, replace=False)]
    return px


def chroma_p99(pixels: np.ndarray) -> float:
    """99th percentile of max - min channel of ``pixels`` (P, 3), in levels."""
    return float(np.percentile(pixels.max(axis=1) - pixels.min(axis=1), 99))


class TintCurve:
    """A look's tint per brightness: ``d(Y)``, the mean offset from grey (B, G, R levels, zero luma) at luma ``Y``.

    ``centres`` (bands,) are the luma bands' centres in levels, ``offsets``
    (bands, 3) their tints; between centres the tint is interpolated
    linearly, beyond the end centres it is held.  ``chroma_p99`` and
    ``off_tint_p99``: the 99th percentiles of the photos' chroma and of their
    chroma off the curve (``pixel - Y - d(Y)``), in levels.
    """

    def __init__(self, centres: np.ndarray, offsets: np.ndarray, chroma_p99: float = 0.0, off_tint_p99: float = 0.0):
        self.centres = np.asarray(centres, np.float64)
        self.offsets = np.asarray(offsets, np.float64)
        self.chroma_p99 = float(chroma_p99)
        self.off_tint_p99 = float(off_tint_p99)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """The tint offset (..., 3) in levels at luma ``y`` (...) in levels."""
        y = np.asarray(y, np.float64)
        return np.stack([np.interp(y, self.centres, self.offsets[:, c]) for c in range(3)], axis=-1)

    def to_dict(self) -> dict:
        """What the pack records: the photos' chroma and off-tint chroma p99, the tint at a few brightnesses."""
        at = {str(v): [round(float(x), 1) for x in self(np.float64(v))] for v in (32, 64, 128, 192, 224)}
        return {"style_chroma_p99": round(self.chroma_p99, 1), "style_off_tint_p99": round(self.off_tint_p99, 1),
                "tint_bgr_at_luma": at}


def tint_curve(images: list[np.ndarray], *, bands: int = BANDS, seed: int = 0) -> TintCurve | None:
    """The tint curve of ``images`` (uint8 BGR (H, W, 3)); None when they hold no pixel.

    Each pixel's offset from its own grey (``pixel - luma(pixel)``) is
    averaged per luma band; bands with under :data:`MIN_BAND_PIXELS` pixels
    are left out and filled from their neighbours by the interpolation.
    """
    px = pooled_pixels(images, seed=seed) if images else np.zeros((0, 3))
    if len(px) == 0:
        return None
    y = px @ LUMA_BGR
    offset = px - y[:, None]
    band = np.clip((y * (bands / 256.0)).astype(np.int64), 0, bands - 1)
    count = np.bincount(band, minlength=bands)
    sums = np.stack([np.bincount(band, weights=offset[:, c], minlength=bands) for c in range(3)], axis=1)
    ysum = np.bincount(band, weights=y, minlength=bands)
    keep = count >= MIN_BAND_PIXELS
    if not keep.any():
        keep = count > 0
    centres = ysum[keep] / count[keep]
    offsets = sums[keep] / count[keep][:, None]
    offsets -= (offsets @ LUMA_BGR)[:, None] * np.ones(3)  # zero luma exactly: the projection keeps Y
    curve = TintCurve(centres, offsets)
    off = offset - curve(y)
    curve.chroma_p99 = chroma_p99(px)
    curve.off_tint_p99 = float(np.percentile(off.max(axis=1) - off.min(axis=1), 99))
    return curve


def project_lattice(lattice: torch.Tensor, curve: TintCurve | None, coeff: float = 1.0) -> torch.Tensor:
    """A lattice (3, G, G, G) ``[c, b, g, r]`` in [-1, 1] whose output, scaled by ``coeff``, lies on ``Y + d(Y)``.

    The frame's LUT is ``coeff * lattice``; each node's output there (levels
    ``127.5 (coeff v + 1)``) is moved onto the curve at its own luma ``Y``,
    which it keeps (the tint has zero luma), and divided back by ``coeff``.
    ``curve`` None: onto the grey axis (``Y`` in every channel; ``coeff``
    then changes nothing).
    """
    lat = lattice.detach().to(torch.float64).cpu().numpy()
    levels = (coeff * lat + 1.0) * 127.5                          # (3, G, G, G), channel first
    y = np.tensordot(LUMA_BGR, levels, axes=(0, 0))               # (G, G, G)
    out = np.repeat(y[None], 3, axis=0)
    if curve is not None:
        out = out + np.moveaxis(curve(y), -1, 0)
    return torch.from_numpy((out / 127.5 - 1.0) / coeff).to(lattice.dtype)


MIN_COEFF = 0.05  # below this the look's main basis barely shows; its tint is then placed at coefficient 1


def neutral_coeff(look) -> float:
    """The coefficient of basis 0 that ``look`` gives a flat mid-grey frame (1.0 when under :data:`MIN_COEFF`)."""
    with torch.no_grad():
        a = float(look.mix(torch.zeros(1, 3, 64, 64))[0, 0])
    return a if a >= MIN_COEFF else 1.0


def project_look(look, curve: TintCurve) -> float:
    """Project ``look``'s bases in place (:class:`~livestyle.models.lut.AdaptiveLUT`): basis 0 onto ``curve``
    at the coefficient a mid-grey frame gives it (:func:`neutral_coeff`), the others onto the grey axis (see
    the module docstring).  The weight network is kept.  Returns that coefficient."""
    a = neutral_coeff(look)
    with torch.no_grad():
        for m in range(look.basis.shape[0]):
            look.basis[m].copy_(project_lattice(look.basis[m], curve, a) if m == 0 else
                                project_lattice(look.basis[m], None))
    return a


def near_monochrome(style_images: list[np.ndarray], content_images: list[np.ndarray] | None = None, *,
                    limit: float = OFF_TINT_LIMIT, seed: int = 0) -> TintCurve | None:
    """The style photos' tint curve when they are near-monochrome (off-tint chroma p99 under ``limit``) and the
    content photos, if given, are not (theirs at least :data:`CONTENT_FACTOR` times ``limit``); else None."""
    curve = tint_curve(style_images, seed=seed)
    if curve is None or curve.off_tint_p99 >= limit:
        return None
    if content_images is not None:
        content = tint_curve(content_images, seed=seed + 1)
        if content is None or content.off_tint_p99 < CONTENT_FACTOR * limit:
            return None
    return curve


def tint_look(look, style_images: list[np.ndarray], content_images: list[np.ndarray] | None = None, *,
              limit: float = OFF_TINT_LIMIT, seed: int = 0) -> dict | None:
    """At export: when the style photos are near-monochrome (:func:`near_monochrome`), project ``look``
    (an :class:`~livestyle.models.lut.AdaptiveLUT`) onto their tint, in place.

    Returns what to record in the look's metrics (the photos' chroma, the
    tint, the limit), or None when the look was left untouched.
    """
    curve = near_monochrome(style_images, content_images, limit=limit, seed=seed)
    if curve is None:
        return None
    a = project_look(look, curve)
    return {**curve.to_dict(), "limit": limit, "at_coefficient": round(a, 4)}


def tint_line(tint: dict | None) -> list[str]:
    """One line for the training summary when the look was projected; none otherwise."""
    if tint is None:
        return []
    return [f"near-monochrome style photos (colour off their tint: {tint['style_off_tint_p99']:.0f} levels at the "
            f"99th percentile, under {tint['limit']:.0f}): the look keeps only their tint, no input colour survives"]
