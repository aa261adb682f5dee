"""livestyle.looks: the procedural looks used as ground truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livestyle import looks
from livestyle.errors import StyleError, UsageError
from livestyle.quality.dataset import procedural_sample
from livestyle.quality.metrics import psnr


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A procedural face-like figure in a room, 256x256 uint8 BGR."""
    for i in range(50):
        s = procedural_sample("test", i, 256, seed=5)
        if s.provenance["source"] == "procedural:figure":
            return s.image
    raise AssertionError("no figure among 50 procedural samples")


def test_names_lists_at_least_four_looks():
    names = looks.names()
    assert len(names) >= 4
    assert {"anime", "pastel", "teal_orange", "pencil", "vintage"} <= set(names)
    assert names == sorted(names)
    for n in names:
        assert looks.describe(n)


@pytest.mark.parametrize("name", looks.names())
def test_look_is_a_deterministic_pure_function(name, face):
    before = face.copy()
    out1 = looks.apply(name, face)
    out2 = looks.apply(name, face)
    assert out1.dtype == np.uint8 and out1.shape == face.shape
    assert np.array_equal(out1, out2), "looks must be deterministic"
    assert np.array_equal(face, before), "looks must not modify their input"
    # a look must visibly change the image (mean change of several levels)
    assert np.abs(out1.astype(int) - face.astype(int)).mean() > 4.0


@pytest.mark.parametrize("name", looks.names())
def test_look_means_the_same_at_720p(name):
    """Applying at 1280x720 then downscaling ~ downscaling then applying (parameters scale with size)."""
    big = cv2.resize(procedural_sample("trainA", 3, 720, seed=1).image, (1280, 720), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(big, (456, 256), interpolation=cv2.INTER_AREA)
    from_big = cv2.resize(looks.apply(name, big), (456, 256), interpolation=cv2.INTER_AREA)
    from_small = looks.apply(name, small)
    # the look's own change is much larger than the resolution mismatch
    change = psnr(from_small, small)
    agreement = psnr(from_big, from_small)
    assert agreement > 30.0, f"{name}: 720p and 256p results differ ({agreement:.1f} dB)"
    assert agreement > change + 5.0, f"{name}: resolution mismatch {agreement:.1f} dB vs look change {change:.1f} dB"


def test_odd_sizes_and_small_images_work():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), (0, 0), 2)
    for n in looks.names():
        assert looks.apply(n, img).shape == img.shape


def test_unknown_look_lists_the_names():
    with pytest.raises(StyleError) as e:
        looks.apply("vaporwave", np.zeros((32, 32, 3), np.uint8))
    for n in looks.names():
        assert n in str(e.value)


def test_bad_input_is_a_usage_error():
    with pytest.raises(UsageError):
        looks.apply("pastel", np.zeros((32, 32, 3), np.float32))
    with pytest.raises(UsageError):
        looks.apply("pastel", np.zeros((32, 32), np.uint8))


def test_neon_sends_greens_to_cyan_and_keeps_skin_warm():
    """neon's defining moves, on flat patches (B, G, R): greens gain blue and lose red, skin stays warm and turns rosy."""
    patches = {"green": (40, 170, 60), "skin": (120, 150, 210), "grey": (128, 128, 128)}
    img = np.concatenate([np.full((32, 32, 3), c, np.uint8) for c in patches.values()], axis=1)
    out = looks.apply("neon", img).astype(int)
    green, skin, grey = (out[16, 32 * i + 16] for i in range(3))
    assert green[0] > 40 + 50 and green[2] < 60 - 30          # blue up, red down: towards cyan
    assert skin[2] > skin[1] > skin[0] - 10 and skin[2] - skin[1] > 60 - 20   # red still leads: no hue flip
    assert grey[1] < grey[0] and grey[1] < grey[2]            # the magenta cast: green held back on grey
