"""Pure functions on the hot path: the newest-frame slot, downscaling, upsampling + strength blend."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from livestyle.ops.upsample import METHODS, SPLIT_MIN_VALUES, add_saturated, blend, detail_transfer, downscale, upsample
from livestyle.runconfig import align_infer_size, default_infer_size, parse_size
from livestyle.errors import UsageError
from livestyle.slot import Closed, NewestSlot


def scene(h=360, w=640, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (0, 0), 1)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.putText(img, "livestyle", (20, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 3)
    return img


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def test_live_slot_keeps_newest_and_counts_drops():
    slot = NewestSlot(block=False)
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.01) is None
    slot.close()
    with pytest.raises(Closed):
        slot.get(timeout=0.01)


def test_offline_slot_blocks_instead_of_dropping():
    slot = NewestSlot(block=True)
    got = []

    def consumer():
        while True:
            try:
                item = slot.get(timeout=1)
            except Closed:
                return
            if item is not None:
                got.append(item)
                time.sleep(0.002)

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(50):
        slot.put(i)
    slot.close()
    t.join(5)
    assert got == list(range(50)) and slot.dropped == 0


def test_detail_transfer_keeps_full_resolution_detail():
    """A global colour change made at low resolution comes back with the full frame's detail intact."""
    full = scene()
    small = downscale(full, (160, 90))
    grade = lambda im: cv2.add(cv2.multiply(im, (1.1, 1.0, 0.8, 0)), (10, 0, 0, 0))  # noqa: E731
    truth = grade(full)
    out_detail = detail_transfer(full, small, grade(small))
    out_bilinear = upsample("bilinear", full, small, grade(small))
    assert psnr(out_detail, truth) > psnr(out_bilinear, truth) + 8
    assert psnr(out_detail, truth) > 35


@pytest.mark.parametrize("h, w", [(1080, 1920), (721, 1280), (360, 640)])
def test_the_full_frame_add_in_two_bands_equals_one_add(h, w):
    """Frames of 720p and more are added in two row bands on two threads: the same bytes as one OpenCV add,
    saturating both ways, for an odd number of rows too; smaller frames take one call."""
    rng = np.random.default_rng(h)
    full = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    up = rng.integers(-300, 300, (h, w, 3)).astype(np.int16)
    out = add_saturated(full, up)
    assert out.dtype == np.uint8 and out.shape == full.shape
    assert np.array_equal(out, cv2.add(full, up, dtype=cv2.CV_8U))
    assert (full.size >= SPLIT_MIN_VALUES) == (h >= 720)
    if h >= 720:  # the top band went to the worker thread
        assert any(t.name.startswith("livestyle-add") for t in threading.enumerate())
    assert out.min() == 0 and out.max() == 255  # saturated at both ends


@pytest.mark.parametrize("method", METHODS)
def test_strength_blend_endpoints(method):
    full = scene()
    small = downscale(full, (160, 90))
    styled = cv2.bitwise_not(small)
    zero = upsample(method, full, small, styled, 0.0)
    assert np.abs(zero.astype(int) - full).max() <= 1
    half = upsample(method, full, small, styled, 0.5).astype(float)
    one = upsample(method, full, small, styled, 1.0).astype(float)
    # halfway in between, in the mean
    assert abs(half.mean() - (full.mean() + one.mean()) / 2) < 2.0
    assert one.shape == full.shape


def test_blend_is_linear():
    a = np.full((4, 4, 3), 100, np.uint8)
    b = np.full((4, 4, 3), 200, np.uint8)
    assert blend(a, b, 0.25)[0, 0, 0] == 125


def test_sizes():
    assert parse_size("1280x720") == (1280, 720)
    for bad in ("1280", "1280x", "x720", "axb", "0x0", "1280*720"):
        with pytest.raises(UsageError):
            parse_size(bad)
    assert default_infer_size((1280, 720)) == (512, 288)
    assert default_infer_size((1920, 1080)) == (512, 288)
    assert default_infer_size((320, 240)) == (320, 240)
    assert align_infer_size((161, 90)) == (160, 88)


def _photo(w, h):
    from skimage import data

    return np.ascontiguousarray(cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (w, h),
                                           interpolation=cv2.INTER_CUBIC))


@pytest.mark.parametrize("src,dst", [((1920, 1080), (512, 288)), ((1280, 720), (512, 288)),
                                     ((1920, 1080), (192, 112))])
def test_downscale_by_an_odd_ratio_matches_the_area_average(src, dst):
    """Ratios of 2 or more that are not whole go bilinear to twice the size, then 2x2 average: the result
    must stay within 40 dB PSNR of OpenCV's one-step area average (and differ from it: the fast path ran)."""
    full = _photo(*src)
    ref = cv2.resize(full, dst, interpolation=cv2.INTER_AREA).astype(np.float64)
    got = downscale(full, dst)
    assert got.shape == (dst[1], dst[0], 3) and got.dtype == np.uint8
    mse = np.mean((got - ref) ** 2)
    assert 0 < mse and 10 * np.log10(255 ** 2 / mse) > 40


def test_downscale_whole_ratios_and_enlarging_use_one_resize():
    full = _photo(1280, 720)
    assert np.array_equal(downscale(full, (640, 360)), cv2.resize(full, (640, 360), interpolation=cv2.INTER_AREA))
    assert np.array_equal(downscale(full, (1000, 600)), cv2.resize(full, (1000, 600), interpolation=cv2.INTER_AREA))
    small = full[:100, :100]
    assert np.array_equal(downscale(small, (160, 120)), cv2.resize(small, (160, 120), interpolation=cv2.INTER_LINEAR))
    same = downscale(full, (1280, 720))
    assert np.array_equal(same, full) and same is not full
