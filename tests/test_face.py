"""Faces: the real BlazeFace and face mesh models (LiteRT) on real portraits (the astronaut, Grace
Hopper): detection at the right place, tracking with re-detection every N frames and after a loss, faces
cut by the edge, several faces, and the One Euro filter's steadiness on a still, noisy 720p clip."""

from __future__ import annotations

import numpy as np
import pytest

from livestyle.people import models
from tests.support.portraits import astronaut, clip, grace_hopper, missing_reason, place

SIZE = (1280, 720)


def _models_ready() -> str | None:
    bad = [n for n in ("face_detector", "face_landmarks") if models.status(models.BY_NAME[n]).state != "ok"]
    return None if not bad else f"face models not fetched ({', '.join(bad)}): run `livestyle models fetch`"


pytestmark = pytest.mark.skipif(_models_ready() is not None, reason=_models_ready() or "")


@pytest.fixture(scope="module")
def nets():
    from livestyle.people.face import FaceDetector, FaceLandmarker

    return FaceDetector(), FaceLandmarker()


@pytest.fixture(scope="module")
def hopper():
    img = grace_hopper()
    if img is None:
        pytest.skip(missing_reason("grace_hopper"))
    return img


def _tracker(nets, size=SIZE, **kw):
    from livestyle.people.face import FaceTracker

    return FaceTracker(size, detector=nets[0], landmarker=nets[1], **kw)


def _placed_xy(portrait, xy, *, scale=1.0, dx=0, size=SIZE):
    """Where point ``xy`` of ``portrait`` lands in :func:`place`'s frame of ``size``."""
    W, H = size
    h = round(H * scale)
    k = h / portrait.shape[0]
    w = round(portrait.shape[1] * k)
    return np.array([(W - w) // 2 + dx + xy[0] * k, H - h + xy[1] * k])


# Face centres (between the eyes and the mouth) and sizes read off the two 512x512 pictures by hand.
ASTRONAUT_FACE = ((225.0, 128.0), 95.0)
HOPPER_FACE = ((265.0, 225.0), 195.0)


def test_anchors_are_the_896_of_the_short_range_model():
    from livestyle.people.face import blazeface_anchors

    a = blazeface_anchors()
    assert a.shape == (896, 2)
    assert np.allclose(a[:2], [[0.5 / 16, 0.5 / 16]] * 2)  # two per cell on the 16x16 grid
    assert np.allclose(a[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # six per cell on the 8x8 grid
    assert a.min() > 0 and a.max() < 1


@pytest.mark.parametrize("which", ["astronaut", "hopper"])
def test_detection_finds_the_face_at_the_right_place_square_and_letterboxed(nets, hopper, which):
    img, (centre, size) = (astronaut(), ASTRONAUT_FACE) if which == "astronaut" else (hopper, HOPPER_FACE)
    det = nets[0]
    found = det.detect(img)
    assert len(found) == 1 and found[0].score > 0.8
    box = np.array(found[0].box)
    assert np.hypot(*((box[:2] + box[2:]) / 2 - centre)) < 0.12 * size
    assert 0.75 * size < box[2] - box[0] < 1.3 * size
    right_eye, left_eye, nose = found[0].keypoints[:3]
    assert right_eye[0] < nose[0] < left_eye[0] and nose[1] > max(right_eye[1], left_eye[1])
    # the same picture off-centre in a wide 720p frame (letterboxed): the box lands where the face went
    # (the astronaut's face is small: ~13 px of the detector's 128 at full height, near its limit)
    scale = 1.0 if which == "astronaut" else 0.8
    frame = place(img, np.full((720, 1280, 3), 90, np.uint8), scale=scale, dx=-200)
    found = det.detect(frame)
    assert len(found) == 1
    box = np.array(found[0].box)
    want = _placed_xy(img, centre, scale=scale, dx=-200)
    assert np.hypot(*((box[:2] + box[2:]) / 2 - want)) < 0.12 * size * 720 * scale / 512


def test_landmarks_sit_on_the_face(nets, hopper):
    from livestyle.people.face import FaceTracker

    tr = _tracker(nets, size=hopper.shape[1::-1])
    assert isinstance(tr, FaceTracker)
    faces = tr.update(hopper)
    assert len(faces) == 1
    f = faces[0]
    assert f.landmarks.shape == (468, 2) and f.landmarks.dtype == np.float32 and f.score > 0.9
    L = f.landmarks
    # the person's right eye (33) is on the image's left, the nose tip (1) between and below the eyes,
    # the chin (152) below the mouth (13), all within the detector's box grown a little
    assert L[33, 0] < L[1, 0] < L[263, 0]
    assert max(L[33, 1], L[263, 1]) < L[1, 1] < L[13, 1] < L[152, 1]
    (cx, cy), size = HOPPER_FACE
    assert np.all(np.abs(L - [cx, cy]) < 0.75 * size)
    assert set(tr.last_ms) >= {"detect", "landmarks", "smooth", "total"} and tr.last_ms["landmarks"] > 0


def test_a_still_clip_is_detected_only_every_n_frames(nets, hopper):
    frames = clip(hopper, SIZE, 35, motion="still", noise=3)
    tr = _tracker(nets, detect_every=10)
    ran = []
    for f in frames:
        assert len(tr.update(f)) == 1
        ran.append(tr.detected)
    assert [i for i, r in enumerate(ran) if r] == [0, 10, 20, 30] and tr.detections == 4


def test_the_tracker_loses_the_face_when_it_leaves_and_finds_it_again(nets, hopper):
    bg = np.full((720, 1280, 3), (120, 140, 150), np.uint8)
    tr = _tracker(nets, detect_every=1000)  # only a loss or an empty frame triggers the detector
    seen = []
    for i in range(60):
        dx = int(round(1400 * np.sin(np.pi * i / 59)))  # slides right, out of the frame, and back
        faces = tr.update(place(hopper, bg, dx=dx))
        seen.append((dx, len(faces)))
    assert seen[0][1] == 1 and seen[-1][1] == 1
    assert all(n == 0 for dx, n in seen if dx > 1000)  # gone: nothing tracked (no ghost face)
    back = [i for i, (dx, n) in enumerate(seen) if i > 30 and n == 1]
    assert back and all(seen[i][1] == 1 for i in range(back[0], 60))  # once found again, it is kept
    assert tr.detections > 10  # it searched on every empty frame


def test_no_face_gives_an_empty_list(nets):
    tr = _tracker(nets)
    rng = np.random.default_rng(0)
    for frame in (np.zeros((720, 1280, 3), np.uint8), rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)):
        assert tr.update(frame) == []
        assert tr.detected


@pytest.mark.parametrize("dx", [-620, -560, 560, 620])
def test_a_face_cut_by_the_edge_does_not_crash(nets, hopper, dx):
    bg = np.full((720, 1280, 3), 100, np.uint8)
    tr = _tracker(nets)
    for _ in range(3):
        faces = tr.update(place(hopper, bg, dx=dx))
        for f in faces:
            assert np.isfinite(f.landmarks).all() and f.landmarks.shape == (468, 2)


def _two_faces(hopper) -> np.ndarray:
    """A 720p frame with two people side by side: the astronaut's head (face ~180 px) on the left and
    Grace Hopper's (face ~330 px) on the right."""
    import cv2

    frame = np.full((720, 1280, 3), (120, 140, 150), np.uint8)
    a = cv2.resize(astronaut()[0:260, 95:355], (500, 500), interpolation=cv2.INTER_LINEAR)
    g = cv2.resize(hopper[45:405, 85:445], (620, 620), interpolation=cv2.INTER_LINEAR)
    frame[110:610, 60:560] = a
    frame[50:670, 640:1260] = g
    return frame


def test_two_faces_are_tracked_largest_first_and_capped(nets, hopper):
    frame = _two_faces(hopper)
    tr = _tracker(nets)
    for _ in range(3):
        faces = tr.update(frame)
        assert len(faces) == 2
        assert faces[0].size > faces[1].size
        assert faces[0].landmarks[1, 0] > 640 > faces[1].landmarks[1, 0]  # Grace's face is the larger
        assert faces[0].track != faces[1].track
    one = _tracker(nets, max_faces=1).update(frame)
    assert len(one) == 1 and one[0].landmarks[1, 0] > 640


def test_the_tracker_refuses_a_frame_of_another_size(nets):
    with pytest.raises(ValueError, match="1280x720"):
        _tracker(nets).update(np.zeros((480, 640, 3), np.uint8))


def _jitter(points: np.ndarray) -> float:
    """Mean over the landmarks' coordinates of their std over the frames (pixels)."""
    return float(points.std(axis=0).mean())


@pytest.mark.parametrize("which", ["astronaut", "hopper"])
def test_one_euro_holds_a_still_face_steady(nets, hopper, which):
    img = astronaut() if which == "astronaut" else hopper
    frames = clip(img, SIZE, 60, motion="still", noise=3)
    tr = _tracker(nets)
    out = [tr.update(f)[0] for f in frames]
    settle = 15  # the crop settles onto the landmarks' own box in the first frames
    raw = _jitter(np.array([f.raw for f in out[settle:]]))
    smooth = _jitter(np.array([f.landmarks for f in out[settle:]]))
    assert smooth <= 0.5
    assert smooth < 0.7 * raw, (raw, smooth)


def test_one_euro_follows_a_moving_face(nets, hopper):
    frames = clip(hopper, SIZE, 45, motion="pan", noise=3)  # up to ~16 px a frame sideways
    tr = _tracker(nets)
    out = [tr.update(f)[0] for f in frames]
    lag = np.array([np.abs(f.landmarks - f.raw).mean() for f in out[5:]])
    assert lag.mean() < 1.5 and lag.max() < 3.0, lag


def test_one_euro_filter_itself():
    from livestyle.people.face import OneEuro

    rng = np.random.default_rng(1)
    f = OneEuro()
    still = [f(np.array([100.0]) + rng.normal(0, 1.0, 1), i / 30, 200.0)[0] for i in range(120)]
    assert np.std(still[30:]) < 0.5  # white noise of 1 px -> under half of it
    f.reset()
    ramp = [f(np.array([10.0 * i]), i / 30, 200.0)[0] for i in range(60)]  # 300 px/s
    assert abs(ramp[-1] - 590.0) < 5.0


def test_a_mirrored_face_gives_mirrored_landmarks(nets, hopper):
    """The crop and the mapping back to the frame have no offset: the midline points of the mirrored
    picture land at W - 1 - x of the original's (within ~1 px; the model itself is not exactly symmetric)."""
    midline = [1, 2, 4, 5, 6, 8, 9, 10, 13, 14, 17, 151, 152, 164, 168, 175, 195, 197, 199, 200]
    for img in (hopper, astronaut()):
        W = img.shape[1]
        a, b = _tracker(nets, size=img.shape[1::-1]), _tracker(nets, size=img.shape[1::-1])
        flipped = np.ascontiguousarray(img[:, ::-1])
        for _ in range(4):  # let each crop settle on its own landmarks
            la, lb = a.update(img)[0].raw, b.update(flipped)[0].raw
        err = la[midline, 0] + lb[midline, 0] - (W - 1)
        assert abs(float(err.mean())) < 1.2, err.mean()
        assert float(np.abs(la[midline, 1] - lb[midline, 1]).mean()) < 1.0


def test_a_still_face_holds_the_model_s_points(nets, hopper):
    still = clip(hopper, SIZE, 40, motion="still", noise=3)
    tr = _tracker(nets)
    prev = None
    held_frames = 0
    for f in still:
        runs = tr.model_runs
        face = tr.update(f)[0]
        if tr.model_runs == runs:  # held: the last points stand, smoothed ones too
            assert prev is not None and face.raw is prev.raw and face.landmarks is prev.landmarks
            held_frames += 1
        prev = face
    assert held_frames == tr.held and held_frames >= 20, held_frames  # at most 3 in a row: <= 30 of 40
    assert tr.model_runs + tr.held == 40
    # the model on every frame with hold=0
    every = _tracker(nets, hold=0)
    for f in still[:10]:
        every.update(f)
    assert every.model_runs == 10 and every.held == 0


def test_a_face_that_only_moves_carries_the_model_s_points_with_it(nets, hopper):
    """On a sway (the picture moved by whole pixels, camera noise of 3 levels) the model's points move
    with the face on up to 3 frames in a row and stay as close to the model's own points on every frame
    as the model's points of two neighbouring frames are to each other; leaning in and out (a zoom) is
    more than a move, and runs the model on most frames."""
    frames = clip(hopper, SIZE, 40, motion="pan", noise=3)  # up to ~11 px a frame sideways
    tr, every = _tracker(nets), _tracker(nets, hold=0)
    errs = []
    for f in frames:
        runs, prev = tr.model_runs, tr.moved
        face, ref = tr.update(f)[0], every.update(f)[0]
        assert tr.model_runs - runs + tr.moved - prev == 1  # each frame: the model, or its points moved
        errs.append(float(np.abs(face.raw - ref.raw).mean()))
    assert tr.moved >= 20 and tr.model_runs >= 40 // 4, (tr.moved, tr.model_runs)
    assert np.mean(errs[5:]) < 1.0 and np.max(errs[5:]) < 2.0, errs
    zoom = _tracker(nets)
    for f in clip(hopper, SIZE, 40, motion="zoom", noise=3):
        zoom.update(f)
    assert zoom.model_runs >= 30, (zoom.model_runs, zoom.moved)


@pytest.mark.parametrize("which,move", [("hopper", (2, 0)), ("astronaut", (3, -2))])
def test_a_held_face_that_moves_a_few_pixels_follows_at_once(nets, hopper, which, move):
    from tests.support.portraits import place

    img = hopper if which == "hopper" else astronaut()
    bg = np.full((720, 1280, 3), (120, 140, 150), np.uint8)
    rng = np.random.default_rng(0)

    def noisy(dx, dy=0):
        f = np.roll(place(img, bg, dx=dx), dy, axis=0).astype(np.float32) + rng.normal(0, 3, (720, 1280, 3))
        return np.clip(f, 0, 255).astype(np.uint8)

    tr = _tracker(nets)
    for i in range(12):  # still frames, up to one the model ran on
        runs = tr.model_runs
        last = tr.update(noisy(0))[0]
        if i >= 6 and tr.model_runs > runs:
            break
    assert tr.held > 0 and tr.model_runs > runs
    runs, moved = tr.model_runs, tr.moved
    face = tr.update(noisy(*move))[0]
    # the picture only moved: the model's last points moved with it, by the picture's move
    assert tr.model_runs == runs and tr.moved == moved + 1
    assert np.abs(face.raw - last.raw - np.float32(move)).max() < 0.2
    # and they are the model's points on the moved picture but for its own noise from frame to frame:
    # with the model on every frame, two frames of the still face differ about as much
    every = _tracker(nets, hold=0)
    for _ in range(8):
        ref0 = every.update(noisy(0))[0]
    ref = every.update(noisy(*move))[0]
    noise = float(np.abs(ref0.raw + np.float32(move) - ref.raw).mean())
    assert np.abs(face.raw - ref.raw).mean() < max(0.5, 1.5 * noise), noise
