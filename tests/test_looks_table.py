"""benchmarks/quality/looks_table.py: the matched dataset, the scoring of a cell and the table, on tiny datasets."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "quality"
sys.path.insert(0, str(BENCH))

import looks_table as lt  # noqa: E402

from livestyle import looks  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "livestyle" / "styles" / "packs" / "looks"  # first look: pastel


def _key(entry: dict) -> str:
    return json.dumps({k: entry.get(k) for k in ("source", "seed", "crop_xywh", "hflip")}, sort_keys=True)


def _png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("lt")
    return {kind: lt.build(root, "pastel", kind, lt.dataset_config("pastel", kind, size=32, n=14, n_test=3,
                                                                     n_clips=1, clip_frames=4))
            for kind in ("disjoint", "matched", "few12")}


def test_matched_folders_are_two_halves_of_the_disjoint_sets_sources(datasets):
    d, m = datasets["disjoint"], datasets["matched"]
    pd = json.loads((d / "provenance.json").read_text())["splits"]
    pm = json.loads((m / "provenance.json").read_text())["splits"]
    assert Counter(map(_key, pd["trainA"] + pd["trainB"])) == Counter(map(_key, pm["trainA"] + pm["trainB"]))
    content_keys = {_key(e) for e in pd["trainA"]}
    for split in ("trainA", "trainB"):  # each half mixes both source sets: one pool
        kinds = {_key(e) in content_keys for e in pm[split]}
        assert kinds == {True, False}, split
    # a style image of the matched set is the look of its (unstyled) source, which the disjoint set holds
    for i, e in enumerate(pm["trainB"]):
        if e["pool_index"] < 14:
            src = _png(d / "trainA" / f"{e['pool_index']:04d}.png")
            np.testing.assert_array_equal(_png(m / "trainB" / f"{i:04d}.png"), looks.get("pastel")(src))
            break
    else:
        pytest.fail("no style image of the matched set came from the content sources")
    for f in sorted((d / "test" / "target").glob("*.png")):  # same held-out pairs
        np.testing.assert_array_equal(_png(f), _png(m / "test" / "target" / f.name))


def test_the_few_photo_set_keeps_only_the_first_12_style_photos(datasets):
    d, f = datasets["disjoint"], datasets["few12"]
    style = sorted((f / "trainB").glob("*.png"))
    assert len(style) == 12 and len(list((f / "trainA").glob("*.png"))) == 14
    for p in style:
        np.testing.assert_array_equal(_png(p), _png(d / "trainB" / p.name))


def test_score_gives_the_runners_gain_and_flicker_and_nothing_for_a_refused_install(datasets):
    folder = datasets["disjoint"]
    got = lt.score(folder, "pastel", BUNDLED, BUNDLED)
    g, r = got["gain_db"], got["warping_ratio"]
    assert g["identity"] == 0.0 and r["identity"] == 1.0
    assert g["installed"] == g["trained"] > 3.0  # the bundled pastel on its own look
    assert r["installed"] == r["trained"] and 0.0 < r["installed"] < 3.0
    assert r["transfer"] != r["installed"] and 0.0 < r["true_look"] < 3.0
    refused = lt.score(folder, "pastel", None, None)
    assert refused["gain_db"]["installed"] == 0.0 and refused["gain_db"]["trained"] is None
    assert refused["warping_ratio"]["installed"] == 1.0 and refused["gain_db"]["transfer"] == g["transfer"]


def _cell(look, kind, installed, transfer, wall):
    return {"look": look, "kind": kind, "installed_dir": None, "run_dir": "/nonexistent",
            "style_photos": 12 if kind == "few12" else 200, "exit_code": 0,
            "wall_s": wall, "cpu_s": 2 * wall, "load_before": 4.0, "load_after": 5.0,
            "gain_db": {"identity": 0.0, "transfer": transfer, "installed": installed, "trained": installed},
            "warping_ratio": {"true_look": 0.9, "transfer": 1.0, "installed": 1.1, "trained": 1.1, "identity": 1.0}}


def test_table_and_verdicts_and_a_rerun_skips_done_cells(tmp_path, capsys):
    cells = [_cell("pastel", "disjoint", 7.0, 6.5, 100), _cell("pastel", "matched", 9.0, 9.5, 110),
             _cell("pastel", "few12", 3.5, 5.0, 130)]
    v = lt.verdicts(cells)
    assert "disjoint >= +6 dB: met (+7.00)" in v and "disjoint >= transfer: met (+0.50)" in v
    assert "matched >= transfer: MISSED (-0.50)" in v and "12 photos >= +4 dB: MISSED (+3.50)" in v
    assert "train wall <= 120 s: MISSED (max 130 s at load 4.0-5.0; child CPU max 260 s)" in v
    table = lt.table(cells).splitlines()
    assert len(table) == 5 and table[1].count("---") == table[0].count("|") - 1
    assert lt.check_view(cells[0]) is None  # no pack on disk and no candidates recorded: not shown
    cells[0]["check"] = {"kept": "learned", "unreliable": ["it flickers"],
                         "candidates": [{"name": "identity", "heldout_distance": 20.0},
                                        {"name": "transfer", "heldout_distance": 5.0},
                                        {"name": "learned", "heldout_distance": 6.0}]}
    cells[0]["heldout"], cells[0]["learned_raw_db"] = {"warping_error_ratio": 2.1}, 7.1
    assert lt.check_table(cells).splitlines()[2] == \
        "| pastel | disjoint | 20.0 / 5.0 / 6.0 | learned | 2.10 | it flickers | +6.50 / +7.10 / +7.00 |"
    for c in cells:
        lt.write_json(tmp_path / "cells" / f"{c['look']}-{c['kind']}.json", c)
    assert lt.main(["--root", str(tmp_path), "--looks", "pastel", "vintage", "--table-only"]) == 0
    out = capsys.readouterr().out
    assert "| pastel | matched | 200 | +0.00 | +9.50 | **+9.00** |" in out and "vintage" not in out
    assert not (tmp_path / "data").exists() and not (tmp_path / "work").exists()


def test_a_cell_held_by_a_live_run_is_skipped_and_a_dead_runs_lock_taken_over(tmp_path):
    import subprocess

    lock = tmp_path / "cells" / "pastel-matched.lock"
    assert lt.take(lock) and lock.read_text() == str(os.getpid())
    assert not lt.take(lock)  # held by a live process (this one)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    lock.write_text(str(p.pid))  # a run that has ended
    assert lt.take(lock) and lock.read_text() == str(os.getpid())
