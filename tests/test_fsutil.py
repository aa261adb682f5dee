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
