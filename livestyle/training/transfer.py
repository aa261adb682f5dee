"""Training-free colour transfer as a 3D LUT lattice: where the colour learner starts, and what it must beat.

Two fits, both numpy only, seeded, a few seconds on a CPU:

* :func:`idt_lattice`, Pitié et al.'s iterative distribution transfer (2005/2007):
  ``rounds`` times, turn the colours by a random rotation and match each of
  the three 1-D marginals of the content pixels to the style pixels'
  (quantile matching); every round's maps are applied to the lattice nodes
  too, so the result is a LUT.  It matches the *pooled* colours of the two
  folders, so it takes every difference between them for the look: with
  style photos of other scenes (darker rooms, greener landscapes) it bends
  the look toward what those photos show.
* :func:`banded_lattice`, like with like: luminance is matched by quantiles
  (a tone curve), but colour is compared only between pixels of the same
  *luminance band* and *hue family* (the shadows' greens of one folder with
  the shadows' greens of the other), and each band's shift and saturation
  change is the median over its hue families, weighted by how many pixels
  both folders have there.  A folder that holds more green, or more dark
  pixels, then changes how *many* pixels each family has, not the shift that
  family gets.

Lattices use the look layout of :mod:`livestyle.models.lut`: float32 (3, G,
G, G) ``[c, b, g, r]``, BGR, in [-1, 1].  Pixels are float (N, 3) BGR in
0..1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# BT.601 luma and two opponent axes (orthonormal-ish in BGR order): the space banded_lattice compares in
_Y = np.array([0.114, 0.587, 0.299])
_CB = np.array([0.5, -0.331264, -0.168736])      # blue - yellow
_CR = np.array([-0.081312, -0.418688, 0.5])      # red - cyan
_TO_YCC = np.stack([_Y, _CB, _CR])               # (3, 3): BGR -> (Y, Cb, Cr)
_FROM_YCC = np.linalg.inv(_TO_YCC)


def node_colours(grid: int) -> np.ndarray:
    """float64 (G^3, 3) BGR in 0..1: the lattice nodes, row ``b*G*G + g*G + r`` (the ``[b, g, r]`` order)."""
    v = np.linspace(0.0, 1.0, grid)
    b, g, r = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([b, g, r], -1).reshape(-1, 3)


def nodes_to_lattice(nodes: np.ndarray, grid: int) -> np.ndarray:
    """(G^3, 3) BGR 0..1 node outputs -> float32 (3, G, G, G) ``[c, b, g, r]`` in [-1, 1] (clipped)."""
    lat = np.clip(nodes, 0.0, 1.0).reshape(grid, grid, grid, 3).transpose(3, 0, 1, 2) * 2.0 - 1.0
    return np.ascontiguousarray(lat, np.float32)


def pixels(images: list[np.ndarray], per_image: int = 4096, seed: int = 0) -> np.ndarray:
    """float64 (N, 3) BGR 0..1: up to ``per_image`` pixels drawn from each uint8 BGR image (seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for im in images:
        flat = im.reshape(-1, 3)
        take = rng.choice(len(flat), min(per_image, len(flat)), replace=False)
        out.append(flat[take])
    return np.concatenate(out).astype(np.float64) / 255.0


def _quantile_map(src: np.ndarray, dst: np.ndarray, n: int = 256):
    """A monotone 1-D map taking the quantiles of ``src`` to those of ``dst`` (linear, shifted beyond the ends)."""
    q = np.linspace(0.0, 1.0, n)
    qs, qd = np.quantile(src, q), np.quantile(dst, q)
    qs = qs + np.arange(n) * 1e-9                         # strictly increasing, for np.interp
    lo_shift, hi_shift = qd[0] - qs[0], qd[-1] - qs[-1]

    def f(v: np.ndarray) -> np.ndarray:
        out = np.interp(v, qs, qd)
        out = np.where(v < qs[0], v + lo_shift, out)
        return np.where(v > qs[-1], v + hi_shift, out)
    return f


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def idt_lattice(content: np.ndarray, style: np.ndarray, *, grid: int = 17, rounds: int = 20,
                seed: int = 0) -> np.ndarray:
    """Pitié's iterative distribution transfer from ``content`` to ``style`` pixels ((N, 3) BGR 0..1), as a lattice.

    Each round: a random rotation (the first is the identity's axes), 1-D
    quantile matching along each rotated axis, applied to the content pixels
    and to the ``grid``^3 nodes alike.  Returns float32 (3, G, G, G).
    """
    rng = np.random.default_rng(seed)
    x, y = content.copy(), style
    nodes = node_colours(grid)
    for i in range(rounds):
        rot = np.eye(3) if i == 0 else _rotation(rng)
        px, py, pn = x @ rot, y @ rot, nodes @ rot
        for k in range(3):
            f = _quantile_map(px[:, k], py[:, k])
            px[:, k], pn[:, k] = f(px[:, k]), f(pn[:, k])
        x, nodes = px @ rot.T, pn @ rot.T
    return nodes_to_lattice(nodes, grid)


@dataclass(frozen=True)
class Bands:
    """How :func:`banded_lattice` splits colours: ``bands`` luminance bands, ``hues`` hue families, and
    the chroma (0..1 units) under which a pixel counts as near-grey (its own family)."""

    bands: int = 6
    hues: int = 8
    grey_chroma: float = 0.04


def _families(ycc: np.ndarray, spec: Bands) -> tuple[np.ndarray, np.ndarray]:
    """(band index, family index) of each (Y, Cb, Cr) pixel: bands by luma, families by hue (+1 near-grey)."""
    band = np.clip((ycc[:, 0] * spec.bands).astype(int), 0, spec.bands - 1)
    chroma = np.hypot(ycc[:, 1], ycc[:, 2])
    hue = np.arctan2(ycc[:, 2], ycc[:, 1])
    fam = np.clip(((hue + np.pi) / (2 * np.pi) * spec.hues).astype(int), 0, spec.hues - 1)
    fam = np.where(chroma < spec.grey_chroma, spec.hues, fam)
    return band, fam


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    c = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(c, 0.5 * c[-1])])


def banded_lattice(content: np.ndarray, style: np.ndarray, *, grid: int = 17, spec: Bands = Bands(),
                   min_pixels: int = 50, tone: bool = True) -> np.ndarray:
    """Like-with-like colour transfer as a lattice; see the module docstring.  Returns float32 (3, G, G, G).

    Luma: quantile matching of the two folders' luma.  Per luminance band
    (of each pixel's own luma; the style pixels' bands are taken after
    undoing the tone curve, so both folders' bands hold the same input
    tones): the chroma offset (Cb, Cr) and the chroma gain, each the
    weighted median over hue families that both folders fill (at least
    ``min_pixels`` each; weight: the smaller count).  Bands with no usable
    family get the neighbouring bands' values; the offsets and gains are
    then interpolated smoothly along luma.
    """
    yc, ys = content @ _TO_YCC.T, style @ _TO_YCC.T
    if tone:
        tone_map = _quantile_map(yc[:, 0], ys[:, 0])
        inverse = _quantile_map(ys[:, 0], yc[:, 0])
    else:                                                    # luma kept: only colour is transferred
        tone_map = inverse = lambda v: v  # noqa: E731
    ys_in = ys.copy()
    ys_in[:, 0] = inverse(ys[:, 0])                         # style pixels at the tone they started from
    bc, fc = _families(yc, spec)
    bs, fs = _families(ys_in, spec)
    offsets = np.full((spec.bands, 2), np.nan)
    gains = np.full(spec.bands, np.nan)
    for band in range(spec.bands):
        vals, gvals, wts = [], [], []
        for fam in range(spec.hues + 1):
            mc = (bc == band) & (fc == fam)
            ms = (bs == band) & (fs == fam)
            nc, ns = int(mc.sum()), int(ms.sum())
            if min(nc, ns) < min_pixels:
                continue
            cc, cs = yc[mc, 1:], ys_in[ms, 1:]
            vals.append(cs.mean(0) - cc.mean(0))
            if fam < spec.hues:                              # saturation only where there is colour
                gvals.append(np.hypot(*cs.T).mean() / max(np.hypot(*cc.T).mean(), 1e-6))
            else:
                gvals.append(np.nan)
            wts.append(min(nc, ns))
        if not vals:
            continue
        v, w = np.asarray(vals), np.asarray(wts, float)
        offsets[band] = [_weighted_median(v[:, 0], w), _weighted_median(v[:, 1], w)]
        g = np.asarray(gvals)
        ok = np.isfinite(g)
        gains[band] = _weighted_median(g[ok], w[ok]) if ok.any() else 1.0
    centres = (np.arange(spec.bands) + 0.5) / spec.bands
    known = np.isfinite(gains)
    if not known.any():
        offsets[:] = 0.0
        gains[:] = 1.0
    else:
        for k in range(2):
            offsets[:, k] = np.interp(centres, centres[known], offsets[known, k])
        gains = np.interp(centres, centres[known], gains[known])
    nodes = node_colours(grid) @ _TO_YCC.T
    y_in = nodes[:, 0]
    gain = np.interp(y_in, centres, gains)
    shift = np.stack([np.interp(y_in, centres, offsets[:, k]) for k in range(2)], -1)
    out = np.empty_like(nodes)
    out[:, 0] = tone_map(y_in)
    out[:, 1:] = nodes[:, 1:] * gain[:, None] + shift
    return nodes_to_lattice(out @ _FROM_YCC.T, grid)


# ------------------------------------------------------------------------------------------ safety

def apply_lattice(lattice: np.ndarray, bgr: np.ndarray) -> np.ndarray:
    """Trilinear lookup in numpy: lattice (3, G, G, G) ``[c, b, g, r]`` [-1, 1], bgr (N, 3) 0..1 -> (N, 3) 0..1."""
    g = lattice.shape[1]
    pos = np.clip(bgr, 0.0, 1.0) * (g - 1)
    i0 = np.minimum(np.floor(pos).astype(np.intp), g - 2)
    f = pos - i0
    lat = (np.asarray(lattice, np.float64).transpose(1, 2, 3, 0) + 1.0) / 2.0   # [b, g, r, c] 0..1
    out = np.zeros((len(bgr), 3))
    for db in (0, 1):
        wb = f[:, 0] if db else 1 - f[:, 0]
        for dg in (0, 1):
            wg = f[:, 1] if dg else 1 - f[:, 1]
            for dr in (0, 1):
                wr = f[:, 2] if dr else 1 - f[:, 2]
                out += (wb * wg * wr)[:, None] * lat[i0[:, 0] + db, i0[:, 1] + dg, i0[:, 2] + dr]
    return out


def probe_colours() -> dict[str, np.ndarray]:
    """(N, 3) BGR 0..1 colours whose movement :func:`safety` reports: neutral greys and skin tones."""
    greys = np.repeat(np.linspace(0.1, 0.9, 9)[:, None], 3, axis=1)
    # skin tones from light to dark (sRGB values common in skin-tone charts), in BGR
    skin_rgb = np.array([[255, 224, 196], [241, 194, 167], [224, 172, 138], [198, 134, 103], [161, 102, 74],
                         [121, 76, 56], [92, 57, 42]], float) / 255.0
    return {"grey": greys, "skin": skin_rgb[:, ::-1].copy()}


def _hue(bgr: np.ndarray) -> np.ndarray:
    ycc = bgr @ _TO_YCC.T
    return np.degrees(np.arctan2(ycc[:, 2], ycc[:, 1]))


TURN_CHROMA = 10.0  # levels of chroma under which an output skin tone counts as grey (no hue to turn)


def safety(lattice: np.ndarray) -> dict:
    """How far a look moves neutral greys (mean chroma it gives them, levels) and skin tones (mean distance,
    levels; largest hue turn, degrees)."""
    probes = probe_colours()
    grey_out = apply_lattice(lattice, probes["grey"]) @ _TO_YCC.T
    skin_in, skin_out = probes["skin"], apply_lattice(lattice, probes["skin"])
    turn = np.abs((_hue(skin_out) - _hue(skin_in) + 180.0) % 360.0 - 180.0)
    coloured = np.hypot(*(skin_out @ _TO_YCC.T)[:, 1:].T) * 255.0 > TURN_CHROMA
    turn = np.where(coloured, turn, 0.0)
    return {"grey_cast_levels": float(np.hypot(grey_out[:, 1], grey_out[:, 2]).mean() * 255.0),
            "skin_move_levels": float(np.linalg.norm(skin_out - skin_in, axis=1).mean() * 255.0),
            "skin_hue_turn_deg": float(turn.max())}


def sliced_distance(a: np.ndarray, b: np.ndarray, *, directions: int = 64, samples: int = 20000,
                    seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance in levels between two pixel sets (N, 3) 0..1 (fixed seed, like held-out)."""
    rng = np.random.default_rng(seed)
    n = min(samples, len(a), len(b))
    a = a[rng.choice(len(a), n, replace=False)]
    b = b[rng.choice(len(b), n, replace=False)]
    d = rng.normal(size=(3, directions))
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    return float(np.abs(np.sort(a @ d, axis=0) - np.sort(b @ d, axis=0)).mean() * 255.0)


@dataclass(frozen=True)
class Limits:
    """What a look may do to colours that must survive it: the cast it gives neutral greys (levels), how far
    it moves skin tones (levels) and turns their hue (degrees, where the output still has colour).

    Set above what the six procedural colour looks (livestyle/looks) do themselves, measured on
    :func:`probe_colours`: grey cast up to 19.8 (vintage), skin moved up to 52.4 (mono) and 48.6 (pastel),
    skin hue turned up to 33 deg (neon); a black-and-white look's grey skin has no hue to turn.
    """

    grey_cast: float = 25.0
    skin_move: float = 55.0
    skin_turn: float = 45.0


def within(report: dict, limits: Limits) -> bool:
    return (report["grey_cast_levels"] <= limits.grey_cast and report["skin_move_levels"] <= limits.skin_move
            and report["skin_hue_turn_deg"] <= limits.skin_turn)


def identity_lattice(grid: int) -> np.ndarray:
    return nodes_to_lattice(node_colours(grid), grid)


def shrink_to_safe(lattice: np.ndarray, limits: Limits = Limits(), steps: int = 8) -> tuple[np.ndarray, float]:
    """``lattice`` moved toward the identity until :func:`safety` is within ``limits``: (lattice, kept share 0..1).

    The largest share in 1, (steps-1)/steps, ..., 0 of the look's change that stays within the limits.
    """
    ident = identity_lattice(lattice.shape[1])
    for k in range(steps, -1, -1):
        a = k / steps
        cand = (ident + a * (lattice - ident)).astype(np.float32)
        if a == 0 or within(safety(cand), limits):
            return cand, a
    return ident, 0.0  # pragma: no cover


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` picked: the candidate's ``name``, its (possibly shrunk) ``lattice``, and one row per
    candidate (name, share kept, held-out distance in levels, grey/skin numbers before shrinking)."""

    name: str
    lattice: np.ndarray
    kept: float
    rows: tuple[dict, ...]
    folders_differ: bool = False  # the pooled transfer had to be shrunk: taken whole, it would move greys or skin
                                  # tones further than a look does, so the folders differ by more than a look


def choose(candidates: dict[str, np.ndarray], held_content: np.ndarray, held_style: np.ndarray, *,
           limits: Limits = Limits(), prefer: str | None = None, fallback: str | None = None,
           judge: tuple[str, ...] = ("transfer",)) -> Choice:
    """The safest good candidate, by what training can measure.

    Each candidate lattice (and the identity, always a candidate) is shrunk
    toward the identity until it is within ``limits``
    (:func:`shrink_to_safe`), and its output on the held-out content pixels
    ``held_content`` ((N, 3) BGR 0..1) is compared with the held-out style
    pixels ``held_style`` (sliced distance, levels).  ``prefer`` (the learned
    look) is kept whenever it comes out closer than the identity: a closer
    distance alone does not rank two looks (measured: the transfer came out
    closer than the learned look, 7.8 against 11.0 levels, and scored lower,
    +2.59 against +3.22 dB; transfer_choice.py).  Otherwise the closest
    candidate that needed no shrinking wins (a candidate that had to be held
    back is a sign that the folders differ by more than a look, and then
    doing nothing is the safe choice: the shrunk transfer still scored
    -1.25 dB where the style photos were darker, greener scenes).

    When a candidate named in ``judge`` (the pooled transfer, which takes
    every difference between the folders for the look) had to be shrunk,
    the folders differ by more than a look, and ``fallback`` (the
    like-with-like colour transfer) is kept whatever the distances say:
    measured where the style scenes were darker and greener, the learned
    look scored -3.07 dB (teal_orange) and the like-with-like colour
    transfer +0.37 to +1.12 dB (five looks; transfer_bench.py).
    """
    rows, shrunk = [], {}
    grid = next(iter(candidates.values())).shape[1] if candidates else 17
    for name, lat in {"identity": identity_lattice(grid), **candidates}.items():
        safe, kept = shrink_to_safe(lat, limits)
        shrunk[name] = (safe, kept)
        dist = sliced_distance(apply_lattice(safe, held_content), held_style)
        rows.append({"name": name, "kept": kept, "heldout_distance": round(dist, 2),
                     **{k: round(v, 2) for k, v in safety(lat).items()}})
    by_name = {r["name"]: r for r in rows}
    differ = any(by_name[n]["kept"] < 1.0 for n in judge if n in by_name)
    if differ and fallback in by_name:
        best = by_name[fallback]
    elif prefer in by_name and by_name[prefer]["heldout_distance"] < by_name["identity"]["heldout_distance"]:
        best = by_name[prefer]
    else:
        best = min((r for r in rows if r["kept"] == 1.0), key=lambda r: r["heldout_distance"])
    lat, kept = shrunk[best["name"]]
    return Choice(best["name"], lat, kept, tuple(rows), differ)


# ------------------------------------------------------------------------------------------ reliability

def neutral_cast(lattice: np.ndarray, style: np.ndarray, *, bands: int = 6, quantile: float = 0.05,
                 min_pixels: int = 200) -> dict:
    """How far beyond the style photos' own near-greys a look casts neutral greys, at its worst grey.

    The style photos' near-greys: per luminance band (of the style pixels
    ``style``, (N, 3) BGR 0..1, as the look left them), the ``quantile`` of
    their chroma, in levels.  A look that tints greys tints the style photos'
    grey things too, so their least coloured pixels show roughly the cast the
    look gives greys there (less, where coloured things tinted the opposite
    way come out grey: measured on the procedural looks' own lattices over
    their style photos, the excess below reaches 15 levels for vintage on
    matched photos and 26 over outdoor scenes).  A band with fewer than
    ``min_pixels`` style pixels says nothing and allows any cast.

    Returns the worst of 19 greys (input levels 13..242): ``grey_level`` (input),
    ``cast_levels`` (the chroma the look gives it), ``style_neutral_levels``
    (what the style photos show in the band of its output luma) and
    ``excess_levels`` (the difference).
    """
    ycc = style @ _TO_YCC.T
    chroma = np.hypot(ycc[:, 1], ycc[:, 2]) * 255.0
    band = np.clip((ycc[:, 0] * bands).astype(int), 0, bands - 1)
    allowed = np.array([np.quantile(chroma[band == k], quantile) if (band == k).sum() >= min_pixels else np.inf
                        for k in range(bands)])
    greys = np.repeat(np.linspace(0.05, 0.95, 19)[:, None], 3, axis=1)
    out = apply_lattice(lattice, greys) @ _TO_YCC.T
    cast = np.hypot(out[:, 1], out[:, 2]) * 255.0
    where = allowed[np.clip((out[:, 0] * bands).astype(int), 0, bands - 1)]
    excess = cast - where
    i = int(np.argmax(excess))
    return {"grey_level": round(float(greys[i, 0] * 255.0)), "cast_levels": round(float(cast[i]), 1),
            "style_neutral_levels": round(float(where[i]), 1) if np.isfinite(where[i]) else None,
            "excess_levels": round(float(excess[i]), 1) if np.isfinite(excess[i]) else None}


@dataclass(frozen=True)
class Reliability:
    """When ``livestyle train`` calls a learned look unreliable and installs nothing (unless ``--force``).

    * the pooled transfer of the two folders had to be held to the grey/skin
      :class:`Limits` (:attr:`Choice.folders_differ`): the folders differ by
      more than a colour look does, so no statistic of them tells the look
      from the difference in content.  Measured on folders of very different
      photographs (webcam-like rooms and faces against beaches, foliage and
      sunsets; disaster_bench.py): the look installed then scored -4.0 dB
      (amber_cyan, the like-with-like fallback) and the learned look itself
      -23.6 dB;
    * the kept look casts neutral greys ``cast_excess`` levels beyond what
      the style photos' own near-greys show (:func:`neutral_cast`; the
      procedural looks' own lattices reach 15 over style photos of their
      datasets' scenes and 26 over outdoor scenes, both vintage);
    * its flicker (warping-error ratio on a pan over a held-out photo, 1.0 =
      the input's) exceeds ``flicker``; the colour looks' true looks reach
      1.31 (teal_orange) and 2.21 (neon, whose saturation boost amplifies
      the camera's noise; benchmarks/RESULTS.md, "Every colour look side by
      side"), learned looks 1.37 (teal_orange), 2.31 (neon) and 0.70
      (pastel), while the looks learned from the two very different datasets
      flickered 8.5 and 4.0 (and the disaster the issue reported, 3.28).
      The limit sits between the two: at 2.0 it refused the true neon look.

    The first two judge the folders' colours, and need ``min_photos``
    training photos in each folder (20 photos with every 10th held out):
    from fewer the pooled transfer is too noisy to tell a look from chance
    (measured: 4 to 10 synthetic photos given one of three mild looks, the
    very same scenes in both folders, exceeded the limits in 9 of 12 cases), so
    below that the check only warns, as before.
    """

    cast_excess: float = 30.0
    flicker: float = 2.5
    min_photos: int = 18


def unreliable(checked: dict | None, flicker: float | None, rel: Reliability = Reliability()) -> list[str]:
    """Why a look is unreliable, as short phrases (none: it may be installed); see :class:`Reliability`.

    ``checked``: what :func:`livestyle.training.colour.check_look` returned (None: no check ran, nothing to
    judge but flicker); ``flicker``: the held-out warping-error ratio.
    """
    reasons = []
    if checked and min(checked.get("training_photos", (0, 0))) >= rel.min_photos:
        if checked.get("folders_differ"):
            t = {r["name"]: r for r in checked.get("candidates", ())}.get("transfer", {})
            reasons.append("the style photos differ from the content photos by more than a colour look (matching "
                           f"all their colours would move skin tones {t.get('skin_move_levels', 0):.0f} levels, turn "
                           f"them {t.get('skin_hue_turn_deg', 0):.0f} deg and give greys a "
                           f"{t.get('grey_cast_levels', 0):.0f}-level cast, where a look stays within "
                           f"{Limits().skin_move:.0f} levels, {Limits().skin_turn:.0f} deg and "
                           f"{Limits().grey_cast:.0f} levels)")
        n = checked.get("neutral_cast") or {}
        if n.get("excess_levels") is not None and n["excess_levels"] > rel.cast_excess:
            reasons.append(f"it would give neutral grey {n['grey_level']} a {n['cast_levels']:.0f}-level colour cast "
                           f"where the style photos' own greys show {n['style_neutral_levels']:.0f}")
    if flicker is not None and flicker > rel.flicker:
        reasons.append(f"it flickers {flicker:.1f}x as much as the input on a moving clip")
    return reasons
