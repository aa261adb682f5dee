"""Skin statistics of still portraits, and the skin retouch one set of photos shows against another.

The question answered here: the style photos' skin is smoother (or brighter) than the content photos'
skin by how much of livestyle's own retouch (:func:`livestyle.ops.beauty.smooth_skin` and
:func:`~livestyle.ops.beauty.tone_skin`)?  It is answered by calibration: each content face is retouched
by the real operation at the amounts :data:`AMOUNTS`, a statistic is measured on each result, and the
amount at which the content faces' statistic (their median) equals the style faces' statistic (their
median) is the learned amount (:func:`learn_amount`; the curve is made monotone and the answer clipped
to 0..1).

Statistics, per face (:func:`measure`, :class:`SkinSample`), on the face's skin: the retouch's own mask
(:func:`livestyle.ops.beauty.skin_mask`) at 0.7 of its peak or more, eroded by :data:`ERODE` of the eye
span; for the texture, only where that skin lies within :data:`CHEEK_RADIUS` eye spans of the two cheek
centres (the same part of every face, whatever the mask takes in elsewhere: forehead, neck) and only on
the pixels whose local luma variance (a window of :data:`ERODE` of the eye span) is in the lower
:data:`FLAT_PERCENTILE` percent, so edges, folds and the face's border are left out:

* ``spectrum``: the mean energy of the luma's difference-of-Gaussians bands between the sigmas of
  :data:`BANDS` (half-octave steps from 0.5 to 16 frame pixels; band 0 is the luma minus its blur at
  0.5 px), as natural logarithms;
* ``texture``: ``spectrum[FINE] - spectrum[COARSE]``, the energy of a fine band (:data:`FINE`: DoG sigma
  1.41 to 2 px, pores and fine texture, which the smoothing removes) over that of a coarser band of the
  same skin (:data:`COARSE`: 4 to 5.66 px, which it mostly keeps), so that the texture's overall contrast
  and the lighting cancel.  Of the band contrasts, this pair generalised best from some people to
  another on the portraits of ``benchmarks/people/learned_beauty.py --nested``;
* ``tone``: the skin's median CIE L* (0..100) minus that of the lips (which the retouch leaves alone and
  which are lit like the skin).

A face whose eye span (outer corners, frame pixels) is under :data:`MIN_EYE_SPAN` carries too little
texture at the fine band and is not measured (``measure`` returns None); nor is one with fewer than
:data:`MIN_PIXELS` flat skin pixels.

:func:`find_faces` finds the faces of a still photo (BlazeFace, then the 468-point landmark model run
:data:`REFINE` times, each time on the crop its last points give).  :func:`learn_beauty` puts it
together for two lists of photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from livestyle.ops import beauty as ops

#: Gaussian sigmas (frame pixels) bounding the spectrum's bands: band i is blur(sigma[i-1]) - blur(sigma[i])
#: (band 0: the luma minus blur(sigma[0])).
BANDS = (0.5, 0.71, 1.0, 1.41, 2.0, 2.83, 4.0, 5.66, 8.0, 11.3, 16.0)
FINE = 4                 # the fine texture band: index into BANDS' bands (DoG sigma 1.41 to 2 px)
COARSE = 7               # the reference band of the same skin (DoG sigma 4 to 5.66 px)
MIN_EYE_SPAN = 90.0      # px between the outer eye corners; smaller faces are not measured
MIN_PIXELS = 400         # flat skin pixels a face needs
ERODE = 0.06             # the skin's erosion and the variance window's radius, as a fraction of the eye span
CHEEK_RADIUS = 0.35      # the texture's region: discs of this many eye spans round the cheek centres
FLAT_PERCENTILE = 70.0   # skin pixels with local variance up to this percentile are "flat"
AMOUNTS = tuple(round(0.1 * i, 1) for i in range(11))  # the calibration's amounts
REFINE = 3               # landmark passes per face in find_faces
_MARGIN = int(math.ceil(3 * BANDS[-1]))  # pixels around the skin kept for the blurs' support
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def eye_span(landmarks: np.ndarray) -> float:
    """Distance between the outer eye corners of a (468, 2) landmark array, in its pixels."""
    pts = np.asarray(landmarks, np.float64)
    return float(np.hypot(*(pts[LEFT_EYE_OUTER] - pts[RIGHT_EYE_OUTER])))


def find_faces(image: np.ndarray, *, detector=None, landmarker=None, max_faces: int = 4) -> list[np.ndarray]:
    """The faces of a still photo (uint8 BGR) as float32 (468, 2) landmark arrays in its pixels, largest
    first, at most ``max_faces``; [] when BlazeFace finds none (see :mod:`livestyle.people.face` for the
    size it needs).  ``detector``/``landmarker``: :class:`~livestyle.people.face.FaceDetector` and
    :class:`~livestyle.people.face.FaceLandmarker` to reuse (made here when not given; ModelMissing when
    their files are missing)."""
    from livestyle.people.face import FaceDetector, FaceLandmarker, roi_from_points

    detector = detector or FaceDetector()
    landmarker = landmarker or FaceLandmarker()
    dets = sorted(detector.detect(image), key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    out: list[np.ndarray] = []
    for d in dets[:max_faces]:
        roi = roi_from_points((d.keypoints[0], d.keypoints[1]), np.array([d.box[:2], d.box[2:]]), 1.5)
        pts = None
        for _ in range(REFINE):
            pts, presence = landmarker.run(image, roi)
            if presence < 0.5 or not np.isfinite(pts).all():
                pts = None
                break
            roi = roi_from_points((pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER]), pts, 1.5)
        if pts is not None:
            out.append(pts.astype(np.float32))
    out.sort(key=lambda p: -eye_span(p))
    return out


@dataclass(frozen=True)
class SkinSample:
    """One face's skin statistics (see the module docstring): ``eye_span`` px, ``pixels`` (flat skin
    pixels measured), ``spectrum`` float64 (len(BANDS),) ln energies, ``texture`` and ``tone``."""

    eye_span: float
    pixels: int
    spectrum: np.ndarray = field(repr=False)
    texture: float
    tone: float


def measure_alpha(image: np.ndarray, alpha: np.ndarray, span: float, lips: np.ndarray | None = None,
                  cheeks: Sequence[tuple[float, float]] | None = None) -> SkinSample | None:
    """The statistics of the skin weighted ``alpha`` (float (H, W) in 0..1, the size of ``image``, uint8
    BGR) for a face of eye span ``span`` px; ``lips``: a boolean (H, W) mask of the lips (``tone`` is NaN
    without it); ``cheeks``: the cheek centres (x, y) that limit the texture's region (all the skin
    without them).  None when ``span`` < :data:`MIN_EYE_SPAN` or fewer than :data:`MIN_PIXELS` flat skin
    pixels are left."""
    if span < MIN_EYE_SPAN:
        return None
    alpha = np.asarray(alpha, np.float32)
    peak = float(alpha.max()) if alpha.size else 0.0
    if peak <= 0:
        return None
    ys, xs = np.nonzero(alpha > 0)
    H, W = alpha.shape
    y0, y1 = max(0, ys.min() - _MARGIN), min(H, ys.max() + 1 + _MARGIN)
    x0, x1 = max(0, xs.min() - _MARGIN), min(W, xs.max() + 1 + _MARGIN)
    crop = image[y0:y1, x0:x1]
    a = alpha[y0:y1, x0:x1]
    r = max(2, int(round(ERODE * span)))
    k = (2 * r + 1, 2 * r + 1)
    core = cv2.erode((a >= 0.7 * peak).astype(np.uint8), np.ones(k, np.uint8)) > 0
    if int(core.sum()) < MIN_PIXELS:
        return None
    region = core
    if cheeks is not None:
        discs = np.zeros(core.shape, np.uint8)
        for cx, cy in cheeks:
            cv2.circle(discs, (int(round(cx - x0)), int(round(cy - y0))), int(round(CHEEK_RADIUS * span)), 1, -1)
        region = core & (discs > 0)
        if int(region.sum()) < MIN_PIXELS:
            return None
    Y = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean = cv2.blur(Y, k)
    var = cv2.blur(Y * Y, k) - mean * mean
    sel = region & (var <= np.percentile(var[region], FLAT_PERCENTILE))
    n = int(sel.sum())
    if n < MIN_PIXELS:
        return None
    blurs = [Y] + [cv2.GaussianBlur(Y, (0, 0), s) for s in BANDS]
    spectrum = np.array([math.log(max(1e-12, float(np.mean(np.square((blurs[i] - blurs[i + 1])[sel],
                                                                     dtype=np.float64)))))
                         for i in range(len(BANDS))])
    texture = float(spectrum[FINE] - spectrum[COARSE])
    tone = float("nan")
    if lips is not None:
        lip = lips[y0:y1, x0:x1]
        if int(lip.sum()) >= 20:
            L = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[:, :, 0].astype(np.float32) * (100.0 / 255.0)
            tone = float(np.median(L[core]) - np.median(L[lip]))
    return SkinSample(float(span), n, spectrum, float(texture), tone)


def lips_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """Boolean (H, W): inside the outer lip line of the landmarks."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(landmarks)[list(ops.LIPS_OUTER)] * 16).astype(np.int32)], 1,
                 cv2.LINE_8, shift=4)
    return m > 0


def measure(image: np.ndarray, landmarks: np.ndarray, mask: ops.SkinMask | None = None) -> SkinSample | None:
    """:func:`measure_alpha` on one face of ``image`` (uint8 BGR) with its landmarks (468, 2); the skin is
    ``mask`` (one face's :class:`~livestyle.ops.beauty.SkinMask`) or the retouch's mask of these landmarks."""
    span = eye_span(landmarks)
    if span < MIN_EYE_SPAN:
        return None
    m = mask if mask is not None else ops.skin_mask(image, [landmarks])
    if not m.grids:
        return None
    pts = np.asarray(landmarks, np.float64)
    return measure_alpha(image, m.full(), span, lips_mask(image.shape, landmarks),
                         [tuple(pts[i]) for i in ops.CHEEKS])


def calibrate_samples(image: np.ndarray, landmarks: np.ndarray, op: str, amounts: Sequence[float] = AMOUNTS
                      ) -> list[SkinSample] | None:
    """One face's :class:`SkinSample` after the real retouch ``op`` ("smooth":
    :func:`~livestyle.ops.beauty.smooth_skin`; "tone": :func:`~livestyle.ops.beauty.tone_skin`) at each of
    ``amounts`` (the skin mask of the photo as given); None when the face is not measured."""
    if op not in ("smooth", "tone"):
        raise ValueError(f"calibrate op must be 'smooth' or 'tone', got {op!r}")
    if eye_span(landmarks) < MIN_EYE_SPAN:
        return None
    m = ops.skin_mask(image, [landmarks])
    if not m.grids:
        return None
    fn: Callable = ops.smooth_skin if op == "smooth" else ops.tone_skin
    out = []
    for a in amounts:
        s = measure(fn(image, m, a) if a > 0 else image, landmarks, m)
        if s is None:
            return None
        out.append(s)
    return out


def calibrate(image: np.ndarray, landmarks: np.ndarray, kind: str, amounts: Sequence[float] = AMOUNTS
              ) -> np.ndarray | None:
    """The statistic ``kind`` of one face after the retouch that moves it ("texture": smoothing, "tone":
    the tone curve) at each of ``amounts``: float64 (len(amounts),), or None when the face is not
    measured (or, for tone, has no lips to compare with)."""
    if kind not in ("texture", "tone"):
        raise ValueError(f"calibrate kind must be 'texture' or 'tone', got {kind!r}")
    samples = calibrate_samples(image, landmarks, "smooth" if kind == "texture" else "tone", amounts)
    if samples is None:
        return None
    v = np.array([getattr(s, kind) for s in samples], np.float64)
    return v if np.isfinite(v).all() else None


@dataclass(frozen=True)
class Learned:
    """One learned amount: ``amount`` in 0..1 (None: nothing to learn from), ``style`` (the style faces'
    median statistic), ``curve`` (the content faces' median statistic at ``amounts``, made monotone),
    ``clipped`` (the style lies beyond the curve's end: the amount is 0 or 1 by clipping), the faces
    used on each side."""

    amount: float | None
    style: float
    curve: np.ndarray = field(repr=False)
    amounts: tuple[float, ...]
    style_faces: int
    content_faces: int
    clipped: bool


def learn_amount(style: Sequence[float], curves: Sequence[np.ndarray], amounts: Sequence[float] = AMOUNTS,
                 *, decreasing: bool = True) -> Learned:
    """The amount at which the median of the content ``curves`` (each the statistic at ``amounts``) meets
    the median of the ``style`` statistics.  ``decreasing``: the statistic falls as the amount rises
    (texture) or rises (tone).  The median curve is made monotone (running min / max) and inverted by
    linear interpolation; a style value beyond its ends gives 0 or 1 (``clipped``)."""
    amounts = tuple(float(a) for a in amounts)
    st = [float(v) for v in style if np.isfinite(v)]
    cs = [np.asarray(c, np.float64) for c in curves if c is not None]
    if not st or not cs:
        return Learned(None, float("nan"), np.full(len(amounts), np.nan), amounts, len(st), len(cs), False)
    curve = np.median(np.stack(cs), axis=0)
    sign = 1.0 if decreasing else -1.0
    c = np.minimum.accumulate(sign * curve)   # falling
    v = sign * float(np.median(st))
    if v >= c[0]:
        amount, clipped = amounts[0], v > c[0]
    elif v <= c[-1]:
        amount, clipped = amounts[-1], v < c[-1]
    else:
        # np.interp needs rising x: -c rises
        amount, clipped = float(np.interp(-v, -c, amounts)), False
    return Learned(float(min(1.0, max(0.0, amount))), sign * v, sign * c, amounts, len(st), len(cs), bool(clipped))


@dataclass(frozen=True)
class LearnedBeauty:
    """What :func:`learn_beauty` found: ``smooth`` and ``tone`` (:class:`Learned`), and the faces it
    skipped as (photo index, side, reason) with side "style" or "content"."""

    smooth: Learned
    tone: Learned
    skipped: tuple[tuple[int, str, str], ...]


def learn_beauty(style: Sequence[tuple[np.ndarray, np.ndarray]], content: Sequence[tuple[np.ndarray, np.ndarray]],
                 amounts: Sequence[float] = AMOUNTS) -> LearnedBeauty:
    """The smoothing and tone that the ``style`` faces show against the ``content`` faces, each a list of
    (uint8 BGR photo, landmarks (468, 2)) (a photo with two faces appears twice)."""
    skipped: list[tuple[int, str, str]] = []
    ss: list[SkinSample] = []
    for i, (img, pts) in enumerate(style):
        s = measure(img, pts)
        if s is None:
            skipped.append((i, "style", _why(pts)))
        else:
            ss.append(s)
    tex, ton = [], []
    for i, (img, pts) in enumerate(content):
        t = calibrate(img, pts, "texture", amounts)
        if t is None:
            skipped.append((i, "content", _why(pts)))
            continue
        tex.append(t)
        ton.append(calibrate(img, pts, "tone", amounts))
    return LearnedBeauty(learn_amount([s.texture for s in ss], tex, amounts, decreasing=True),
                         learn_amount([s.tone for s in ss], ton, amounts, decreasing=False),
                         tuple(skipped))


def _why(pts: np.ndarray) -> str:
    span = eye_span(pts)
    if span < MIN_EYE_SPAN:
        return f"face too small (eye span {span:.0f} px, under {MIN_EYE_SPAN:.0f})"
    return f"too little flat skin (under {MIN_PIXELS} pixels)"
