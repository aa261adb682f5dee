"""Beauty operations on faces: a skin mask, skin smoothing, a skin tone curve, face slimming and eye
enlargement (pure numpy / OpenCV; no model; no state but in :class:`Retoucher`).

Arrays: frames are uint8 BGR (H, W, 3); ``landmarks`` are float32 (468, 2) (x, y) in frame pixels, the
points of MediaPipe's 468-point face mesh (as :class:`livestyle.people.face.FaceTracker` gives them);
``faces`` is a sequence of such landmark arrays or of objects with a ``landmarks`` attribute.  Every
amount is a float in 0..1; 0 returns the input's bytes unchanged (as a new array), and a value outside
0..1, NaN or not a number raises ValueError naming its key (``smooth``, ``tone``, ``slim``, ``eyes``).

Each operation works on a region around the face only, so its cost follows the face's size, not the
frame's, and everything smooth is computed on a coarse grid of cells over the face and interpolated (the
full-size work is a few passes over the face's box):

* :func:`skin_mask` -> :class:`SkinMask`: the face oval (and the neck below the jaw) minus eyes, brows,
  lips and nostrils, times a skin-colour likelihood in YCrCb fitted to the face's own cheeks, feathered;
  computed on cells of a few pixels (at most ``MASK_SIDE`` cells a side) and kept as a patch over the face.
* :func:`smooth_skin`: edge-aware smoothing in the manner GPUPixel describes: each pixel moves toward its
  local mean with the weight ``(1 - var / (var + theta)) * skin * amount`` (flat skin is smoothed, edges
  with a high local variance are kept), and a fraction of the fine high-pass comes back, so pores fade
  gradually instead of turning into a plastic mask.  Mean, variance and weight are computed on the
  mask's cells.
* :func:`tone_skin`: a brighter, slightly warmer skin through a per-channel curve (:func:`tone_curve`),
  blended by the mask; with smoothing it is the same pass.
* :func:`slim_face`, :func:`enlarge_eyes`, :func:`reshape_face`: one ``cv2.remap`` over the region where
  the face moves, with a smooth displacement field built on cells of :data:`WARP_STEP` pixels: the lower
  face's sides are pulled toward the face's centre line, and each eye is magnified radially with a
  compactly supported falloff.  Outside the face oval the field fades to zero within
  :data:`OUTSIDE_FADE` pixels, and nothing more than :data:`STILL_BEYOND` pixels from the oval moves
  (unless a large displacement needs a longer fade to keep the map from folding).
  :func:`warp_field` returns the field itself (for tests and visualisation).
* :class:`Retoucher`: :func:`apply` frame after frame, keeping each tracked face's skin cells and warp
  field and moving them with the face while its landmarks only move together (a still face, a sway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
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

MASK_SIDE = 160          # the skin mask's grid: at most this many cells along the face region's long side
FEATHER_MIN = 3.5        # the skin mask's feather (Gaussian sigma) at least, in frame pixels
OUTSIDE_FADE = 36.0      # px outside the face oval over which the warp fades to nothing (at most)
STILL_BEYOND = 40.0      # px from the face oval beyond which the warp moves nothing (unless a large amount
                         # on a large face needs a longer fade to keep the map from folding)
SLIM_MAX = 0.12          # the lower face's sides move in by up to this fraction of their distance to the centre line
EYES_MAX = 0.25          # the eye centre is magnified by up to 1 / (1 - EYES_MAX)
HOLD_FRAMES = 8          # Retoucher: a face's skin cells and warp are remade at least every this many frames
HOLD_RMS = 0.8           # ... and whenever the landmarks, less their mean move, moved more than this (px, rms)
HOLD_MAX = 2.0           # ... or any one of them more than this (px)
HOLD_SLACK = HOLD_MAX + 0.75  # the warp's fade ends this much sooner (HOLD_MAX + the move's rounding, sqrt(2)/2)
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


# -- grids ---------------------------------------------------------------------------------------------------
#
# The smooth quantities (the skin mask, the smoothing's local statistics, the warp's displacement) are
# computed on a coarse grid over the face and read at full size by bilinear interpolation.  A grid has its
# corner at frame pixel (gx, gy) and square cells of ``f`` pixels: cell (i, j) covers the frame's pixels
# [gx + f*j, gx + f*(j+1)) x [gy + f*i, gy + f*(i+1)), and its value belongs to the cell's centre,
# (gx + f*j + (f-1)/2, gy + f*i + (f-1)/2).  That is cv2.resize's pixel-centre convention for an integer
# factor, so ``cv2.resize(cells, (cols*f, rows*f), INTER_LINEAR)`` puts every value back at its place.

def _upsample(cells: np.ndarray, f: int, gx: int, gy: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A grid's values (rows, cols[, C]) at full size over ``box`` (x0, y0, x1, y1), which lies inside the
    grid's extent; a contiguous float32 array (y1-y0, x1-x0[, C])."""
    rows, cols = cells.shape[:2]
    full = cells if f == 1 else cv2.resize(cells, (cols * f, rows * f), interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(full[y0 - gy:y1 - gy, x0 - gx:x1 - gx])


def _grid_image(frame: np.ndarray, gx: int, gy: int, f: int, cols: int, rows: int) -> np.ndarray:
    """One sample of ``frame`` per cell of a grid with its corner inside the frame: the cell's centre pixel
    (the mean of the centre 2x2 for an even ``f``), uint8 (rows, cols, 3); cells past the frame's right or
    bottom edge repeat the edge."""
    H, W = frame.shape[:2]
    x1, y1 = gx + f * cols, gy + f * rows
    region = frame[gy:min(H, y1), gx:min(W, x1)]
    if x1 > W or y1 > H:
        region = cv2.copyMakeBorder(region, 0, max(0, y1 - H), 0, max(0, x1 - W), cv2.BORDER_REPLICATE)
    if f == 1:
        return np.ascontiguousarray(region)
    return cv2.resize(region, (cols, rows), interpolation=cv2.INTER_LINEAR)


def _nonzero_cells(cells: np.ndarray) -> tuple[int, int, int, int] | None:
    """The rows and columns (r0, r1, c0, c1), end exclusive, holding every non-zero cell plus a ring of one
    cell (so that interpolation inside them is the same as in the whole grid); None when all are zero."""
    nz = cells != 0
    rows, cols = np.flatnonzero(nz.any(axis=1)), np.flatnonzero(nz.any(axis=0))
    if rows.size == 0:
        return None
    return (max(0, int(rows[0]) - 1), min(nz.shape[0], int(rows[-1]) + 2),
            max(0, int(cols[0]) - 1), min(nz.shape[1], int(cols[-1]) + 2))


# -- skin mask -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SkinPatch:
    """One face's skin weights on a grid (see the grids note above): ``cells`` float32 (rows, cols) in 0..1
    (1 = skin), cell side ``f`` pixels, corner at frame pixel (``gx``, ``gy``) inside the frame (the grid may
    reach past the right and bottom edges); ``image``: the frame's samples on the same cells, uint8
    (rows, cols, 3), that the weights were computed from; ``whole``: the weights were computed from a region
    of the frame that no frame edge cut (so they can be moved with the face: :class:`Retoucher`)."""

    gx: int
    gy: int
    f: int
    cells: np.ndarray
    image: np.ndarray
    whole: bool = False

    def box(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """The frame pixels (x0, y0, x1, y1), end exclusive, the patch covers in a frame of ``shape`` (H, W)."""
        rows, cols = self.cells.shape
        H, W = int(shape[0]), int(shape[1])
        return self.gx, self.gy, min(W, self.gx + self.f * cols), min(H, self.gy + self.f * rows)

    def alpha(self, shape: tuple[int, int]) -> np.ndarray:
        """The weights at full size over :meth:`box`, float32 (y1-y0, x1-x0) in 0..1."""
        return _upsample(self.cells, self.f, self.gx, self.gy, self.box(shape))


@dataclass(frozen=True, eq=False)
class SkinMask:
    """Skin weights of a frame, stored only around the faces.

    ``shape``: the frame's (H, W); ``grids``: one :class:`SkinPatch` per face (computed at a reduced
    size); ``patches``: the same at full size, one (x0, y0, alpha) per face, ``alpha`` float32 (h, w) in
    0..1 covering ``frame[y0:y0+h, x0:x0+w]`` (made on first use).  Patches of two faces may overlap.
    """

    shape: tuple[int, int]
    grids: tuple[SkinPatch, ...]

    @cached_property
    def patches(self) -> tuple[tuple[int, int, np.ndarray], ...]:
        return tuple((g.gx, g.gy, g.alpha(self.shape)) for g in self.grids)

    def full(self) -> np.ndarray:
        """The mask as one float32 (H, W) array in 0..1 (the maximum where patches overlap)."""
        out = np.zeros(self.shape, np.float32)
        for x0, y0, a in self.patches:
            h, w = a.shape
            np.maximum(out[y0:y0 + h, x0:x0 + w], a, out=out[y0:y0 + h, x0:x0 + w])
        return out

    @classmethod
    def from_array(cls, mask: np.ndarray, frame: np.ndarray | None = None) -> "SkinMask":
        """A full-frame float mask (H, W) in 0..1 as one full-size patch over its non-zero part (``frame``,
        when given, supplies the patch's ``image``)."""
        mask = np.asarray(mask, np.float32)
        ys, xs = np.nonzero(mask > 0)
        if ys.size == 0:
            return cls(mask.shape[:2], ())
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        cells = np.ascontiguousarray(np.clip(mask[y0:y1, x0:x1], 0, 1))
        image = np.zeros(cells.shape + (3,), np.uint8) if frame is None else frame[y0:y1, x0:x1].copy()
        return cls(mask.shape[:2], (SkinPatch(int(x0), int(y0), 1, cells, image),))


def _as_mask(mask: SkinMask | np.ndarray, frame: np.ndarray) -> SkinMask:
    m = mask if isinstance(mask, SkinMask) else SkinMask.from_array(mask, frame)
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


_COLOUR_LUT = (1.0 - _smoothstep(2.5, 5.0, np.sqrt(np.arange(256, dtype=np.float32) / 10.0))).astype(np.float32)


def _skin_patch(frame: np.ndarray, pts: np.ndarray) -> SkinPatch | None:
    H, W = frame.shape[:2]
    bx0, by0, bx1, by1 = _face_box(pts)
    fw, fh = bx1 - bx0, by1 - by0
    _, down = _axes(pts)
    neck = 0.45 * fh
    ux0 = math.floor(bx0 - 0.08 * fw + min(0.0, down[0] * neck))
    ux1 = math.ceil(bx1 + 0.08 * fw + max(0.0, down[0] * neck))
    uy0, uy1 = math.floor(by0 - 0.05 * fh), math.ceil(by1 + neck)
    x0, x1, y0, y1 = int(max(0, ux0)), int(min(W, ux1)), int(max(0, uy0)), int(min(H, uy1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    f = max(1, math.ceil(max(x1 - x0, y1 - y0) / MASK_SIDE))
    cols, rows = math.ceil((x1 - x0) / f), math.ceil((y1 - y0) / f)
    whole = (x0, y0, x1, y1) == (ux0, uy0, ux1, uy1) and x0 + f * cols <= W and y0 + f * rows <= H
    small = _grid_image(frame, x0, y0, f, cols, rows)
    p = (pts - [x0 + (f - 1) / 2, y0 + (f - 1) / 2]) / f  # landmarks in cells (cell centres at integers)
    fws = fw / f

    p16 = np.round(p * 16).astype(np.int32)  # 4 fractional bits, for cv2's shift=4

    def poly(idx) -> np.ndarray:
        return p16[list(idx)]

    prior = np.zeros((rows, cols), np.uint8)
    cv2.fillPoly(prior, [poly(FACE_OVAL)], 255, cv2.LINE_AA, shift=4)
    # the neck: the jaw line, and the jaw's inner points carried down the face's axis
    jaw = p[list(JAW)]
    drop = down * (neck / f)
    left_low, right_low = p[136] + drop, p[365] + drop
    neck_poly = np.vstack([jaw, right_low[None], left_low[None]])
    cv2.fillPoly(prior, [np.round(neck_poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    # holes, grown by the feather's reach so the feathered mask is ~0 inside them
    feather = max(FEATHER_MIN, 0.018 * fw) / f  # the blur's sigma, in cells
    grow = max(1, int(round(2.0 * feather)))
    holes = np.zeros((rows, cols), np.uint8)
    hole_polys = [poly(idx) for idx in (LEFT_EYE, RIGHT_EYE, LEFT_EYEBROW, RIGHT_EYEBROW, LIPS_OUTER, NOSTRILS)]
    cv2.fillPoly(holes, hole_polys, 255, cv2.LINE_AA, shift=4)
    holes = cv2.dilate(holes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    geo = (prior.astype(np.float32) * (1.0 / 255.0)) * (1.0 - holes.astype(np.float32) * (1.0 / 255.0))

    # the skin colour: Cr/Cb statistics of the cheeks (inside the geometric mask), Mahalanobis distance
    ycc = cv2.cvtColor(small, cv2.COLOR_BGR2YCrCb)
    sample = np.zeros((rows, cols), np.uint8)
    for i in CHEEKS:
        cv2.circle(sample, tuple(int(round(v)) for v in p[i]), max(1, int(round(0.09 * fws))), 255, -1)
    sel = (sample > 0) & (geo > 0.99)
    if sel.sum() < 12:
        sel = geo > 0.99
    alpha = geo
    n = int(sel.sum())
    if n >= 12:
        luma, cr, cb = (c.astype(np.float32) for c in cv2.split(ycc))
        picked = np.stack([cr[sel], cb[sel]], axis=1)
        cov, mean = cv2.calcCovarMatrix(picked, None, cv2.COVAR_NORMAL | cv2.COVAR_ROWS | cv2.COVAR_SCALE)
        cov = cov * (n / (n - 1)) + np.eye(2) * 4.0  # the sample covariance, at least 2 levels of spread
        # Mahalanobis distance^2 = |A (c - mean)|^2 with A^T A = cov^-1 (A from the Cholesky factor)
        a = np.linalg.cholesky(np.linalg.inv(cov)).T.astype(np.float32)
        cr -= np.float32(mean[0, 0])
        cb -= np.float32(mean[0, 1])
        z0 = a[0, 0] * cr + a[0, 1] * cb
        z1 = a[1, 1] * cb  # a is upper triangular
        m2 = z0 * z0 + z1 * z1
        # likelihood 1 - smoothstep(2.5, 5, distance), looked up at m2 in steps of 0.1 (25.5 and more: 0)
        colour = cv2.LUT(cv2.convertScaleAbs(m2, alpha=10.0), _COLOUR_LUT)
        # times smoothstep(Y; 0.25, 0.5 of the cheeks' mean Y): hair, nostrils, deep shade
        y_mean = float(luma[sel].mean())
        shade = _smoothstep(0.25 * y_mean, 0.5 * y_mean, np.arange(256, dtype=np.float32))
        alpha = geo * colour * cv2.LUT(ycc[:, :, 0], shade)
    alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    alpha[alpha < 1.0 / 512.0] = 0.0
    keep = _nonzero_cells(alpha)
    if keep is None:
        return None
    r0, r1, c0, c1 = keep  # the skin's own cells
    return SkinPatch(x0 + f * c0, y0 + f * r0, f, np.ascontiguousarray(alpha[r0:r1, c0:c1]),
                     np.ascontiguousarray(small[r0:r1, c0:c1]), whole)


def skin_mask(frame: np.ndarray, faces: Sequence[Any]) -> SkinMask:
    """The skin of every face in ``faces`` (landmark arrays or :class:`~livestyle.people.face.Face`) as a
    :class:`SkinMask` over ``frame`` (uint8 BGR (H, W, 3)); no faces -> an empty mask."""
    _frame(frame)
    grids = []
    for f in faces:
        patch = _skin_patch(frame, _landmarks(f))
        if patch is not None:
            grids.append(patch)
    return SkinMask(frame.shape[:2], tuple(grids))


# -- smoothing and tone -----------------------------------------------------------------------------------------

TONE_LIFT = 0.10     # the tone curve's mid-tone lift at amount 1, fraction of full scale
TONE_WARMTH = 0.03   # red lifted this much more, blue this much less


def _smooth_weights(image: np.ndarray, f: int, side: int, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """The smoothing's local mean and weight on a skin grid: ``image`` the frame's samples on the cells
    (uint8 (rows, cols, 3)), ``side`` the patch's long side in pixels.  Returns (mean float32
    (rows, cols, 3), ``amount * theta / (var + theta)`` float32 (rows, cols)); the box's radius is ~2% of
    ``side`` (at least one cell)."""
    img = image.astype(np.float32)
    r = max(1, int(round(0.02 * side / f))) if f > 1 else max(2, int(round(0.02 * side)))
    k = (2 * r + 1, 2 * r + 1)
    mean = cv2.blur(img, k)
    var = cv2.blur(img * img, k)
    var -= mean * mean
    var = cv2.transform(var, np.full((1, 3), 1.0 / 3.0, np.float32))  # mean over B, G, R -> (rows, cols)
    np.maximum(var, 0.0, out=var)
    theta = (8.0 + 22.0 * amount) ** 2
    var += theta
    return mean, cv2.divide(theta * amount, var)


def _retouch(out: np.ndarray, patch: SkinPatch, image: np.ndarray, smooth: float, tone: float) -> None:
    """Smoothing at ``smooth`` and then the tone curve at ``tone`` (either may be 0) on ``out``'s pixels
    under ``patch``, in place; ``image``: ``out``'s samples on the patch's cells (for the statistics).

    Every weight is formed on the cells and interpolated to full size as one 3-channel array (so no
    full-size mask is made and each full-size step is one pass over the region): a pixel whose
    neighbouring cells all have mask 0 gets weight 0 and keeps its bytes."""
    box = patch.box(out.shape[:2])
    x0, y0, x1, y1 = box
    region = out[y0:y1, x0:x1]

    def up(cells: np.ndarray) -> np.ndarray:
        return _upsample(cells, patch.f, patch.gx, patch.gy, box)

    if smooth > 0:
        # I + w * ((mean - I) + keep * (I - blur(I))),  w = theta / (var + theta) * skin * amount
        #   = I + w * ((keep - 1) * I - keep * blur(I)) + w * mean;  the blur: 5-tap binomial (sigma ~1 px)
        mean_c, w_c = _smooth_weights(image, patch.f, max(x1 - x0, y1 - y0), smooth)
        w_c *= patch.cells
        w3_c = cv2.merge([w_c, w_c, w_c])
        keep = 0.35 - 0.2 * smooth
        d = cv2.addWeighted(region, keep - 1.0, cv2.GaussianBlur(region, (5, 5), 0), -keep, 0.0, dtype=cv2.CV_32F)
        d *= up(w3_c)
        d += up(w3_c * mean_c)
        res = np.add(region, d, dtype=np.float32)
    else:
        res = region.astype(np.float32)
    if tone > 0:
        # the curve of tone_curve per pixel: x + x * (255 - x) * 4 * amount * lift_c / 255, by the mask
        k = 4.0 * tone / 255.0
        a = patch.cells
        lift = up(cv2.merge([a * (k * (TONE_LIFT - TONE_WARMTH)), a * (k * TONE_LIFT),
                             a * (k * (TONE_LIFT + TONE_WARMTH))]))
        t = np.subtract(255.0, res, dtype=np.float32)
        t *= res
        t *= lift
        res += t
    np.clip(res, 0.0, 255.0, out=res)
    region[...] = cv2.convertScaleAbs(res)  # rounds


def smooth_skin(frame: np.ndarray, mask: SkinMask | np.ndarray, amount: float, *, in_place: bool = False) -> np.ndarray:
    """Edge-aware skin smoothing of ``frame`` (uint8 BGR) under ``mask`` (a :class:`SkinMask` or a float32
    (H, W) array in 0..1), ``amount`` 0..1; returns a new uint8 BGR frame, equal to the input where the
    mask is 0.

    Per patch: the local mean and variance over a box of radius ~2% of the patch's side, from one sample
    per cell of the mask's grid (a few pixels apart, so the variance still sees fine texture); the weight
    ``w = theta / (var + theta) * skin * amount`` with ``theta = (8 + 22 * amount)^2`` (levels^2, so
    skin texture is smoothed and edges stronger than ~8-30 levels are kept); mean and weight are
    interpolated to full size and the result is ``I + w * (mean - I)``, plus ``w * keep`` of the fine
    detail (``I`` minus a 5-tap binomial blur, sigma ~1 px), ``keep`` falling from 0.35 to 0.15 as
    ``amount`` rises.
    With ``in_place`` the result is written into ``frame`` itself (and returned), sparing a full-frame copy.
    """
    a = check_amount("smooth", amount)
    _frame(frame)
    out = frame if in_place else frame.copy()
    if a == 0.0:
        return out
    m = _as_mask(mask, frame)
    for g in m.grids:
        rows, cols = g.cells.shape
        _retouch(out, g, _grid_image(out, g.gx, g.gy, g.f, cols, rows), a, 0.0)
    return out


def tone_curve(amount: float) -> np.ndarray:
    """The skin tone curve at ``amount`` (0..1, key ``tone``): uint8 (256, 1, 3) BGR lookup table, a
    mid-tone lift (up to +10% of full scale) with a little warmth (red up, blue down); identity at 0."""
    a = check_amount("tone", amount)
    x = np.arange(256, dtype=np.float32) / 255.0
    bump = 4.0 * x * (1.0 - x)
    b = x + a * bump * (TONE_LIFT - TONE_WARMTH)
    g = x + a * bump * TONE_LIFT
    r = x + a * bump * (TONE_LIFT + TONE_WARMTH)
    lut = np.stack([b, g, r], axis=1)
    return np.clip(np.round(lut * 255.0), 0, 255).astype(np.uint8)[:, None, :]


def tone_skin(frame: np.ndarray, mask: SkinMask | np.ndarray, amount: float, *, in_place: bool = False) -> np.ndarray:
    """Brighter, warmer skin: the curve of :func:`tone_curve` (evaluated per pixel, before rounding)
    applied to ``frame`` (uint8 BGR) and blended in by ``mask``; a new uint8 BGR frame (``frame`` itself
    with ``in_place``), equal to the input where the mask is 0 or ``amount`` is 0."""
    a = check_amount("tone", amount)
    _frame(frame)
    out = frame if in_place else frame.copy()
    if a == 0.0:
        return out
    m = _as_mask(mask, frame)
    for g in m.grids:
        _retouch(out, g, g.image, 0.0, a)
    return out


# -- warps ------------------------------------------------------------------------------------------------

WARP_STEP = 4            # the displacement's grid, in pixels (smaller for small faces)


@dataclass(frozen=True, eq=False)
class WarpField:
    """A backward map over one region of the frame: output pixel (x0 + i, y0 + j) takes the input at
    (``map_x[j, i]``, ``map_y[j, i]``) (float32 (h, w), absolute frame pixels).  ``dx``/``dy``: the
    displacement ``map - identity`` (float32 (h, w)).

    The displacement is held on a grid of ``step``-pixel cells with its corner at (``gx``, ``gy``)
    (``cells`` float32 (rows, cols, 2), (dx, dy) at each cell's centre; see the grids note above) and
    interpolated bilinearly; the full-size arrays are made on first use.  ``x0``, ``y0``, ``width``,
    ``height``: the region, the pixels inside the frame between the outer cells' centres (the field is 0
    beyond it)."""

    x0: int
    y0: int
    width: int
    height: int
    step: int
    gx: int
    gy: int
    cells: np.ndarray

    @cached_property
    def _offsets(self) -> np.ndarray:
        """float32 (h, w, 2): (dx, dy) at every pixel of the region."""
        return _upsample(self.cells, self.step, self.gx, self.gy,
                         (self.x0, self.y0, self.x0 + self.width, self.y0 + self.height))

    @property
    def dx(self) -> np.ndarray:
        return np.ascontiguousarray(self._offsets[:, :, 0])

    @property
    def dy(self) -> np.ndarray:
        return np.ascontiguousarray(self._offsets[:, :, 1])

    @property
    def map_x(self) -> np.ndarray:
        return self.dx + np.arange(self.x0, self.x0 + self.width, dtype=np.float32)[None, :]

    @property
    def map_y(self) -> np.ndarray:
        return self.dy + np.arange(self.y0, self.y0 + self.height, dtype=np.float32)[:, None]

    def jacobian_det(self) -> np.ndarray:
        """det of d(map)/d(pixel), float32 (h-2, w-2) (central differences); > 0 everywhere means the map
        does not fold (nothing tears or mirrors)."""
        mx, my = self.map_x.astype(np.float64), self.map_y.astype(np.float64)
        ax = (mx[1:-1, 2:] - mx[1:-1, :-2]) / 2
        ay = (mx[2:, 1:-1] - mx[:-2, 1:-1]) / 2
        bx = (my[1:-1, 2:] - my[1:-1, :-2]) / 2
        by = (my[2:, 1:-1] - my[:-2, 1:-1]) / 2
        return (ax * by - ay * bx).astype(np.float32)

    @cached_property
    def _fixed_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """The map relative to the region's corner in remap's own fixed point (CV_16SC2 + CV_16UC1)."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x0 + self.width, self.y0 + self.height
        # The map itself (identity + displacement, relative to the region's corner) is interpolated from
        # the cells: bilinear interpolation reproduces the identity exactly between cell centres, and the
        # region lies between them.
        rows, cols = self.cells.shape[:2]
        off = (self.step - 1) / 2.0
        cells = self.cells.copy()
        cells[:, :, 0] += (self.gx + off - x0) + self.step * np.arange(cols, dtype=np.float32)[None, :]
        cells[:, :, 1] += (self.gy + off - y0) + self.step * np.arange(rows, dtype=np.float32)[:, None]
        maps = _upsample(cells, self.step, self.gx, self.gy, (x0, y0, x1, y1))
        return cv2.convertMaps(maps, None, cv2.CV_16SC2)

    @property
    def whole(self) -> bool:
        """True when no frame edge cut the region (it runs between the outer cells' centres)."""
        rows, cols = self.cells.shape[:2]
        edge = int(math.ceil((self.step - 1) / 2.0))
        return (self.x0 == self.gx + edge and self.y0 == self.gy + edge
                and self.x0 + self.width == self.gx + self.step * cols - edge
                and self.y0 + self.height == self.gy + self.step * rows - edge)

    def moved(self, sx: int, sy: int, shape: tuple[int, int]) -> "WarpField | None":
        """The same field moved by whole pixels (``sx``, ``sy``) in a frame of ``shape`` (H, W), sharing
        this one's cells and fixed-point maps; None unless both this field and the moved one are
        :attr:`whole` (a region cut by the frame's edge has other maps)."""
        H, W = int(shape[0]), int(shape[1])
        x0, y0 = self.x0 + int(sx), self.y0 + int(sy)
        if not self.whole or x0 < 0 or y0 < 0 or x0 + self.width > W or y0 + self.height > H:
            return None
        out = WarpField(x0, y0, self.width, self.height, self.step, self.gx + int(sx), self.gy + int(sy), self.cells)
        out.__dict__["_fixed_maps"] = self._fixed_maps  # relative to the corner: the same maps
        return out

    def remap(self, frame: np.ndarray) -> np.ndarray:
        """The region warped: uint8 (height, width, 3) read from ``frame`` (its edge repeated beyond it)."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x0 + self.width, self.y0 + self.height
        fixed, frac = self._fixed_maps  # made once per field
        # the field is 0 on the region's sides inside the frame, so reading from the region alone (its
        # edge repeated) is reading from the frame
        return cv2.remap(frame[y0:y1, x0:x1], fixed, frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


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
    bx0, by0, bx1, by1 = _face_box(pts)
    step = int(min(WARP_STEP, max(1, min(bx1 - bx0, by1 - by0) // 32)))
    # The fade is measured on the grid: a cell's distance is never less than its centre's true distance
    # from the oval minus ~0.71 cell (a cell on the oval's edge counts as inside), and interpolation reads
    # cells up to sqrt(2) cells away; so a fade ending 2.2 cells short of STILL_BEYOND keeps every pixel
    # more than STILL_BEYOND from the oval still.  A large displacement gets a longer fade (a steeper one
    # could fold the map).
    d_max = max(slim_k * half_w, max(eye_radii) * eye_a * 0.3)
    # The fade also ends HOLD_SLACK short, so that a field :class:`Retoucher` moves with the face keeps
    # the promise while the face's oval is within HOLD_MAX px (+ the move's rounding) of where it was.
    fade = max(min(OUTSIDE_FADE, STILL_BEYOND - 2.2 * step - HOLD_SLACK), 2.5 * d_max)
    reach = fade + 2 * step
    gx, gy = int(math.floor(bx0 - reach)), int(math.floor(by0 - reach))
    cols, rows = int(math.ceil((bx1 + reach - gx) / step)), int(math.ceil((by1 + reach - gy) / step))
    if gx >= W or gy >= H or gx + step * cols <= 0 or gy + step * rows <= 0:
        return None
    off = (step - 1) / 2.0
    face = np.zeros((rows, cols), np.uint8)
    oval = (pts[list(FACE_OVAL)] - [gx + off, gy + off]) / step
    cv2.fillPoly(face, [np.round(oval * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
    outside = cv2.distanceTransform(cv2.bitwise_not(face), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside *= step
    g = 1.0 - _smoothstep(0.0, fade, outside)
    qx = (gx + off + step * np.arange(cols, dtype=np.float32))[None, :]
    qy = (gy + off + step * np.arange(rows, dtype=np.float32))[:, None]
    dx = np.zeros((rows, cols), np.float32)
    dy = np.zeros((rows, cols), np.float32)
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
            # only the cells within r of the eye's centre move
            j0, j1 = max(0, int((c[0] - r - gx) // step)), min(cols, int((c[0] + r - gx) // step) + 1)
            i0, i1 = max(0, int((c[1] - r - gy) // step)), min(rows, int((c[1] + r - gy) // step) + 1)
            if j1 <= j0 or i1 <= i0:
                continue
            ox, oy = qx[:, j0:j1] - c[0], qy[i0:i1] - c[1]
            rho2 = (ox * ox + oy * oy) * (1.0 / (r * r))
            phi = np.square(np.maximum(1.0 - rho2, 0.0), dtype=np.float32)
            phi *= eye_a
            # backward: read from c + (q - c) * (1 - a * phi): the eye's centre is magnified 1 / (1 - a)
            dx[i0:i1, j0:j1] -= phi * ox
            dy[i0:i1, j0:j1] -= phi * oy
    dx *= g
    dy *= g
    keep = _nonzero_cells((dx != 0) | (dy != 0))
    if keep is None:
        return None
    r0, r1, c0, c1 = keep
    gx, gy, cells = gx + step * c0, gy + step * r0, cv2.merge([dx[r0:r1, c0:c1], dy[r0:r1, c0:c1]])
    # the region: the pixels between the outer cells' centres (beyond them the field is 0: the outer
    # cells are the zero ring or past the fade)
    edge = int(math.ceil(off))
    x0, y0 = max(0, gx + edge), max(0, gy + edge)
    x1, y1 = min(W, gx + step * (c1 - c0) - edge), min(H, gy + step * (r1 - r0) - edge)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return WarpField(x0, y0, x1 - x0, y1 - y0, step, gx, gy, cells)


def reshape_face(frame: np.ndarray, landmarks: np.ndarray, *, slim: float = 0.0, eyes: float = 0.0,
                 in_place: bool = False) -> np.ndarray:
    """Slim the lower face (``slim`` 0..1) and enlarge the eyes (``eyes`` 0..1) of one face in ``frame``
    (uint8 BGR) with one remap over the region where the face moves; a new uint8 BGR frame (the input's
    bytes at 0, 0), or ``frame`` itself with ``in_place`` (the remap reads a finished copy of the region's
    source first)."""
    _frame(frame)
    field = warp_field(frame.shape[:2], landmarks, slim=slim, eyes=eyes)
    out = frame if in_place else frame.copy()
    if field is None:
        return out
    out[field.y0:field.y0 + field.height, field.x0:field.x0 + field.width] = field.remap(frame)
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
        for patch in skin_mask(frame, faces).grids:
            _retouch(out, patch, patch.image, beauty.smooth, beauty.tone)
    if beauty.slim > 0 or beauty.eyes > 0:
        for f in faces:
            reshape_face(out, _landmarks(f), slim=beauty.slim, eyes=beauty.eyes, in_place=True)
    return out


# -- frame after frame -----------------------------------------------------------------------------------------

class Retoucher:
    """:func:`apply` for a video: the same retouch, with each tracked face's skin cells and warp field kept
    from the frame they were made on and moved with the face while it only moves (a still face, a sway).

    For a face with a ``track`` attribute (:class:`~livestyle.people.face.Face`), the skin weights (the
    mask's geometry and its skin-colour fit) and the warp's displacement cells and fixed-point maps are
    remade when the face was not seen on the last call, when the amounts of ``slim``/``eyes`` change,
    after ``hold`` frames, when the patch or the region touches the frame's edge, and when its landmarks
    moved other than together: after their mean move is taken off, by more than ``rms`` px (root mean
    square) or any one by more than ``max_px`` (at most :data:`HOLD_MAX`).  Otherwise they are moved by
    the mean move rounded to whole pixels (so they sit within ``max_px`` + 0.71 px of where they would be
    made now; the warp's fade leaves room for that: :data:`HOLD_SLACK`).  The smoothing's local mean and variance, the tone and the
    warp itself are computed on every frame from the frame itself.  Faces without a ``track`` are made
    afresh every time.  ``made`` and ``moved`` count each kind (``mask``, ``warp``); ``reset()``
    forgets every face.
    """

    def __init__(self, *, hold: int = HOLD_FRAMES, rms: float = HOLD_RMS, max_px: float = HOLD_MAX):
        self.hold = max(1, int(hold))
        self.rms = float(rms)
        self.max_px = min(float(max_px), HOLD_MAX)
        self._held: dict[tuple[str, Any], tuple[np.ndarray, int, Any, Any]] = {}
        self.made = {"mask": 0, "warp": 0}
        self.moved = {"mask": 0, "warp": 0}

    def reset(self) -> None:
        self._held.clear()

    def _move(self, kind: str, key: Any, pts: np.ndarray, tag: Any) -> tuple[int, int, Any] | None:
        """(sx, sy, item) for a held item still good for landmarks ``pts``; None to make it afresh."""
        held = self._held.get((kind, key))
        if held is None:
            return None
        ref, age, item, held_tag = held
        if age + 1 >= self.hold or held_tag != tag:
            return None
        d = pts - ref
        t = d.mean(axis=0)
        d -= t
        r2 = np.einsum("ij,ij->i", d, d)
        if float(r2.mean()) > self.rms ** 2 or float(r2.max()) > self.max_px ** 2:
            return None
        self._held[(kind, key)] = (ref, age + 1, item, held_tag)
        return int(round(float(t[0]))), int(round(float(t[1]))), item

    def _patch(self, frame: np.ndarray, pts: np.ndarray, key: Any) -> SkinPatch | None:
        if key is not None:
            hit = self._move("mask", key, pts, None)
            if hit is not None:
                sx, sy, p = hit
                H, W = frame.shape[:2]
                rows, cols = p.cells.shape
                gx, gy = p.gx + sx, p.gy + sy
                if gx >= 0 and gy >= 0 and gx + p.f * cols <= W and gy + p.f * rows <= H:
                    self.moved["mask"] += 1
                    return SkinPatch(gx, gy, p.f, p.cells, _grid_image(frame, gx, gy, p.f, cols, rows), True)
        patch = _skin_patch(frame, pts)
        self.made["mask"] += 1
        if key is not None:
            if patch is not None and patch.whole:
                self._held[("mask", key)] = (pts.copy(), 0, patch, None)
            else:
                self._held.pop(("mask", key), None)
        return patch

    def _field(self, shape: tuple[int, int], pts: np.ndarray, key: Any, slim: float, eyes: float) -> WarpField | None:
        if key is not None:
            hit = self._move("warp", key, pts, (slim, eyes))
            if hit is not None:
                sx, sy, fld = hit
                moved = fld.moved(sx, sy, shape)
                if moved is not None:
                    self.moved["warp"] += 1
                    return moved
        fld = warp_field(shape, pts, slim=slim, eyes=eyes)
        self.made["warp"] += 1
        if key is not None:
            if fld is not None and fld.whole:
                self._held[("warp", key)] = (pts.copy(), 0, fld, (slim, eyes))
            else:
                self._held.pop(("warp", key), None)
        return fld

    def apply(self, frame: np.ndarray, faces: Sequence[Any], beauty: Beauty) -> np.ndarray:
        """As :func:`apply` (a new frame; skin smoothing and tone under the skin mask of ``frame``, then
        the warps), with the faces' skin cells and warp fields kept as the class describes."""
        _frame(frame)
        out = frame.copy()
        items = [(_landmarks(f), getattr(f, "track", None)) for f in faces]
        keys = {k for _, k in items if k is not None}
        for held in [h for h in self._held if h[1] not in keys]:
            del self._held[held]
        if not beauty.active or not items:
            return out
        if beauty.smooth > 0 or beauty.tone > 0:
            patches = [self._patch(frame, pts, key) for pts, key in items]
            for patch in patches:
                if patch is not None:
                    _retouch(out, patch, patch.image, beauty.smooth, beauty.tone)
        if beauty.slim > 0 or beauty.eyes > 0:
            for pts, key in items:
                fld = self._field(frame.shape[:2], pts, key, beauty.slim, beauty.eyes)
                if fld is not None:
                    # the remap reads a finished copy of its region's source (as reshape_face in place)
                    out[fld.y0:fld.y0 + fld.height, fld.x0:fld.x0 + fld.width] = fld.remap(out)
        return out
