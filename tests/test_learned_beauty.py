"""Learning the skin retouch from photos (livestyle.people.skin_stats): a synthetic skin patch smoothed by
the real operation at a known amount is measured back to that amount against another patch of the same
kind; the calibration's inversion (ends, monotone, nothing to learn); a real portrait through the real
face models; faces too small are skipped and said so."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livestyle.ops import beauty as B
from livestyle.people import models
from livestyle.people import skin_stats as ss
from tests.support.portraits import astronaut, grace_hopper, missing_reason


def _models_ready() -> str | None:
    bad = [n for n in ("face_detector", "face_landmarks") if models.status(models.BY_NAME[n]).state != "ok"]
    return None if not bad else f"face models not fetched ({', '.join(bad)}): run `livestyle models fetch`"


def _skin(seed: int, *, size: int = 360, fine: float = 5.0, blotch: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic skin patch (uint8 BGR, size x size): a skin colour with shading, pores (white noise
    blurred at 0.8 px, std ``fine`` levels) and blotches (blurred at 5 px, std ``blotch``); and its skin
    weights, an ellipse feathered over ~8 px (float32 (H, W) in 0..1)."""
    rng = np.random.default_rng(seed)

    def noise(sigma: float, std: float) -> np.ndarray:
        n = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), sigma)
        return n * (std / max(1e-6, float(n.std())))

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    luma = 20.0 * (xx - 0.5) - 12.0 * (yy - 0.5) ** 2 + noise(0.8, fine) + noise(5.0, blotch)
    base = np.array([135.0, 160.0, 205.0], np.float32)  # B, G, R of a light skin
    img = np.clip(base[None, None, :] + luma[:, :, None] * np.array([0.8, 0.9, 1.0], np.float32), 0, 255)
    alpha = np.zeros((size, size), np.float32)
    cv2.ellipse(alpha, (size // 2, size // 2), (size * 2 // 5, size * 9 // 20), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 4.0)
    return img.astype(np.uint8), alpha


SPAN = 150.0  # the eye span the synthetic patches are measured as


def _texture(img: np.ndarray, alpha: np.ndarray) -> float:
    s = ss.measure_alpha(img, alpha, SPAN)
    assert s is not None
    return s.texture


def _curve(img: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.array([_texture(B.smooth_skin(img, alpha, a) if a else img, alpha) for a in ss.AMOUNTS])


@pytest.mark.parametrize("s", [0.3, 0.7])
def test_synthetic_skin_smoothed_at_s_is_learned_as_s(s):
    style_img, alpha = _skin(1)
    content_img, _ = _skin(2)
    style = _texture(B.smooth_skin(style_img, alpha, s), alpha)
    got = ss.learn_amount([style], [_curve(content_img, alpha)])
    assert got.amount is not None and not got.clipped
    assert abs(got.amount - s) <= 0.1, (s, got.amount)


def test_synthetic_untouched_skin_is_learned_as_no_smoothing_and_texture_falls_with_smoothing():
    a, alpha = _skin(3)
    b, _ = _skin(4)
    curve = _curve(b, alpha)
    assert np.all(np.diff(curve) < 0), curve  # every step of smoothing lowers the fine texture's share
    assert curve[0] - curve[ss.AMOUNTS.index(0.7)] > 1.0  # by a factor e or more at 0.7
    got = ss.learn_amount([_texture(a, alpha)], [curve])
    assert got.amount <= 0.1, got.amount


def test_texture_ignores_the_skins_overall_contrast_and_brightness():
    img, alpha = _skin(5)
    louder, _ = _skin(5, fine=10.0, blotch=12.0)  # the same texture at twice the contrast
    darker = cv2.convertScaleAbs(img, alpha=0.7)
    t = _texture(img, alpha)
    assert abs(_texture(louder, alpha) - t) < 0.05
    assert abs(_texture(darker, alpha) - t) < 0.05


def test_learn_amount_inverts_clips_and_reports_nothing_to_learn():
    amounts = (0.0, 0.5, 1.0)
    curves = [np.array([1.0, 0.0, -1.0]), np.array([3.0, 0.0, -3.0]), np.array([2.0, 0.0, -2.0])]
    assert ss.learn_amount([0.5], curves, amounts).amount == pytest.approx(0.375)  # the median curve: 2, 0, -2
    hi = ss.learn_amount([5.0], curves, amounts)
    assert hi.amount == 0.0 and hi.clipped
    lo = ss.learn_amount([-5.0], curves, amounts)
    assert lo.amount == 1.0 and lo.clipped
    # a curve that turns back up is made monotone before it is inverted
    bumpy = ss.learn_amount([-0.5], [np.array([1.0, -1.0, 0.0])], amounts)
    assert bumpy.amount == pytest.approx(0.375)
    rising = ss.learn_amount([1.0], [np.array([0.0, 2.0, 4.0])], amounts, decreasing=False)
    assert rising.amount == pytest.approx(0.25)
    none = ss.learn_amount([], curves, amounts)
    assert none.amount is None and none.style_faces == 0
    assert ss.learn_amount([0.0], [None], amounts).amount is None


def test_small_or_skinless_faces_are_not_measured():
    img, alpha = _skin(6)
    assert ss.measure_alpha(img, alpha, ss.MIN_EYE_SPAN - 1) is None
    assert ss.measure_alpha(img, np.zeros_like(alpha), SPAN) is None
    tiny = np.zeros_like(alpha)
    tiny[100:110, 100:110] = 1.0
    assert ss.measure_alpha(img, tiny, SPAN) is None
    with pytest.raises(ValueError, match="calibrate"):
        ss.calibrate(img, np.zeros((468, 2), np.float32), "pores")


@pytest.fixture(scope="module")
def hopper():
    if _models_ready():
        pytest.skip(_models_ready())
    img = grace_hopper()
    if img is None:
        pytest.skip(missing_reason("grace_hopper"))
    return img


def test_real_portrait_smoothing_learned_against_the_same_face_mirrored(hopper):
    from livestyle.people.face import FaceDetector, FaceLandmarker

    det, lm = FaceDetector(), FaceLandmarker()
    faces = ss.find_faces(hopper, detector=det, landmarker=lm)
    assert len(faces) == 1 and 110 < ss.eye_span(faces[0]) < 145
    styled = B.smooth_skin(hopper, B.skin_mask(hopper, faces), 0.5)
    mirrored = np.ascontiguousarray(hopper[:, ::-1])
    mfaces = ss.find_faces(mirrored, detector=det, landmarker=lm)
    sfaces = ss.find_faces(styled, detector=det, landmarker=lm)
    got = ss.learn_beauty([(styled, sfaces[0])], [(mirrored, mfaces[0])])
    assert got.skipped == ()
    assert abs(got.smooth.amount - 0.5) <= 0.1, got.smooth.amount
    assert got.tone.amount is not None and got.tone.amount <= 0.1  # no tone was put in
    # no face in a flat picture; the astronaut's face (eye span ~63 px) is too small to measure and is skipped
    assert ss.find_faces(np.full((480, 640, 3), 128, np.uint8), detector=det, landmarker=lm) == []
    astro = astronaut()
    apts = ss.find_faces(astro, detector=det, landmarker=lm)[0]
    assert ss.measure(astro, apts) is None
    skipped = ss.learn_beauty([(astro, apts)], [(mirrored, mfaces[0])]).skipped
    assert skipped == ((0, "style", skipped[0][2]),) and "too small" in skipped[0][2]
