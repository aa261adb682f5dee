"""The local part of a colour look (vignette, bloom), fitted from unpaired photos after its LUT is learned.

A look's local part (:class:`livestyle.models.lut.LocalMaps`) adds ``sum_j c_jc * B_j(x, p)`` to the LUT's
output: a vignette (``r^2 x_c``, ``r^4 x_c``) and a bloom of highlights at two widths.  There are no pairs, so
the coefficients are fitted on statistics that only these terms move, compared between the style photos and
the content photos passed through the learned look:

* **by radius**: each channel's mean in 8 rings around the centre, over the photo's own mean (a vignette
  darkens the outer rings of every photo, whatever the scene);
* **by glow**: each channel's mean where the wide bloom map (the photo's own highlights, blurred) lies in each
  of 6 bands, minus its mean far from any highlight (a bloom lifts what lies near bright parts).

Both are averaged over many photos, so the scenes' own layouts (a bright sky on top, a lamp in a corner)
mostly cancel between the two folders.  The content side is linear in the coefficients, so the fit is a small
least-squares problem on per-photo region means.  The candidates (:data:`CANDIDATES`: none and the vignette;
:data:`ALL_CANDIDATES` adds the bloom, alone and with the vignette, whose fit was measured to hurt) are fitted on
the training photos, each once more with the content's glow bands found on its own output, and judged on the
*held-out* photos (distances in units of their chance level): nothing is kept unless those differ from
the look's output by more than chance (:data:`MIN_SIGNAL`); then the simplest candidate that cuts the distance
by :data:`MIN_GAIN` wins, and one with more parts only when it cuts the best simpler one's by as much; every
part must be large enough to see (:data:`MIN_VIGNETTE`, :data:`MIN_BLOOM`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from livestyle.models.lut import LOCAL_TERMS, AdaptiveLUT, LocalMaps, apply_lut, describe_local

RINGS = 8                                           # radius bands, uniform in r^2 (equal areas)
GLOW_EDGES = (0.01, 0.03, 0.06, 0.1, 0.2, 0.35)    # wide-bloom map bands above "far from highlights"
FIT_SIDE = 192                                      # photos are fitted at most this many pixels on their long side
MIN_SIGNAL = 2.0                                    # the held-out photos must differ by twice the chance level
MIN_GAIN = 0.10                                     # and a local part must cut that distance by 10 %
MIN_VIGNETTE = 0.05                                 # ... and be visible: corners 5 % darker (or lighter)
MIN_BLOOM = 4.0                                     # ... a glow of 4 levels
MAX_BLOOM = 64.0                                    # levels: a glow stronger than this is not a glow
RIDGE = 1e-3
MIN_BAND_SHARE = 0.002                              # a glow band counts when it holds 0.2 % of the pixels on both sides
# Fitted by default: the vignette only.  The bloom's fit from these statistics was measured to hurt (glow_vignette,
# RESULTS: the vignette alone +2.12 dB, with the fitted bloom +0.27; the glow statistic moved the right way on the
# held-out photos all the same), so the bloom candidates are there for `fit_local(..., candidates=ALL_CANDIDATES)`.
ALL_CANDIDATES = {"none": (), "vignette": (0, 1), "bloom": (2, 3), "vignette+bloom": (0, 1, 2, 3)}
CANDIDATES = {"none": (), "vignette": (0, 1)}
_REGIONS = RINGS + len(GLOW_EDGES) + 2              # rings, glow bands + the "far" band, the whole photo


def _small(image: np.ndarray, side: int = FIT_SIDE) -> np.ndarray:
    h, w = image.shape[:2]
    f = side / max(h, w)
    if f >= 1.0:
        return image
    return cv2.resize(image, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA)


def _regions(levels: torch.Tensor, maps: LocalMaps) -> torch.Tensor:
    """(regions, H*W) float 0/1 membership of every pixel of one graded photo (1, H, W, 3) in levels."""
    _, h, w, _ = levels.shape
    yy = (torch.arange(h, dtype=torch.float32) - (h - 1) / 2.0) ** 2
    xx = (torch.arange(w, dtype=torch.float32) - (w - 1) / 2.0) ** 2
    r2 = ((yy[:, None] + xx[None, :]) / (((h - 1) / 2.0) ** 2 + ((w - 1) / 2.0) ** 2)).reshape(-1)
    ring = torch.clamp((r2 * RINGS).long(), max=RINGS - 1)
    glow = _glow(levels, maps).reshape(-1)
    band = torch.bucketize(glow, torch.tensor(GLOW_EDGES))          # 0 = far from highlights
    out = torch.zeros(_REGIONS, h * w)
    out[ring, torch.arange(h * w)] = 1.0
    out[RINGS + band, torch.arange(h * w)] = 1.0
    out[-1] = 1.0
    return out


def _glow(levels: torch.Tensor, maps: LocalMaps) -> torch.Tensor:
    """The wide bloom map of a photo (1, H, W), 0..1, as the engine makes it."""
    one = torch.zeros(1, len(LOCAL_TERMS), 3)
    one[0, 3] = 1.0
    return maps(levels, one)[..., 0].contiguous()  # a channel of a channel-last map: bucketize wants it whole


def _means(images: np.ndarray | list, look: AdaptiveLUT | None, maps: LocalMaps,
           regions_with: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per photo: pixel counts (P, regions) and channel means (P, regions, 1 + terms, 3).

    Slot 0 is the photo graded by ``look``'s LUT (the photo itself when ``look`` is None), slot 1 + j the
    local term j with coefficient 1 on every channel (zeros for style photos).  The regions are those of the
    graded photo, or of the graded photo plus the local part ``regions_with`` (4, 3) when given: a style
    photo's glow bands are found on the photo as the look left it, vignette and glow included."""
    counts, means = [], []
    for im in images:
        x = torch.from_numpy(np.ascontiguousarray(_small(im))).to(torch.float32)[None]   # (1, H, W, 3) levels
        if look is None:
            graded, terms = x, torch.zeros(len(LOCAL_TERMS), *x.shape[1:])
        else:
            unit = x.permute(0, 3, 1, 2) * (2.0 / 255.0) - 1.0
            lut = apply_lut(look.luts(look.mix(unit)), unit)
            graded = torch.clamp((lut + 1.0) * 127.5, 0.0, 255.0).permute(0, 2, 3, 1)
            terms = []
            for j in range(len(LOCAL_TERMS)):
                c = torch.zeros(1, len(LOCAL_TERMS), 3)
                c[0, j] = 1.0
                terms.append(maps(x, c)[0])
            terms = torch.stack(terms)                                                  # (terms, H, W, 3)
        seen = graded if regions_with is None else torch.clamp(graded + maps(x, regions_with[None]), 0.0, 255.0)
        reg = _regions(seen, maps)                                                      # (R, HW)
        n = reg.sum(dim=1)                                                              # (R,)
        stack = torch.cat([graded, terms]).reshape(1 + len(LOCAL_TERMS), -1, 3)        # (1+J, HW, 3)
        m = torch.einsum("rp,jpc->rjc", reg, stack) / n.clamp(min=1.0)[:, None, None]
        counts.append(n)
        means.append(m)
    return torch.stack(counts), torch.stack(means)


def _per_photo(counts: torch.Tensor, means: torch.Tensor, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each photo's statistics (P, regions - 2, 3) and their weights (P, regions - 2, 1).

    Rings: the ring's mean over the photo's mean, in percent (weight 1 where the ring has pixels).  Glow bands:
    the band's mean minus the photo's far-band mean, in levels (weight: the band's pixels, where both exist)."""
    m = means[:, :, 0] + torch.einsum("prjc,jc->prc", means[:, :, 1:], coeffs)          # (P, R, 3)
    whole, far = m[:, -1], m[:, RINGS]
    rings = 100.0 * m[:, :RINGS] / whole.clamp(min=1.0)[:, None]
    bands = m[:, RINGS + 1:-1] - far[:, None]
    w = torch.cat([(counts[:, :RINGS] > 0).to(torch.float32),
                   counts[:, RINGS + 1:-1] * (counts[:, RINGS:RINGS + 1] > 0)], dim=1)[..., None]
    return torch.cat([rings, bands], dim=1), w


def _stats(counts: torch.Tensor, means: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """The statistics (regions - 2, 3) of photos whose local part has ``coeffs`` (terms, 3): each photo's,
    averaged with its weight (see :func:`_per_photo`)."""
    v, w = _per_photo(counts, means, coeffs)
    return (w * v).sum(0) / w.sum(0).clamp(min=1e-6)


def _noise(counts: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """(regions - 2, 3): the standard error of each statistic, from how much it varies between the photos
    (weighted variance over the effective number of photos); inf where fewer than 3 photos back it."""
    v, w = _per_photo(counts, means, torch.zeros(len(LOCAL_TERMS), 3))
    mean = (w * v).sum(0) / w.sum(0).clamp(min=1e-6)
    var = (w * (v - mean) ** 2).sum(0) / w.sum(0).clamp(min=1e-6)
    n_eff = w.sum(0) ** 2 / (w ** 2).sum(0).clamp(min=1e-12)
    se = torch.sqrt(var / n_eff.clamp(min=1.0))
    return torch.where(n_eff >= 3.0, se, torch.full_like(se, float("inf")))


def _support(counts: torch.Tensor) -> torch.Tensor:
    """(regions - 2,) bool: which statistics enough pixels back (a glow band seen in few photos is noise)."""
    rings = (counts[:, :RINGS] > 0).sum(0) >= 3
    n = (counts[:, RINGS + 1:-1] * (counts[:, RINGS:RINGS + 1] > 0))
    bands = ((n > 0).sum(0) >= 3) & (n.sum(0) >= MIN_BAND_SHARE * counts[:, -1].sum())
    return torch.cat([rings, bands])


def _distance(a: torch.Tensor, b: torch.Tensor, se: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Root mean square of the differences in units of their standard error (about 1 where two sets of photos
    differ only by chance)."""
    return torch.sqrt((((a - b) / se) ** 2)[mask].mean())


def _coeffs(p: torch.Tensor, terms: tuple[int, ...]) -> torch.Tensor:
    """Free parameters -> coefficients (terms, 3): vignette terms the same on every channel (a vignette that
    tinted would put colour into a black-and-white look's corners), held to -1..1 after the fit;
    bloom terms ``MAX_BLOOM p^2 / (1 + p^2)`` levels (a bloom adds light: never negative, and bounded)."""
    rows = [p[i].mean().expand(3) if t < 2 else MAX_BLOOM * p[i] ** 2 / (1.0 + p[i] ** 2) for i, t in enumerate(terms)]
    c = torch.zeros(len(LOCAL_TERMS), 3)
    return c.index_put((torch.tensor(terms),), torch.stack(rows))


def _fit(data: tuple, terms: tuple[int, ...]) -> torch.Tensor:
    """Coefficients (terms, 3) over ``terms`` (others 0) that bring the content's statistics to the style's."""
    (counts, means), style, se, mask = data
    if not terms:
        return torch.zeros(len(LOCAL_TERMS), 3)
    start = torch.tensor([0.0 if t < 2 else 0.3 for t in terms])[:, None].repeat(1, 3)
    p = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([p], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _distance(_stats(counts, means, _coeffs(p, terms)), style, se, mask) ** 2 + RIDGE * (p ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        c = _coeffs(p, terms)
        c[:2] = c[:2].clamp(-1.0, 1.0)
        c[2:] = c[2:].clamp(0.0, MAX_BLOOM)
    return c


def _visible(c: torch.Tensor, terms: tuple[int, ...]) -> bool:
    """Whether every part of a candidate is large enough to see: a vignette of at least :data:`MIN_VIGNETTE` in
    the corners, a bloom of at least :data:`MIN_BLOOM` levels (smaller fitted parts are statistics' noise)."""
    ok = True
    if 0 in terms:
        ok &= float((c[0] * 0.94 + c[1] * 0.94 ** 2).abs().max()) >= MIN_VIGNETTE
    if 2 in terms:
        ok &= float((c[2] + c[3]).max()) >= MIN_BLOOM
    return ok


@torch.no_grad()
def _prepare(look, content, style, regions_with: torch.Tensor | None = None, style_side=None) -> tuple:
    """((content counts, means), the style's statistics, their standard errors, which statistics both sides
    support), and the style side's (counts, means) for reuse."""
    maps = LocalMaps()
    counts, means = _means(content, look, maps, regions_with)
    s_counts, s_means = style_side if style_side is not None else _means(style, None, maps)
    se = torch.sqrt(_noise(counts, means) ** 2 + _noise(s_counts, s_means) ** 2).clamp(min=0.05)
    mask = (_support(counts) & _support(s_counts))[:, None] & torch.isfinite(se)
    return ((counts, means), _stats(s_counts, s_means, torch.zeros(len(LOCAL_TERMS), 3)), se, mask), \
        (s_counts, s_means)


def fit_local(look: AdaptiveLUT, content: list[np.ndarray], style: list[np.ndarray], content_held: list[np.ndarray],
              style_held: list[np.ndarray], *, compensate: bool = True, candidates: dict | None = None) -> dict:
    """Fit ``look``'s local part from the photos (uint8 BGR) and set it in place when the held-out photos agree.

    ``look``'s LUT is the learned one (its local part is ignored and replaced).  With ``compensate`` the LUT's
    output is then rescaled so the local part's average is not counted twice (:func:`_compensate`): for a LUT
    learned from the style photos as they are.  Returns a JSON-able record:
    every candidate's coefficients and its distance on the training and the held-out photos (root mean square
    over the statistics above: percent for the rings, levels for the glow bands), and ``kept``.
    """
    look = look.eval()
    with torch.no_grad():
        look.local.zero_()
    train, style_train = _prepare(look, content, style)
    held, style_held_side = _prepare(look, content_held, style_held)
    candidates = candidates or CANDIDATES
    rows = {}
    for name, terms in candidates.items():
        c = _fit(train, terms)
        if terms:  # once more, with the content's glow bands found on its output with this local part
            train_c, _ = _prepare(look, content, style, c, style_train)
            c = _fit(train_c, terms)
            train_c, _ = _prepare(look, content, style, c, style_train)
            held_c, _ = _prepare(look, content_held, style_held, c, style_held_side)
        else:
            train_c, held_c = train, held
        with torch.no_grad():
            rows[name] = {"coeffs": [[round(float(v), 4) for v in row] for row in c],
                          "train_distance": round(float(_distance(_stats(*train_c[0], c), *train_c[1:])), 3),
                          "heldout_distance": round(float(_distance(_stats(*held_c[0], c), *held_c[1:])), 3)}
    base = rows["none"]["heldout_distance"]
    for name, row in rows.items():
        row["visible"] = name == "none" or _visible(torch.tensor(row["coeffs"]), candidates[name])
    kept = "none"
    if base >= MIN_SIGNAL:  # simplest first: a candidate with more parts must beat the best simpler one by MIN_GAIN
        for parts in (1, 2):
            names = [k for k in rows if rows[k]["visible"] and len(candidates[k]) == 2 * parts]
            if not names:
                continue
            best = min(names, key=lambda k: rows[k]["heldout_distance"])
            if rows[best]["heldout_distance"] <= (1.0 - MIN_GAIN) * rows[kept]["heldout_distance"]:
                kept = best
    scale = [1.0, 1.0, 1.0]
    with torch.no_grad():
        c = torch.tensor(rows[kept]["coeffs"])
        look.local.copy_(c)
        if kept != "none" and compensate:
            scale = _compensate(look, *train[0], c)
    return {"kept": kept, "terms": list(LOCAL_TERMS), "candidates": rows, "min_gain": MIN_GAIN,
            "lut_scale": [round(v, 4) for v in scale],
            "photos": {"content": len(content), "style": len(style), "content_held": len(content_held),
                       "style_held": len(style_held)}}


def _compensate(look: AdaptiveLUT, counts: torch.Tensor, means: torch.Tensor, coeffs: torch.Tensor) -> list[float]:
    """Scale the look's LUT output (in levels, one scale for all channels) so the content photos' mean level
    through LUT and local part is what it was through the LUT alone; returns the scales.

    The LUT was learned from the style photos as they are, vignette and glow included, so it already carries
    their average effect (a vignette made it darker everywhere); without this the local part would count it
    twice.  (Measured on glow_vignette, RESULTS: the vignette alone -1.78 dB against the LUT, +1.71 with this.)
    Exact for the neutral basis coefficients (a flat mid-grey frame's), as the engine's other exports."""
    whole = means[:, -1]                                                         # (P, 1 + terms, 3)
    before = whole[:, 0].mean(0)
    after = (whole[:, 0] + torch.einsum("pjc,jc->pc", whole[:, 1:], coeffs)).mean(0)
    # one scale for the three channels: a scale per channel would tint the grade (a black-and-white look's too)
    k = (before.sum() / after.sum().clamp(min=1.0)).clamp(0.5, 2.0).expand(3)
    a = look.mix(torch.zeros(1, 3, 64, 64))[0]                                   # neutral coefficients
    kk = k.reshape(3, 1, 1, 1)
    # levels = 127.5 (sum_m a_m basis_m + 1): scaling them by k is basis_m -> k basis_m, plus (k - 1) / a_0 on basis 0
    look.basis.mul_(kk.unsqueeze(0))
    look.basis[0].add_((kk - 1.0) / a[0].clamp(min=1e-3))
    return [float(v) for v in k]


def undo_local(images: list[np.ndarray], coeffs: torch.Tensor) -> list[np.ndarray]:
    """The photos (uint8 BGR) with a local part ``coeffs`` (4, 3) taken out: ``(s - offset) / (1 + gain)``, the
    maps made from each photo itself (its highlights stand in for those before the glow)."""
    maps, out = LocalMaps(), []
    with torch.no_grad():
        for im in images:
            x = torch.from_numpy(np.ascontiguousarray(im)).to(torch.float32)[None]
            gain, offset = maps.parts(x, coeffs[None])
            y = (x - offset) / (1.0 + gain).clamp(min=0.2)
            out.append(np.ascontiguousarray(torch.clamp(y + 0.5, 0.0, 255.0).to(torch.uint8)[0].numpy()))
    return out


def prefit_local(content: list[np.ndarray], style: list[np.ndarray], content_held: list[np.ndarray],
                 style_held: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
    """Before the LUT is learned: the local part the style photos show against the content photos as they are
    (no grade yet), and the style photos with it taken out (:func:`undo_local`) when the held-out photos agree,
    so the LUT learns the grade alone instead of the vignette's and glow's average.  Returns (the style photos
    to learn the LUT from, the fit's record)."""
    record = fit_local(AdaptiveLUT(), content, style, content_held, style_held, compensate=False)
    if record["kept"] == "none":
        return style, record
    return undo_local(style, torch.tensor(record["candidates"][record["kept"]]["coeffs"])), record


def local_lines(record: dict | None) -> list[str]:
    """One line for ``livestyle train``: what the local part is, or why there is none."""
    if not record:
        return []
    rows, kept = record["candidates"], record["kept"]
    none = rows["none"]["heldout_distance"]
    before = record.get("before_training") or {}
    lines = []
    if before.get("kept", "none") != "none":
        lines.append("taken out of the style photos before the LUT was learned: "
                     + describe_local(torch.tensor(before["candidates"][before["kept"]]["coeffs"])))
    return lines + _kept_line(rows, kept, none)


def _kept_line(rows: dict, kept: str, none: float) -> list[str]:
    if kept == "none" and none < MIN_SIGNAL:
        return [f"local part: none (the held-out photos' vignette/glow statistics differ from the look's by "
                f"{none:.1f}x their chance level; {MIN_SIGNAL:.0f}x is needed)"]
    if kept == "none":
        best = min((k for k in rows if k != "none"), key=lambda k: rows[k]["heldout_distance"])
        return [f"local part: none (the best, {best}, moved the held-out photos' vignette/glow statistics "
                f"{none:.1f} -> {rows[best]['heldout_distance']:.1f}: not {int(MIN_GAIN * 100)}% closer)"]
    return [f"local part: {describe_local(torch.tensor(rows[kept]['coeffs']))}; vignette/glow statistics of the "
            f"held-out photos {none:.1f} -> {rows[kept]['heldout_distance']:.1f}"]
