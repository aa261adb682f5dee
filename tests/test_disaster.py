"""Never a disaster: a colour look the checks call unreliable is not installed unless --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from livestyle.training import transfer

TRANSFER_ROW = {"name": "transfer", "kept": 0.4, "heldout_distance": 18.0, "grey_cast_levels": 27.7,
                "skin_move_levels": 124.5, "skin_hue_turn_deg": 27.1}
CALM_NEUTRALS = {"grey_level": 64, "cast_levels": 6.0, "style_neutral_levels": 4.0, "excess_levels": 2.0}


def _checked(**over):
    base = {"kept": "learned", "kept_share": 1.0, "folders_differ": False, "neutral_cast": CALM_NEUTRALS,
            "training_photos": [180, 180], "candidates": [TRANSFER_ROW]}
    return {**base, **over}


def test_the_verdict_names_each_reason_and_needs_enough_photos_to_judge_the_folders():
    assert transfer.unreliable(_checked(), 1.2) == []
    (why,) = transfer.unreliable(_checked(folders_differ=True), 1.2)
    assert "differ from the content photos by more than a colour look" in why
    assert "124 levels, turn them 27 deg" in why
    assert "where a look stays within 55 levels, 45 deg and 25 levels" in why
    # from a handful of photos the pooled transfer is noise: the check warns (check_lines) but does not refuse
    assert transfer.unreliable(_checked(folders_differ=True, training_photos=[8, 8]), 1.2) == []
    cast = {"grey_level": 128, "cast_levels": 45.0, "style_neutral_levels": 5.0, "excess_levels": 40.0}
    (why,) = transfer.unreliable(_checked(neutral_cast=cast), 1.2)
    assert "grey 128 a 45-level colour cast" in why and "own greys show 5" in why
    (why,) = transfer.unreliable(_checked(), 3.28)
    assert "flickers 3.3x" in why
    assert transfer.unreliable(_checked(), 1.37) == []           # a learned teal_orange's flicker is no reason
    assert transfer.unreliable(_checked(), 2.31) == []           # nor a learned neon's (the true neon: 2.21)
    assert len(transfer.unreliable(_checked(folders_differ=True, neutral_cast=cast), 3.0)) == 3
    assert transfer.unreliable(None, 1.0) == []                  # --no-check: only flicker is judged


def test_neutral_cast_compares_the_looks_greys_with_the_style_photos_own():
    rng = np.random.default_rng(0)
    greys = rng.uniform(0.05, 0.95, (6000, 1)).repeat(3, 1) + rng.normal(0, 0.004, (6000, 3))
    colours = rng.uniform(0, 1, (6000, 3))
    style = np.clip(np.concatenate([greys, colours]), 0, 1)          # style photos that hold true greys
    ident = transfer.identity_lattice(17)
    assert transfer.neutral_cast(ident, style)["excess_levels"] < 3
    nodes = transfer.node_colours(17)
    blue = transfer.nodes_to_lattice(nodes + np.array([0.2, 0.0, -0.2]), 17)  # every grey turns blue
    n = transfer.neutral_cast(blue, style)
    assert n["cast_levels"] > 40 and n["excess_levels"] > 30, n
    # style photos that themselves hold no greys in any band allow any cast
    assert transfer.neutral_cast(blue, colours[:100])["excess_levels"] is None


def test_check_look_on_folders_of_very_different_photos_says_they_differ(tmp_path):
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig
    from livestyle.quality.dataset import DifferentConfig, make_different_dataset
    from livestyle.training.colour import check_look
    from livestyle.training.data import load_images

    data = make_different_dataset(tmp_path / "d", DifferentConfig(look="amber_cyan", size=64, n_content=20,
                                                                  n_style=20, n_test=1))
    content = load_images(str(data / "trainA"), 64, role="content images").images
    style = load_images(str(data / "trainB"), 64, role="style images").images
    torch.manual_seed(0)
    checked = check_look(AdaptiveLUT(LutConfig()).eval(), content[:18], style[:18], content[18:], style[18:])
    assert checked["folders_differ"] and checked["training_photos"] == [18, 18]
    assert transfer.unreliable(checked, 1.0)[0].startswith("the style photos differ")


def test_from_few_photos_the_check_warns_but_keeps_the_learned_look(tmp_path):
    """Under Reliability.min_photos a folder the pooled transfer is too noisy to call the folders different:
    the check warns and keeps the learned look where it moves toward the style photos, instead of swapping it
    for the like-with-like colour transfer (which cost pastel from 11 photos 9.7 dB: looks_table.py)."""
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig
    from livestyle.quality.dataset import DifferentConfig, make_different_dataset
    from livestyle.training.colour import check_lines, check_look, set_lattice
    from livestyle.training.data import load_images

    data = make_different_dataset(tmp_path / "d", DifferentConfig(look="amber_cyan", size=64, n_content=20,
                                                                  n_style=20, n_test=1))
    content = load_images(str(data / "trainA"), 64, role="content images").images
    style = load_images(str(data / "trainB"), 64, role="style images").images
    def learned() -> AdaptiveLUT:  # a look that moves toward the style photos: here, the tints of like colours
        torch.manual_seed(0)
        G = AdaptiveLUT(LutConfig()).eval()
        set_lattice(G, transfer.banded_lattice(transfer.pixels(content[:10], 512, 0),
                                               transfer.pixels(style[:10], 512, 1), grid=G.cfg.grid, tone=False))
        return G

    many = check_look(learned(), content[:18], style[:18], content[18:], style[18:])
    assert many["folders_differ"] and many["kept"] == "colour"
    # held out: the same photos, where this look is closer to the style than doing nothing is
    few = check_look(learned(), content[:10], style[:10], content[:10], style[:10])
    assert few["folders_differ"] and few["kept"] == "learned", few["kept"]
    (line,) = [ln for ln in check_lines(few) if ln.startswith("warning:")]
    assert "from 10 photos a folder" in line
    assert transfer.unreliable(few, 1.0) == []  # nothing refused either: too few photos to judge


def _train(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    from livestyle.quality.dataset import DifferentConfig, make_different_dataset

    data = tmp_path / "d"
    if not (data / "provenance.json").exists():
        make_different_dataset(data, DifferentConfig(look="amber_cyan", size=64, n_content=20, n_style=20, n_test=1))
    env = dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "livestyle", "train", "--style-images", str(data / "trainB"), "--content-images",
           str(data / "trainA"), "--name", "feed", "--steps", "2", "--size", "32", "--batch", "2", "--no-progress",
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_train_refuses_to_install_a_look_from_very_different_folders(tmp_path):
    earlier = tmp_path / "home" / "styles" / "feed"
    earlier.mkdir(parents=True)
    (earlier / "style.json").write_text('{"name": "feed", "earlier": true}')    # a look installed before
    r = _train(tmp_path)
    assert r.returncode == 3, r.stderr
    said = [ln for ln in r.stderr.splitlines() if "could not be learned" in ln]
    assert len(said) == 1 and said[0].startswith("livestyle: the look could not be learned from these folders: "), \
        r.stderr
    assert "Nothing was installed" in said[0] and "Traceback" not in r.stderr
    assert said[0].endswith("install it anyway with: livestyle train --name feed --resume --force"), said[0]
    assert "installed at" not in r.stdout
    assert json.loads((earlier / "style.json").read_text()) == {"name": "feed", "earlier": True}   # left alone
    kept = tmp_path / "runs" / "feed" / "pack" / "feed"
    meta = json.loads((kept / "style.json").read_text())
    check = meta["looks"][0]["metrics"]["check"]
    assert check["installed_by_force"] is False and check["unreliable"]
    assert f"livestyle run --style {Path('runs') / 'feed' / 'pack' / 'feed'};" in said[0]


def test_force_installs_it_and_says_it_is_unreliable(tmp_path):
    r = _train(tmp_path, "--force")
    assert r.returncode == 0, r.stderr
    assert any(ln.startswith("warning: installed although unreliable (--force): ") for ln in r.stdout.splitlines())
    pack = tmp_path / "home" / "styles" / "feed"
    assert "installed at " + str(pack) in r.stdout
    meta = json.loads((pack / "style.json").read_text())
    assert meta["looks"][0]["metrics"]["check"]["installed_by_force"] is True
    assert sorted(p.name for p in pack.iterdir()) == ["engine.onnx", "engine.safetensors", "style.json"]
    assert not (tmp_path / "runs" / "feed" / "pack" / "feed").exists()


def test_force_on_the_texture_path_is_refused_in_one_line(tmp_path):
    env = dict(os.environ, LIVESTYLE_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "livestyle", "train", "--kind", "texture", "--force", "--name", "x",
                        "--style-images", str(tmp_path), "--content-images", str(tmp_path)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().startswith("livestyle: error: --force"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
