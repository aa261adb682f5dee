"""Beauty operations on faces: a skin mask, skin smoothing, a skin tone curve, face slimming and eye
enlargement (pure numpy / OpenCV; no model, no state).

Arrays: frames are uint8 BGR (H, W, 3); ``landmarks`` are float32 (468, 2) (x, y) in frame pixels, the
points of MediaPipe's 468-point face mesh (as :class:`livestyle.people.face.FaceTracker` gives them);
``faces`` is a sequence of such landmark arrays or of objects with a ``landmarks`` attribute.  Every
amount is a float in 0..1; 0 returns the input's bytes unchanged (as a new array), and a value outside
0..1, NaN or not a number raises ValueError naming its key (``smooth``, ``tone``, ``slim``, ``eyes``).

Each operation works on a region around the face only, so its cost follows the face's size, not the
frame's:

* :func:`skin_mask` -> :class:`SkinMask`: the face oval (and the neck below the jaw) minus eyes, brows,
  lips and nostrils, times a skin-colour likelihood in YCrCb fitted to the face's own cheeks, feathered;
  computed at a reduced size (at most ``MASK_SIDE`` pixels a side) and kept as a patch over the face.
* :func:`smooth_skin`: edge-aware smoothing in the manner GPUPixel describes: each pixel moves toward its
  local mean with the weight ``(1 - var / (var + theta)) * skin * amount`` (flat skin is smoothed, edges
  with a high local variance are kept), and a fraction of the fine high-pass comes back, so pores fade
  gradually instead of turning into a plastic mask.
* :func:`tone_skin`: a brighter, slightly warmer skin through a 256-entry curve per channel, blended by
  the mask.
* :func:`slim_face`, :func:`enlarge_eyes`, :func:`reshape_face`: one ``cv2.remap`` over the face's region
  with a smooth displacement field: the lower face's sides are pulled toward the face's centre line, and
  each eye is magnified radially with a compactly supported falloff.  Outside the face oval the field
  fades to zero within :data:`OUTSIDE_FADE` pixels (more only where a large displacement needs a longer
  fade to keep the map from folding), so the background farther from the face does not move.
  :func:`warp_field` returns the field itself (for tests and visualisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

# -- MediaPipe face mesh index sets (from MediaPipe's published face_mesh_connections: FACEMESH_FACE_OVAL,
#    FACEMESH_LIPS, FACEMESH_LEFT/RIGHT_EYE, FACEMESH_LEFT/RIGHT_EYEBROW), as closed polygons in order.
#    "Left" and "right" are the person's: the right eye is on the image's left.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYEBROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
# Not one of MediaPipe's named sets: the nostrils and the nose's underside, from the alae (64, 294)
# round the tip (1) to the subnasale (2); picked on the mesh of a real face.
NOSTRILS = (64, 218, 44, 1, 274, 438, 294, 327, 326, 2, 97, 98)
# The jaw from below the right ear round the chin to below the left ear (a stretch of FACE_OVAL).
JAW = (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361)
CHEEKS = (50, 280)  # cheek centres, where the skin colour is sampled
NOSE_TIP, CHIN, UPPER_LIP = 1, 152, 13
RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS = (33, 133), (263, 362)
RIGHT_CHEEK_SIDE, LEFT_CHEEK_SIDE = 234, 454

MASK_SIDE = 160          # the skin mask's long side at most, in pixels
FEATHER_MIN = 3.5        # the skin mask's feather (Gaussian sigma) at least, in frame pixels
OUTSIDE_FADE = 36.0      # px outside the face oval over which the warp fades to nothing
SLIM_MAX = 0.12          # the lower face's sides move in by up to this fraction of their distance to the centre line
EYES_MAX = 0.25          # the eye centre is magnified by up to 1 / (1 - EYES_MAX)
KEYS = ("smooth", "tone", "slim", "eyes")


def check_amount(key: str, value: Any) -> float:
    """``value`` as a float in 0..1, or ValueError naming ``key`` (NaN, infinities and non-numbers too)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"beauty {key} must be a number in 0..1, got {value!r}") from None
    if not 0.0 <= v <= 1.0:  # NaN fails this too
        raise ValueError(f"beauty {key} must be in 0..1, got {value!r}")
    return v


def _landmarks(face: Any) -> np.ndarray:
    pts = getattr(face, "landmarks", face)
    pts = np.asarray(pts, np.float32)
    if pts.shape != (468, 2) or not np.isfinite(pts).all():
        raise ValueError(f"beauty landmarks must be finite float (468, 2) frame pixels, got shape {pts.shape}")
    return pts


def _frame(frame: np.ndarray) -> np.ndarray:
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3):
        raise ValueError("beauty frame must be uint8 BGR (H, W, 3)")
    return frame


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# -- skin mask -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SkinMask:
    """Skin weights of a frame, stored only around the faces.

    ``shape``: the frame's (H, W); ``patches``: one (x0, y0, alpha) per face, ``alpha`` float32 (h, w) in
    0..1 covering ``frame[y0:y0+h, x0:x0+w]`` (1 = skin).  Patches of two faces may overlap.
    """

    shape: tuple[int, int]
    patches: tuple[tuple[int, int, np.ndarray], ...]

    def full(self) -> np.ndarray:
        """The mask as one float32 (H, W) array in 0..1 (the maximum where patches overlap)."""
        out = np.zeros(self.shape, np.float32)
        for x0, y0, a in self.patches:
            h, w = a.shape
            np.maximum(out[y0:y0 + h, x0:x0 + w], a, out=out[y0:y0 + h, x0:x0 + w])
        return out

    @classmethod
    def from_array(cls, mask: np.ndarray) -> "SkinMask":
        """A full-frame float mask (H, W) in 0..1 as one patch over its non-zero part."""
        mask = np.asarray(mask, np.float32)
        ys, xs = np.nonzero(mask > 0)
        if ys.size == 0:
            return cls(mask.shape[:2], ())
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        return cls(mask.shape[:2], ((int(x0), int(y0), np.clip(mask[y0:y1, x0:x1], 0, 1)),))


def _as_mask(mask: SkinMask | np.ndarray, frame: np.ndarray) -> SkinMask:
    m = mask if isinstance(mask, SkinMask) else SkinMask.from_array(mask)
    if tuple(m.shape) != frame.shape[:2]:
        raise ValueError(f"beauty mask is for a {m.shape[1]}x{m.shape[0]} frame, the frame is "
                         f"{frame.shape[1]}x{frame.shape[0]}")
    return m


def _axes(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face's unit axes in the frame: ``e`` along the eyes (toward the person's left, image right) and
    ``n`` down the face."""
    e = pts[LEFT_EYE_CORNERS[0]] - pts[RIGHT_EYE_CORNERS[0]]
    e = e / max(float(np.hypot(*e)), 1e-6)
    return e.astype(np.float32), np.array([-e[1], e[0]], np.float32)


def _face_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    oval = pts[list(FACE_OVAL)]
    return float(oval[:, 0].min()), float(oval[:, 1].min()), float(oval[:, 0].max()), float(oval[:, 1].max())


def _skin_patch(frame: np.ndarray, pts: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    H, W = frame.shape[:2]
    bx0, by0, bx1, by1 = _face_box(pts)
    fw, fh = bx1 - bx0, by1 - by0
    _, down = _axes(pts)
    neck = 0.45 * fh
    x0 = int(max(0, math.floor(bx0 - 0.08 * fw + min(0.0, down[0] * neck))))
    x1 = int(min(W, math.ceil(bx1 + 0.08 * fw + max(0.0, down[0] * neck))))
    y0 = int(max(0, math.floor(by0 - 0.05 * fh)))
    y1 = int(min(H, math.ceil(by1 + neck)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    s = min(1.0, MASK_SIDE / max(x1 - x0, y1 - y0))
    sw, sh = max(2, round((x1 - x0) * s)), max(2, round((y1 - y0) * s))
    small = cv2.resize(frame[y0:y1, x0:x1], (sw, sh), interpolation=cv2.INTER_AREA)
    sx, sy = sw / (x1 - x0), sh / (y1 - y0)
    p = (pts - [x0, y0]) * [sx, sy]
    fws = fw * sx
    down_s = down * [sx, sy] / max(float(np.hypot(*(down * [sx, sy]))), 1e-6)

    def poly(idx) -> np.ndarray:
        return np.round(p[list(idx)] * 16).astype(np.int32)  # 4 fractional bits

    prior = np.zeros((sh, sw), np.uint8)
    cv2.fillPoly(prior, [poly(FACE_OVAL)], 255, cv2.LINE_AA, shift=4)
    # the neck: the jaw line, and the jaw's inner points carried down the face's axis
    jaw = p[list(JAW)]
    drop = down_s * neck * sy
    left_low, right_low = p[136] + drop, p[365] + drop
    neck_poly = np.vstack([jaw, right_low[None], left_low[None]])
    cv2.fillPoly(prior, [np.round(neck_poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    # holes, grown by the feather's reach so the feathered mask is ~0 inside them
    feather = max(FEATHER_MIN, 0.018 * fw) * sx  # the blur's sigma, at the mask's reduced size
    grow = max(1, int(round(2.0 * feather)))
    holes = np.zeros((sh, sw), np.uint8)
    hole_polys = [poly(idx) for idx in (LEFT_EYE, RIGHT_EYE, LEFT_EYEBROW, RIGHT_EYEBROW, LIPS_OUTER, NOSTRILS)]
    cv2.fillPoly(holes, hole_polys, 255, cv2.LINE_AA, shift=4)
    cv2.polylines(holes, hole_polys, True, 255, thickness=2 * grow + 1, lineType=cv2.LINE_AA, shift=4)
    geo = (prior.astype(np.float32) * (1.0 / 255.0)) * (1.0 - holes.astype(np.float32) * (1.0 / 255.0))

    # the skin colour: Cr/Cb statistics of the cheeks (inside the geometric mask), Mahalanobis distance
    ycc = cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    sample = np.zeros((sh, sw), np.uint8)
    for i in CHEEKS:
        cv2.circle(sample, tuple(int(round(v)) for v in p[i]), max(1, int(round(0.09 * fws))), 255, -1)
    sel = (sample > 0) & (geo > 0.99)
    if sel.sum() < 12:
        sel = geo > 0.99
    colour = np.ones((sh, sw), np.float32)
    if sel.sum() >= 12:
        cc = ycc[sel][:, 1:]
        mean = cc.mean(0)
        cov = np.cov(cc.T) + np.eye(2) * 4.0  # at least 2 levels of spread on each axis
        inv = np.linalg.inv(cov)
        d = ycc[:, :, 1:] - mean
        m2 = d[:, :, 0] ** 2 * inv[0, 0] + 2 * d[:, :, 0] * d[:, :, 1] * inv[0, 1] + d[:, :, 1] ** 2 * inv[1, 1]
        colour = 1.0 - _smoothstep(2.5, 5.0, np.sqrt(m2))
        y_mean = float(ycc[sel][:, 0].mean())
        colour *= _smoothstep(0.25 * y_mean, 0.5 * y_mean, ycc[:, :, 0])  # hair, nostrils, deep shade
    alpha = geo * colour
    alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
    alpha = cv2.resize(alpha, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    alpha[alpha < 1.0 / 512.0] = 0.0
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return None
    alpha = np.ascontiguousarray(alpha[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])  # the skin's own box
    return x0 + int(cols[0]), y0 + int(rows[0]), alpha


def skin_mask(frame: np.ndarray, faces: Sequence[Any]) -> SkinMask:
    """The skin of every face in ``faces`` (landmark arrays or :class:`~livestyle.people.face.Face`) as a
    :class:`SkinMask` over ``frame`` (uint8 BGR (H, W, 3)); no faces -> an empty mask."""
    _frame(frame)
    patches = []
    for f in faces:
        patch = _skin_patch(frame, _landmarks(f))
        if patch is not None:
            patches.append(patch)
    return SkinMask(frame.shape[:2], tuple(patches))


# -- smoothing and tone -----------------------------------------------------------------------------------------

def smooth_skin(frame: np.ndarray, mask: SkinMask | np.ndarray, amount: float, *, in_place: bool = False) -> np.ndarray:
    """Edge-aware skin smoothing of ``frame`` (uint8 BGR) under ``mask`` (a :class:`SkinMask` or a float32
    (H, W) array in 0..1), ``amount`` 0..1; returns a new uint8 BGR frame, equal to the input where the
    mask is 0.

    Per patch: the local mean and variance over a box of radius ~2% of the patch's side; the weight
    ``w = theta / (var + theta) * skin * amount`` with ``theta = (8 + 22 * amount)^2`` (levels^2, so
    skin texture is smoothed and edges stronger than ~8-30 levels are kept); the result is
    ``I + w * (mean - I)``, plus ``w * keep`` of the fine detail (``I`` minus a 1-pixel Gaussian blur),
    ``keep`` falling from 0.35 to 0.15 as ``amount`` rises.  With ``in_place`` the result is written into
    ``frame`` itself (and returned), sparing a full-frame copy.
    """
    a = check_amount("smooth", amount)
    _frame(frame)
    out = frame if in_place else frame.copy()
    if a == 0.0:
        return out
    m = _as_mask(mask, frame)
    theta = (8.0 + 22.0 * a) ** 2
    keep = 0.35 - 0.2 * a
    for x0, y0, alpha in m.patches:
        h, w = alpha.shape
        region = out[y0:y0 + h, x0:x0 + w]
        img = region.astype(np.float32)
        r = max(2, int(round(0.02 * max(h, w))))
        k = (2 * r + 1, 2 * r + 1)
        mean = cv2.blur(img, k)
        var = cv2.blur(img * img, k) - mean * mean
        var = cv2.transform(var, np.full((1, 3), 1.0 / 3.0, np.float32))  # mean over B, G, R -> (h, w)
        np.maximum(var, 0.0, out=var)
        wgt = (theta / (var + theta)) * alpha * a
        detail = img - cv2.GaussianBlur(img, (0, 0), 1.0)
        w3 = cv2.merge([wgt, wgt, wgt])  # (h, w, 3): numpy's broadcast over a last axis of 3 is slow
        res = img + w3 * ((mean - img) + keep * detail)
        np.clip(res + 0.5, 0, 255, out=res)
        region[...] = res.astype(np.uint8)
    return out


def tone_curve(amount: float) -> np.ndarray:
    """The skin tone curve at ``amount`` (0..1, key ``tone``): uint8 (256, 1, 3) BGR lookup table, a
    mid-tone lift (up to +10% of full scale) with a little warmth (red up, blue down); identity at 0."""
    a = check_amount("tone", amount)
    x = np.arange(256, dtype=np.float32) / 255.0
    bump = 4.0 * x * (1.0 - x)
    b = x + a * bump * (0.10 - 0.03)
    g = x + a * bump * 0.10
    r = x + a * bump * (0.10 + 0.03)
    lut = np.stack([b, g, r], axis=1)
    return np.clip(np.round(lut * 255.0), 0, 255).astype(np.uint8)[:, None, :]


def tone_skin(frame: np.ndarray, mask: SkinMask | np.ndarray, amount: float, *, in_place: bool = False) -> np.ndarray:
    """Brighter, warmer skin: :func:`tone_curve` applied to ``frame`` (uint8 BGR) and blended in by
    ``mask``; a new uint8 BGR frame (``frame`` itself with ``in_place``), equal to the input where the mask
    is 0 or ``amount`` is 0."""
    lut = tone_curve(amount)
    _frame(frame)
    out = frame if in_place else frame.copy()
    if float(amount) == 0.0:
        return out
    m = _as_mask(mask, frame)
    for x0, y0, alpha in m.patches:
        h, w = alpha.shape
        region = out[y0:y0 + h, x0:x0 + w]
        img = region.astype(np.float32)
        toned = cv2.LUT(region, lut).astype(np.float32)
        res = img + cv2.merge([alpha, alpha, alpha]) * (toned - img)
        np.clip(res + 0.5, 0, 255, out=res)
        region[...] = res.astype(np.uint8)
    return out


# -- warps ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WarpField:
    """A backward map over one region of the frame: output pixel (x0 + i, y0 + j) takes the input at
    (``map_x[j, i]``, ``map_y[j, i]``) (float32 (h, w), absolute frame pixels).  ``dx``/``dy``: the
    displacement ``map - identity`` (float32 (h, w)), built at half resolution and scaled up linearly."""

    x0: int
    y0: int
    map_x: np.ndarray
    map_y: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    def jacobian_det(self) -> np.ndarray:
        """det of d(map)/d(pixel), float32 (h-2, w-2) (central differences); > 0 everywhere means the map
        does not fold (nothing tears or mirrors)."""
        mx, my = self.map_x.astype(np.float64), self.map_y.astype(np.float64)
        ax = (mx[1:-1, 2:] - mx[1:-1, :-2]) / 2
        ay = (mx[2:, 1:-1] - mx[:-2, 1:-1]) / 2
        bx = (my[1:-1, 2:] - my[1:-1, :-2]) / 2
        by = (my[2:, 1:-1] - my[:-2, 1:-1]) / 2
        return (ax * by - ay * bx).astype(np.float32)


def warp_field(shape: tuple[int, int], landmarks: np.ndarray, *, slim: float = 0.0, eyes: float = 0.0
               ) -> WarpField | None:
    """The displacement of :func:`reshape_face` for a frame of ``shape`` (H, W) and one face's landmarks,
    or None when both amounts are 0 or the face is off the frame."""
    s, e_amt = check_amount("slim", slim), check_amount("eyes", eyes)
    pts = _landmarks(landmarks)
    H, W = int(shape[0]), int(shape[1])
    if s == 0.0 and e_amt == 0.0:
        return None
    e, n = _axes(pts)
    right_side, left_side = pts[RIGHT_CHEEK_SIDE], pts[LEFT_CHEEK_SIDE]
    centre = (right_side + left_side) / 2
    half_w = max(float(abs(np.dot(left_side - right_side, e))) / 2, 1.0)
    eye_level = float(np.dot((pts[33] + pts[263]) / 2 - centre, n))
    nose_level = float(np.dot(pts[NOSE_TIP] - centre, n))
    chin_level = float(np.dot(pts[CHIN] - centre, n))
    slim_k = SLIM_MAX * s
    eye_a = EYES_MAX * e_amt
    eye_centres, eye_radii = [], []
    for a_i, b_i, poly in ((RIGHT_EYE_CORNERS[0], RIGHT_EYE_CORNERS[1], RIGHT_EYE),
                           (LEFT_EYE_CORNERS[0], LEFT_EYE_CORNERS[1], LEFT_EYE)):
        eye_centres.append(pts[list(poly)].mean(0))
        eye_radii.append(1.1 * float(np.hypot(*(pts[a_i] - pts[b_i]))))
    # the largest displacement, for the outside fade's length (a steeper fade could fold the map)
    d_max = max(slim_k * half_w, max(eye_radii) * eye_a * 0.3)
    fade = max(OUTSIDE_FADE, 2.5 * d_max)
    bx0, by0, bx1, by1 = _face_box(pts)
    reach = fade + 2
    x0, y0 = int(max(0, math.floor(bx0 - reach))), int(max(0, math.floor(by0 - reach)))
    x1, y1 = int(min(W, math.ceil(bx1 + reach))), int(min(H, math.ceil(by1 + reach)))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    # even sides where the frame allows, so the field can be built at half size and scaled up exactly
    if (x1 - x0) % 2:
        x1, x0 = (x1 + 1, x0) if x1 < W else (x1, x0 - 1) if x0 > 0 else (x1 - 1, x0)
    if (y1 - y0) % 2:
        y1, y0 = (y1 + 1, y0) if y1 < H else (y1, y0 - 1) if y0 > 0 else (y1 - 1, y0)
    h, w = y1 - y0, x1 - x0
    # the field is smooth: build it at half size (pixel centres x0 + 2i + 0.5) and scale it up linearly
    step = 2 if min(h, w) >= 64 else 1
    ch, cw = h // step, w // step
    off = (step - 1) / 2.0
    face = np.zeros((ch, cw), np.uint8)
    oval = (pts[list(FACE_OVAL)] - [x0 + off, y0 + off]) / step
    cv2.fillPoly(face, [np.round(oval * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
    outside = cv2.distanceTransform(cv2.bitwise_not(face), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * step
    g = 1.0 - _smoothstep(0.0, fade, outside)
    qx, qy = np.meshgrid(x0 + off + step * np.arange(cw, dtype=np.float32),
                         y0 + off + step * np.arange(ch, dtype=np.float32))
    dx = np.zeros((ch, cw), np.float32)
    dy = np.zeros((ch, cw), np.float32)
    if slim_k > 0:
        u = (qx - centre[0]) * e[0] + (qy - centre[1]) * e[1]
        v = (qx - centre[0]) * n[0] + (qy - centre[1]) * n[1]
        wv = _smoothstep(eye_level, nose_level, v) * (1.0 - _smoothstep(chin_level, chin_level + 0.5 * half_w, v))
        wu = _smoothstep(0.15 * half_w, 0.85 * half_w, np.abs(u))
        # forward: content at lateral offset u moves by -k*u toward the centre line; the backward map
        # therefore reads from u + k*u (to first order)
        push = slim_k * u * wu * wv
        dx += push * e[0]
        dy += push * e[1]
    if eye_a > 0:
        for c, r in zip(eye_centres, eye_radii):
            ox, oy = qx - c[0], qy - c[1]
            rho2 = (ox * ox + oy * oy) / (r * r)
            phi = np.where(rho2 < 1.0, (1.0 - rho2) ** 2, 0.0).astype(np.float32)
            # backward: read from c + (q - c) * (1 - a * phi): the eye's centre is magnified 1 / (1 - a)
            dx -= eye_a * phi * ox
            dy -= eye_a * phi * oy
    dx *= g
    dy *= g
    if step > 1:
        dx = cv2.resize(dx, (w, h), interpolation=cv2.INTER_LINEAR)
        dy = cv2.resize(dy, (w, h), interpolation=cv2.INTER_LINEAR)
    map_x = dx + np.arange(x0, x1, dtype=np.float32)[None, :]
    map_y = dy + np.arange(y0, y1, dtype=np.float32)[:, None]
    return WarpField(x0, y0, map_x, map_y, dx, dy)


def reshape_face(frame: np.ndarray, landmarks: np.ndarray, *, slim: float = 0.0, eyes: float = 0.0,
                 in_place: bool = False) -> np.ndarray:
    """Slim the lower face (``slim`` 0..1) and enlarge the eyes (``eyes`` 0..1) of one face in ``frame``
    (uint8 BGR) with one remap over the face's region; a new uint8 BGR frame (the input's bytes at 0, 0),
    or ``frame`` itself with ``in_place`` (the remap reads a finished copy of the region's source first)."""
    _frame(frame)
    field = warp_field(frame.shape[:2], landmarks, slim=slim, eyes=eyes)
    out = frame if in_place else frame.copy()
    if field is None:
        return out
    h, w = field.map_x.shape
    out[field.y0:field.y0 + h, field.x0:field.x0 + w] = cv2.remap(
        frame, field.map_x, field.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def slim_face(frame: np.ndarray, landmarks: np.ndarray, amount: float) -> np.ndarray:
    """The lower face's sides pulled toward its centre line by up to ``SLIM_MAX`` of their distance
    (``amount`` 0..1, key ``slim``), with a smooth falloff; see :func:`reshape_face`."""
    return reshape_face(frame, landmarks, slim=check_amount("slim", amount))


def enlarge_eyes(frame: np.ndarray, landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Both eyes magnified radially about their centres (up to 1 / (1 - ``EYES_MAX``) at the centre,
    fading to none at 1.1 eye widths; ``amount`` 0..1, key ``eyes``); see :func:`reshape_face`."""
    return reshape_face(frame, landmarks, eyes=check_amount("eyes", amount))


# -- all at once -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Beauty:
    """The four amounts, each 0..1 (checked on construction: ValueError naming the key)."""

    smooth: float = 0.0
    tone: float = 0.0
    slim: float = 0.0
    eyes: float = 0.0

    def __post_init__(self):
        for key in KEYS:
            object.__setattr__(self, key, check_amount(key, getattr(self, key)))

    @property
    def active(self) -> bool:
        return any(getattr(self, k) > 0 for k in KEYS)


def apply(frame: np.ndarray, faces: Sequence[Any], beauty: Beauty) -> np.ndarray:
    """Every operation of ``beauty`` on every face of ``frame`` (uint8 BGR): skin smoothing and tone under
    one :func:`skin_mask`, then the warps (last, so the mask matches the landmarks); a new frame, made by
    one copy that every operation then works in."""
    out = frame.copy()
    if not beauty.active or not faces:
        return out
    if beauty.smooth > 0 or beauty.tone > 0:
        mask = skin_mask(frame, faces)
        if beauty.smooth > 0:
            smooth_skin(out, mask, beauty.smooth, in_place=True)
        if beauty.tone > 0:
            tone_skin(out, mask, beauty.tone, in_place=True)
    if beauty.slim > 0 or beauty.eyes > 0:
        for f in faces:
            reshape_face(out, _landmarks(f), slim=beauty.slim, eyes=beauty.eyes, in_place=True)
    return out
