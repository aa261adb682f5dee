"""Beauty operations on real portraits with real landmarks (MediaPipe's face mesh through LiteRT):
identity at 0, the skin mask's place, smoothing that lowers the skin's fine texture and leaves eyes and
lips alone, the tone curve, warps that leave the background still and never fold, and refused values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from livestyle.ops import beauty as B
from livestyle.people import models
from tests.support.portraits import astronaut, grace_hopper, missing_reason, place


def _models_ready() -> str | None:
    bad = [n for n in ("face_detector", "face_landmarks") if models.status(models.BY_NAME[n]).state != "ok"]
    return None if not bad else f"face models not fetched ({', '.join(bad)}): run `livestyle models fetch`"


needs_models = pytest.mark.skipif(_models_ready() is not None, reason=_models_ready() or "")


def _grid(size=(1280, 720), step=16) -> np.ndarray:
    """A white frame ruled with 1-px black lines every ``step`` pixels (straight lines everywhere)."""
    W, H = size
    g = np.full((H, W, 3), 235, np.uint8)
    g[::step] = 20
    g[:, ::step] = 20
    return g


@pytest.fixture(scope="module")
def scenes():
    """[(name, uint8 BGR 720p frame, landmarks (468, 2))] for the astronaut and Grace Hopper on a ruled
    background; the landmarks come from the real tracker."""
    from livestyle.people.face import FaceTracker

    if _models_ready():
        pytest.skip(_models_ready())
    hop = grace_hopper()
    if hop is None:
        pytest.skip(missing_reason("grace_hopper"))
    out = []
    for name, img, scale in (("astronaut", astronaut(), 1.0), ("hopper", hop, 0.85)):
        frame = place(img, _grid(), scale=scale)
        # keep the portrait's own background near the face, the ruled one beyond the picture's edge
        faces = FaceTracker((1280, 720)).update(frame)
        assert len(faces) == 1
        out.append((name, frame, faces[0].landmarks))
    return out


def _poly_mask(shape, pts, idx, erode=0) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(pts[list(idx)]).astype(np.int32)], 255)
    if erode:
        m = cv2.erode(m, np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    return m > 0


def _outside_face_distance(shape, pts) -> np.ndarray:
    """Distance (px) of every pixel from the face oval (0 inside)."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(pts[list(B.FACE_OVAL)]).astype(np.int32)], 255)
    return cv2.distanceTransform(cv2.bitwise_not(m), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


# -- values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "lots", None])
def test_bad_amounts_are_refused_naming_the_key(bad):
    frame = np.zeros((64, 64, 3), np.uint8)
    pts = np.full((468, 2), 32, np.float32)
    mask = np.zeros((64, 64), np.float32)
    calls = {"smooth": lambda: B.smooth_skin(frame, mask, bad), "tone": lambda: B.tone_skin(frame, mask, bad),
             "slim": lambda: B.slim_face(frame, pts, bad), "eyes": lambda: B.enlarge_eyes(frame, pts, bad)}
    for key, call in calls.items():
        with pytest.raises(ValueError, match=f"beauty {key} "):
            call()
        with pytest.raises(ValueError, match=f"beauty {key} "):
            B.Beauty(**{key: bad})


def test_bad_landmarks_are_refused():
    frame = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="landmarks"):
        B.slim_face(frame, np.zeros((68, 2), np.float32), 0.5)
    with pytest.raises(ValueError, match="landmarks"):
        B.skin_mask(frame, [np.full((468, 2), np.nan, np.float32)])


@needs_models
def test_every_op_at_zero_is_the_input(scenes):
    for _, frame, pts in scenes:
        mask = B.skin_mask(frame, [pts])
        outs = [B.smooth_skin(frame, mask, 0.0), B.tone_skin(frame, mask, 0), B.slim_face(frame, pts, 0.0),
                B.enlarge_eyes(frame, pts, 0.0), B.reshape_face(frame, pts), B.apply(frame, [pts], B.Beauty())]
        for out in outs:
            assert out is not frame and out.dtype == np.uint8 and out.tobytes() == frame.tobytes()


# -- skin mask ---------------------------------------------------------------------------------------

@needs_models
def test_the_skin_mask_covers_cheeks_not_eyes_lips_or_background(scenes):
    for name, frame, pts in scenes:
        m = B.skin_mask(frame, [pts])
        assert len(m.patches) == 1
        full = m.full()
        for i in B.CHEEKS:
            x, y = np.round(pts[i]).astype(int)
            assert full[y - 2:y + 3, x - 2:x + 3].min() > 0.8, name
        for idx in (B.LEFT_EYE, B.RIGHT_EYE, B.LIPS_OUTER):
            assert full[_poly_mask(frame.shape, pts, idx)].max() < 0.15, name
        far = _outside_face_distance(frame.shape, pts) > 0.6 * np.ptp(pts[:, 0])
        assert full[far].max() == 0.0
        # feathered: no step at the skin's edge (at most ~0.1 per pixel)
        gy, gx = np.gradient(full)
        assert np.hypot(gx, gy).max() < 0.12, name
        # computed around the face only
        x0, y0, a = m.patches[0]
        assert a.size < 0.25 * full.size


def test_no_faces_give_an_empty_mask_and_no_change():
    frame = np.full((90, 160, 3), 128, np.uint8)
    m = B.skin_mask(frame, [])
    assert m.patches == () and m.full().max() == 0
    assert B.smooth_skin(frame, m, 1.0).tobytes() == frame.tobytes()
    assert B.apply(frame, [], B.Beauty(smooth=1, tone=1, slim=1, eyes=1)).tobytes() == frame.tobytes()


# -- smoothing and tone --------------------------------------------------------------------------------

def _band_energy(img: np.ndarray, where: np.ndarray) -> float:
    """Mean squared band-pass (Gaussian sigma 0.7 minus sigma 3) of the luma over ``where``."""
    y = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    band = cv2.GaussianBlur(y, (0, 0), 0.7) - cv2.GaussianBlur(y, (0, 0), 3.0)
    return float((band[where] ** 2).mean())


@needs_models
def test_smoothing_lowers_skin_texture_and_leaves_eyes_and_lips(scenes):
    for name, frame, pts in scenes:
        m = B.skin_mask(frame, [pts])
        skin = m.full() > 0.9
        before = _band_energy(frame, skin)
        energies = [before]
        for amount in (0.3, 0.6, 1.0):
            out = B.smooth_skin(frame, m, amount)
            energies.append(_band_energy(out, skin))
            for idx in (B.LEFT_EYE, B.RIGHT_EYE, B.LIPS_OUTER):
                inside = _poly_mask(frame.shape, pts, idx)
                diff = np.abs(out.astype(int) - frame.astype(int))[inside]
                assert diff.max() <= 2, (name, amount, idx[:2])
            assert out[m.full() == 0].tobytes() == frame[m.full() == 0].tobytes()
        assert energies[1] < 0.92 * before and energies[3] < 0.6 * before, (name, energies)
        assert energies[1] > energies[2] > energies[3], energies  # more amount, smoother
        assert energies[3] > 0.05 * before  # never a flat plastic mask: some detail stays


@needs_models
def test_tone_brightens_and_warms_skin_only(scenes):
    for name, frame, pts in scenes:
        m = B.skin_mask(frame, [pts])
        full = m.full()
        out = B.tone_skin(frame, m, 0.8)
        skin = full > 0.9
        d = out.astype(np.float32) - frame.astype(np.float32)
        assert d[skin].mean() > 3.0, name  # brighter
        assert d[skin][:, 2].mean() > d[skin][:, 0].mean() + 1.0  # warmer: red up more than blue
        assert out[full == 0].tobytes() == frame[full == 0].tobytes()
    lut = B.tone_curve(0.0)
    assert np.array_equal(lut[:, 0, 0], np.arange(256))
    assert np.all(np.diff(B.tone_curve(1.0)[:, 0, :].astype(int), axis=0) >= 0)  # monotone


# -- warps -------------------------------------------------------------------------------------------

@needs_models
@pytest.mark.parametrize("op", ["slim", "eyes", "both"])
def test_warps_leave_the_background_40px_from_the_face_still(scenes, op):
    kw = {"slim": {"slim": 0.5}, "eyes": {"eyes": 0.5}, "both": {"slim": 0.5, "eyes": 0.5}}[op]
    for name, frame, pts in scenes:
        field = B.warp_field(frame.shape[:2], pts, **kw)
        dist = _outside_face_distance(frame.shape, pts)
        h, w = field.dx.shape
        region_dist = dist[field.y0:field.y0 + h, field.x0:field.x0 + w]
        moved = np.hypot(field.dx, field.dy)
        assert moved.max() > 0.5, (name, op)  # it does something (the astronaut's eyes are ~25 px wide)
        # (the field's region may end before 40 px: it covers only where something moves)
        assert np.max(moved[region_dist > 40], initial=0.0) <= 1.0, (name, op)
        out = B.reshape_face(frame, pts, **kw)
        far = dist > 40
        # the ruled lines (and the portrait's own background) far from the face: the very same bytes
        assert out[far].tobytes() == frame[far].tobytes(), (name, op)
        assert out[~far].tobytes() != frame[~far].tobytes(), (name, op)


@needs_models
@pytest.mark.parametrize("amount", [0.5, 1.0])
def test_warps_never_fold(scenes, amount):
    for name, frame, pts in scenes:
        for kw in ({"slim": amount}, {"eyes": amount}, {"slim": amount, "eyes": amount}):
            det = B.warp_field(frame.shape[:2], pts, **kw).jacobian_det()
            assert det.min() > 0.2, (name, kw, det.min())
        # a tilted face (the portrait turned 25 degrees about its nose)
        c = tuple(float(v) for v in pts[1])
        rot = cv2.getRotationMatrix2D(c, 25.0, 1.0)
        tilted = (pts @ rot[:, :2].T + rot[:, 2]).astype(np.float32)
        det = B.warp_field(frame.shape[:2], tilted, slim=amount, eyes=amount).jacobian_det()
        assert det.min() > 0.2, (name, "tilted", det.min())


@needs_models
def test_the_warp_is_the_field_s_own_map_also_at_the_frame_s_edge(scenes):
    """reshape_face remaps from fixed-point maps interpolated from the field's cells and reads only the
    region: the same picture as cv2.remap with the field's full-size absolute maps over the whole frame,
    for a face inside the frame and for one cut by its left, right and top edges (where the whole retouch
    runs too)."""
    for name, frame, pts in scenes:
        x0, y0, x1, y1 = B._face_box(pts)
        for dx, dy in ((0, 0), (int(x0 + 0.3 * (x1 - x0)), 0), (int(x1 - 0.3 * (x1 - x0)) - 1280, 0),
                       (0, int(y0 + 0.2 * (y1 - y0)))):
            f = np.ascontiguousarray(np.roll(frame, (-dy, -dx), axis=(0, 1)))
            p = (pts - np.float32([dx, dy])).astype(np.float32)
            field = B.warp_field(f.shape[:2], p, slim=0.8, eyes=0.8)
            ref = f.copy()
            ref[field.y0:field.y0 + field.height, field.x0:field.x0 + field.width] = cv2.remap(
                f, field.map_x, field.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out = B.reshape_face(f, p, slim=0.8, eyes=0.8)
            diff = np.abs(out.astype(int) - ref.astype(int))
            # the two round the map to remap's 1/32 px differently in a few places
            assert diff.max() <= 4 and (diff > 1).mean() < 1e-4, (name, dx, dy, diff.max())
            assert not np.array_equal(out, f), (name, dx, dy)
            # the skin's patch cut by the edge too: everything runs and changes the face
            both = B.apply(f, [p], B.Beauty(smooth=0.6, tone=0.6, slim=0.6, eyes=0.6))
            assert both.shape == f.shape and not np.array_equal(both, out), (name, dx, dy)


def _forward(field: B.WarpField, p: np.ndarray) -> np.ndarray:
    """Where the input's point ``p`` lands in the output (solves q + d(q) = p by fixed-point steps)."""
    q = p.astype(np.float64).copy()
    for _ in range(30):
        at = (float(q[0] - field.x0), float(q[1] - field.y0))
        d = np.array([cv2.getRectSubPix(field.dx, (1, 1), at)[0, 0], cv2.getRectSubPix(field.dy, (1, 1), at)[0, 0]])
        q = p - d
    return q


@needs_models
def test_slimming_narrows_the_jaw_geometrically_and_as_the_face_model_sees_it(scenes):
    from livestyle.people.face import FaceLandmarker, roi_from_points

    mesh = FaceLandmarker()
    for name, frame, pts in scenes:
        jaw0 = float(np.hypot(*(pts[172] - pts[397])))
        for amount, most in ((0.5, 0.96), (1.0, 0.92)):
            f = B.warp_field(frame.shape[:2], pts, slim=amount)
            jaw1 = float(np.hypot(*(_forward(f, pts[172]) - _forward(f, pts[397]))))
            assert jaw1 < most * jaw0, (name, amount, jaw1 / jaw0)
        # the landmark model, run on the slimmed picture with the same crop, sees a narrower jaw too
        # (less than the geometry: its face-shape prior resists)
        roi = roi_from_points((pts[33], pts[263]), pts, 1.5)

        def jaw(img):
            L, presence = mesh.run(img, roi)
            assert presence > 0.9
            return float(np.hypot(*(L[172] - L[397])))

        seen0, seen1 = jaw(frame), jaw(B.slim_face(frame, pts, 1.0))
        assert seen1 < 0.985 * seen0, (name, seen1 / seen0)


@needs_models
def test_enlarged_eyes_have_larger_irises(scenes):
    for name, frame, pts in scenes:
        grey0 = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        yy, xx = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
        eyes = []
        for poly, (a, b) in ((B.LEFT_EYE, B.LEFT_EYE_CORNERS), (B.RIGHT_EYE, B.RIGHT_EYE_CORNERS)):
            c = pts[list(poly)].mean(0)
            r = 0.4 * float(np.hypot(*(pts[a] - pts[b])))  # the iris, not the brows or glasses
            disc = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 < r * r
            eyes.append((disc, np.percentile(grey0[disc], 12)))  # the untouched eye's iris and pupil
        areas = []
        for amount in (0.0, 0.5, 1.0):
            grey = cv2.cvtColor(B.enlarge_eyes(frame, pts, amount), cv2.COLOR_BGR2GRAY)
            areas.append(sum(int((grey[disc] <= dark).sum()) for disc, dark in eyes))
        assert areas[0] < areas[1] < areas[2], (name, areas)
        assert areas[2] > 1.3 * areas[0], (name, areas)  # ~1.33x linear at the centre at amount 1


@needs_models
def test_apply_runs_everything_on_two_faces(scenes):
    name, frame, pts = scenes[1]
    other = pts + np.float32([400, 0])  # a second (made-up) face to the right: both are processed
    out = B.apply(frame, [pts, other], B.Beauty(smooth=0.6, tone=0.6, slim=0.6, eyes=0.6))
    assert out.shape == frame.shape and out.dtype == np.uint8
    for p in (pts, other):
        x0, y0, x1, y1 = (int(v) for v in B._face_box(p))
        assert not np.array_equal(out[y0:y1, x0:x1], frame[y0:y1, x0:x1])
    assert math.isclose(B.Beauty(smooth=1).smooth, 1.0)


# -- frame after frame (Retoucher) ----------------------------------------------------------------------

class _Tracked:
    """A tracked face as the tracker gives it: landmarks and a track id."""

    def __init__(self, landmarks: np.ndarray, track: int = 0):
        self.landmarks = np.asarray(landmarks, np.float32)
        self.track = track


ALL = B.Beauty(smooth=0.6, tone=0.4, slim=0.5, eyes=0.5)


@needs_models
def test_the_retoucher_on_a_new_face_is_apply_and_holds_on_a_face_moved_by_whole_pixels(scenes):
    for name, frame, pts in scenes:
        keep = B.Retoucher()
        first = keep.apply(frame, [_Tracked(pts)], ALL)
        assert first.tobytes() == B.apply(frame, [pts], ALL).tobytes(), name
        assert keep.made == {"mask": 1, "warp": 1} and keep.moved == {"mask": 0, "warp": 0}
        # the whole picture moved by (7, -5) pixels: the kept cells and maps, moved, give what making
        # them afresh on the moved picture gives (up to float rounding of the moved landmarks)
        moved_frame = np.ascontiguousarray(np.roll(frame, (-5, 7), axis=(0, 1)))
        moved_pts = (pts + np.float32([7, -5])).astype(np.float32)
        held = keep.apply(moved_frame, [_Tracked(moved_pts)], ALL)
        assert keep.moved == {"mask": 1, "warp": 1}, (name, keep.moved)
        fresh = B.apply(moved_frame, [moved_pts], ALL)
        diff = cv2.absdiff(held, fresh)
        assert diff.max() <= 2 and (diff > 0).mean() < 1e-3, (name, int(diff.max()), (diff > 0).mean())
        # a face that changed shape (leaning in by 2%) is made afresh
        c = moved_pts[1]
        closer = ((moved_pts - c) * 1.02 + c).astype(np.float32)
        keep.apply(moved_frame, [_Tracked(closer)], ALL)
        assert keep.made == {"mask": 2, "warp": 2}, (name, keep.made)
        # and an untracked face (bare landmarks) is made afresh every time
        bare = B.Retoucher()
        for _ in range(2):
            bare.apply(frame, [pts], ALL)
        assert bare.made == {"mask": 2, "warp": 2} and bare.moved == {"mask": 0, "warp": 0}


@needs_models
def test_a_held_warp_leaves_the_background_40px_from_the_face_still(scenes):
    """Held as far as it may be (the oval's points up to HOLD_MAX px off the held ones, a move of half a
    pixel each way to round), the warp still moves nothing more than 40 px from the face's oval now."""
    rng = np.random.default_rng(3)
    for name, frame, pts in scenes:
        keep = B.Retoucher(rms=10.0)  # only HOLD_MAX limits the shape change
        keep.apply(frame, [_Tracked(pts)], B.Beauty(slim=0.5, eyes=0.5))
        worst = 0
        for trial in range(6):
            now = pts + np.float32([3.5, -2.5])  # rounds by half a pixel in both directions
            oval = list(B.FACE_OVAL)
            push = rng.normal(size=(len(oval), 2)).astype(np.float32)
            push -= push.mean(0)  # the mean move stays (3.5, -2.5)
            push *= (0.97 * B.HOLD_MAX) / np.linalg.norm(push, axis=1).max()  # the farthest just inside the limit
            now[oval] += push
            out = keep.apply(frame, [_Tracked(now.astype(np.float32))], B.Beauty(slim=0.5, eyes=0.5))
            far = _outside_face_distance(frame.shape, now) > 40
            assert out[far].tobytes() == frame[far].tobytes(), (name, trial)
            worst += 1
        assert keep.moved["warp"] == worst and keep.made["warp"] == 1, (name, keep.made, keep.moved)


@needs_models
def test_the_retoucher_remakes_after_hold_frames_and_at_the_frame_s_edge(scenes):
    name, frame, pts = scenes[0]
    keep = B.Retoucher(hold=4)
    for _ in range(9):
        keep.apply(frame, [_Tracked(pts)], ALL)
    assert keep.made == {"mask": 3, "warp": 3} and keep.moved == {"mask": 6, "warp": 6}
    # the same face cut by the frame's left edge: nothing can be moved, everything is made each frame
    x0 = B._face_box(pts)[0]
    dx = int(x0 + 60)
    cut = np.ascontiguousarray(np.roll(frame, -dx, axis=1))
    p = (pts - np.float32([dx, 0])).astype(np.float32)
    edge = B.Retoucher()
    for _ in range(3):
        out = edge.apply(cut, [_Tracked(p)], ALL)
        assert out.tobytes() == B.apply(cut, [p], ALL).tobytes()
    assert edge.moved == {"mask": 0, "warp": 0} and edge.made == {"mask": 3, "warp": 3}
