"""The steady mask follows motion: a region the model flips is smoothed while the whole picture pans, a
fast-moving person is followed without a ghost, and a held mask is carried along the motion.  Synthetic
textured pictures at the mask's own size (256x144), real OpenCV optical flow."""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.ops import matte

W, H = 256, 144


def _texture(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 3.0)
    t = cv2.normalize(t, None, 20, 235, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.merge([t, t, t])


def _flip_amplitude(masks: list[np.ndarray], region: list[tuple[slice, slice]]) -> float:
    """Mean |change| from frame to frame inside a region that moves with the picture (one window per frame)."""
    vals = [masks[i][region[i]] for i in range(len(masks))]
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(vals[:-1], vals[1:])]))


def test_a_region_flipping_while_the_picture_pans_is_smoothed():
    canvas = _texture(W + 200, H, seed=1)
    steady = matte.SteadyMask()
    raws, outs, region = [], [], []
    for i in range(30):
        x = 2 * i  # the whole picture pans by 2 px a frame
        frame = np.ascontiguousarray(canvas[:, 200 - x:200 - x + W])
        raw = np.zeros((H, W), np.float32)
        raw[40:, 100 + x:150 + x] = 1.0  # the person, moving with the picture
        flip = (slice(50, 90), slice(160 + x, 190 + x))  # a part of the wall beside them, moving too
        raw[flip] = float(i % 2)  # ... which the model takes for the person on every other frame
        raws.append(raw)
        outs.append(steady.update(raw, frame).copy())
        region.append((slice(55, 85), slice(165 + x, 185 + x)))  # inside the flipping part, away from its edge
    a_raw = _flip_amplitude(raws[5:], region[5:])
    a_steady = _flip_amplitude(outs[5:], region[5:])
    assert a_raw == 1.0
    assert a_steady < 0.3 * a_raw, a_steady  # motion-gated smoothing without compensation gives 1.0 here
    # the person, which the model sees on every frame, stays a person
    assert outs[-1][60:, 110 + 58:140 + 58].min() > 0.95


def test_a_fast_moving_person_is_followed_without_a_ghost():
    back = _texture(W, H, seed=2)
    person = _texture(60, 100, seed=3)
    steady = matte.SteadyMask()
    for i in range(16):
        x = 20 + 8 * i  # 8 px a frame at the mask's size: 40 px a frame at 1280x720
        frame = back.copy()
        frame[44:, x:x + 60] = person
        raw = np.zeros((H, W), np.float32)
        raw[44:, x:x + 60] = 1.0
        out = steady.update(raw, frame)
        if i >= 2:
            inside = out > 0.5
            cx = np.nonzero(inside)[1].mean()
            assert abs(cx - (x + 29.5)) < 2.0, (i, cx, x + 29.5)  # a running average: 14 px behind
            iou = (inside & (raw > 0.5)).sum() / (inside | (raw > 0.5)).sum()
            assert iou > 0.95, (i, iou)
            # no trail: where the person was in the last two frames and is not now, the mask is background
            # (a running average that does not follow the motion leaves 0.66 there)
            assert out[60:, x - 16:x].mean() < 0.2, i


def test_a_still_picture_with_noise_smooths_a_flip_and_a_change_in_the_picture_wins_at_once():
    rng = np.random.default_rng(4)
    base = _texture(W, H, seed=5)
    steady = matte.SteadyMask(still_rate=0.25)
    out = None
    for i in range(20):
        noisy = np.clip(base + rng.normal(0, 1.0, base.shape), 0, 255).astype(np.uint8)
        raw = np.zeros((H, W), np.float32)
        raw[:, 100:] = float(i % 2)
        out = steady.update(raw, noisy)
    assert 0.3 < out[:, 120:].mean() < 0.7  # a flip on a still picture is averaged, not followed
    changed = base.copy()
    changed[:, 150:] = 255  # something bright appears on the right: at least 20 levels brighter
    raw = np.ones((H, W), np.float32)
    out = steady.update(raw, changed)
    assert out[:, 170:].min() > 0.99  # taken at once there


def test_a_held_mask_is_carried_along_the_motion():
    canvas = _texture(W + 100, H, seed=6)
    steady = matte.SteadyMask()
    raw = np.zeros((H, W), np.float32)
    raw[40:, 100:150] = 1.0
    steady.update(raw, np.ascontiguousarray(canvas[:, 100:100 + W]))
    held = steady.hold(np.ascontiguousarray(canvas[:, 94:94 + W]))  # the picture moved 6 px to the right
    cx = np.nonzero(held > 0.5)[1].mean()
    assert abs(cx - (124.5 + 6)) < 1.0, cx
