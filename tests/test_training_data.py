"""Training data: scan, decode (EXIF, grayscale, RGBA, 16-bit), skip bad files, crops; and `livestyle capture`."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle.errors import DataError
from livestyle.training.data import load_images, read_image, scan_images


def _exif_orientation_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``image`` with a hand-made APP1 EXIF segment holding one Orientation tag."""
    ok, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    jpg = jpg.tobytes()
    # TIFF header (little endian), IFD0 at offset 8 with one entry: 0x0112 SHORT count 1 value
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpg[:2] == b"\xff\xd8"
    return jpg[:2] + app1 + jpg[2:]


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((64, 128, 3), np.uint8)  # wide: left half red, right half blue (BGR)
    img[:, :64] = (0, 0, 255)
    img[:, 64:] = (255, 0, 0)
    p = tmp_path / "rotated.JPG"
    p.write_bytes(_exif_orientation_jpeg(img, 6))
    out = read_image(p)
    # orientation 6 = rotate 90 degrees clockwise to display: the left (red) half goes on top
    assert out.shape == (128, 64, 3)
    assert out[10, 32, 2] > 200 and out[10, 32, 0] < 60
    assert out[118, 32, 0] > 200 and out[118, 32, 2] < 60
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(_exif_orientation_jpeg(img, 1))
    assert read_image(plain).shape == (64, 128, 3)


def test_grayscale_rgba_16bit_webp_bmp_are_converted(tmp_path):
    grey = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (100, 1))[:, :100]
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 128
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    deep = np.full((100, 100, 3), 40000, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    colour = np.zeros((100, 100, 3), np.uint8)
    colour[..., 0] = 250
    cv2.imwrite(str(tmp_path / "pic.webp"), colour)
    cv2.imwrite(str(tmp_path / "pic.BMP"), colour)
    for name in ("grey.png", "rgba.png", "deep.png", "pic.webp", "pic.BMP"):
        out = read_image(tmp_path / name)
        assert out is not None and out.dtype == np.uint8 and out.shape == (100, 100, 3), name
    assert read_image(tmp_path / "grey.png")[0, 10].tolist() == [20, 20, 20]
    assert read_image(tmp_path / "rgba.png")[5, 5].tolist() == [0, 200, 0]
    assert abs(int(read_image(tmp_path / "deep.png")[5, 5, 0]) - 40000 // 256) <= 1
    assert read_image(tmp_path / "pic.webp")[5, 5, 0] > 240


def _write_good(folder: Path, n: int, size=(96, 80)) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / ("nested" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sub / f"img{i}.png"), rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_scan_is_recursive_and_skips_bad_files_in_one_warning(tmp_path, caplog):
    _write_good(tmp_path, 5)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((20, 200, 3), np.uint8))
    assert len(scan_images(tmp_path)) == 7
    with caplog.at_level("WARNING"):
        images = load_images(tmp_path, 32, role="style images")
    assert len(images) == 5 and images.skipped == 2 and images.files == 7
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "skipped 2 of 7" in warnings[0].getMessage() and "1 unreadable" in warnings[0].getMessage()


def test_too_few_images_names_folder_and_count(tmp_path):
    _write_good(tmp_path, 2)
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError) as e:
        load_images(tmp_path, 32, role="content images")
    msg = str(e.value)
    assert str(tmp_path) in msg and "Found 2 usable content images" in msg and "1 of 3 files skipped" in msg
    with pytest.raises(DataError, match="does not exist"):
        load_images(tmp_path / "missing", 32)


def test_samples_are_deterministic_per_rng_and_in_range(tmp_path):
    _write_good(tmp_path, 4, size=(400, 300))
    images = load_images(tmp_path, 48)
    assert min(images.images[0].shape[:2]) == 60  # kept downscaled to 1.25x the crop
    a = images.sample(np.random.default_rng([1, 2, 3]), 3)
    b = images.sample(np.random.default_rng([1, 2, 3]), 3)
    c = images.sample(np.random.default_rng([1, 2, 4]), 3)
    assert a.shape == (3, 3, 48, 48) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= -1.0 and a.max() <= 1.0


def _video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()


def test_capture_spreads_frames_and_skips_near_duplicates(tmp_path):
    frames = [np.full((90, 160, 3), 12 * i, np.uint8) for i in range(20)]  # every frame clearly different
    frames += [np.full((90, 160, 3), 250, np.uint8)] * 20  # then the person sits still for 2 s
    video = tmp_path / "cam.avi"
    _video(video, frames, fps=10)
    out = tmp_path / "me"
    env = dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "livestyle", "capture", "--camera", str(video), "--frames", "50",
                        "--out", str(out), "--interval", "0.2", "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    saved = sorted(out.glob("frame-*.jpg"))
    # kept: frames 0,2,..,18 (0.2 s apart, all different) and 20; frames 22..39 (0.2 s or more after the
    # last kept one) are each checked and dropped as near-duplicates of frame 20
    assert len(saved) == 11
    assert "kept 11 of 40 frames (18 near-duplicates skipped)" in r.stderr
    assert cv2.imread(str(saved[0])).shape == (90, 160, 3)


def test_capture_unknown_camera_is_one_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "livestyle", "capture", "--camera", str(tmp_path / "nope.mp4"),
                        "--frames", "3", "--out", str(tmp_path / "o"), "--no-progress"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livestyle: error:")]
    assert len(errors) == 1 and "nope.mp4" in errors[0]
    assert "Traceback" not in r.stderr
