"""The one write path: atomic, checked, never onto an input, with ordinary permissions."""

from __future__ import annotations

import os

import pytest

from livestyle.errors import UsageError
from livestyle.fsutil import atomic_dir, atomic_path, atomic_write, check_output_path, same_file, write_json_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_refused_check_keeps_the_final_name_free(tmp_path):
    target = tmp_path / "video.mp4"

    def check(p):
        raise ValueError("unplayable")
    with pytest.raises(ValueError):
        with atomic_path(target, check=check, keep_suffix=True) as tmp:
            assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
            tmp.write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []


def test_permissions_follow_the_umask_unless_private(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        with atomic_write(tmp_path / "b.bin", "wb", private=True) as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o600


def test_same_file_through_links(tmp_path):
    a = tmp_path / "a"
    a.write_text("x")
    (tmp_path / "s").symlink_to(a)
    os.link(a, tmp_path / "h")
    assert same_file(a, tmp_path / "s") and same_file(a, tmp_path / "h")
    assert not same_file(a, tmp_path / "missing")
    with pytest.raises(UsageError):
        check_output_path(tmp_path / "h", flag="--output", inputs=[("--input", a)])
    with pytest.raises(UsageError):  # not yet existing, but the same name as another output
        check_output_path(tmp_path / "new.json", flag="--report", inputs=[("--output", tmp_path / "x" / ".." / "new.json")])
    assert check_output_path(tmp_path / "ok.json", flag="--report", inputs=[("--input", a)]) == tmp_path / "ok.json"


def test_atomic_dir_replaces_whole(tmp_path):
    final = tmp_path / "pack"
    with atomic_dir(final) as d:
        (d / "one").write_text("1")
    with pytest.raises(FileExistsError):
        with atomic_dir(final):
            pass
    with atomic_dir(final, replace=True) as d:
        (d / "two").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_write_image_is_atomic_and_a_failure_names_the_file(tmp_path):
    import cv2
    import numpy as np

    from livestyle.errors import DataError
    from livestyle.fsutil import write_image

    img = np.zeros((8, 12, 3), np.uint8)
    img[:, :6] = (10, 200, 30)
    out = write_image(tmp_path / "sub" / "a.png", img)              # the folder is made
    assert out == tmp_path / "sub" / "a.png" and np.array_equal(cv2.imread(str(out)), img)
    write_image(tmp_path / "sub" / "b.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert cv2.imread(str(tmp_path / "sub" / "b.jpg")).shape == img.shape
    # OpenCV refuses (no encoder for the suffix): one DataError naming the file, the old file kept, no temporary
    (tmp_path / "sub" / "c.nope").write_bytes(b"old")
    with pytest.raises(DataError) as e:
        write_image(tmp_path / "sub" / "c.nope", img, fix="Pick another name.")
    assert "c.nope" in str(e.value)
    assert (tmp_path / "sub" / "c.nope").read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.png", "b.jpg", "c.nope"]
