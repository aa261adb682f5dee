"""The training-free colour transfer (livestyle/training/transfer.py) and the colour learner starting from it."""

from __future__ import annotations

import numpy as np
import pytest

from livestyle.training import transfer


def _scene_pixels(rng, n, *, skin_share):
    """(n, 3) BGR 0..1: skin-like and foliage-like pixels at many brightnesses, plus a few greys."""
    k_skin = int(n * skin_share)
    k_grey = n // 10
    k_leaf = n - k_skin - k_grey
    skin = np.array([0.55, 0.65, 0.85]) * rng.uniform(0.3, 1.0, (k_skin, 1)) + rng.normal(0, 0.03, (k_skin, 3))
    leaf = np.array([0.25, 0.6, 0.3]) * rng.uniform(0.3, 1.0, (k_leaf, 1)) + rng.normal(0, 0.03, (k_leaf, 3))
    grey = rng.uniform(0.1, 0.9, (k_grey, 1)).repeat(3, 1) + rng.normal(0, 0.01, (k_grey, 3))
    return np.clip(np.concatenate([skin, leaf, grey]), 0, 1)


def _cool_shadows(bgr):
    """A known look: shadows pushed to blue (up to +0.08 in B, -0.04 in R at black), a little contrast."""
    y = bgr @ np.array([0.114, 0.587, 0.299])
    out = 0.5 + 1.1 * (bgr - 0.5)
    out = out + ((1 - y) ** 2)[:, None] * np.array([0.08, 0.0, -0.04])
    return np.clip(out, 0, 1)


def test_idt_recovers_a_look_when_both_folders_come_from_one_pool():
    rng = np.random.default_rng(0)
    content = _scene_pixels(rng, 40000, skin_share=0.5)
    style = _cool_shadows(_scene_pixels(rng, 40000, skin_share=0.5))
    lat = transfer.idt_lattice(content, style, grid=17, seed=0)
    test = _scene_pixels(rng, 5000, skin_share=0.5)
    err = np.abs(transfer.apply_lattice(lat, test) - _cool_shadows(test)).mean() * 255
    before = np.abs(test - _cool_shadows(test)).mean() * 255
    assert err < 0.35 * before, (err, before)


def test_like_with_like_is_not_bent_by_a_greener_style_folder():
    """No look at all, but the style folder holds far more foliage: the pooled transfer turns skin and greys
    green; matching colours only within their own band and hue family leaves them (nearly) alone."""
    rng = np.random.default_rng(1)
    content = _scene_pixels(rng, 40000, skin_share=0.7)
    style = _scene_pixels(rng, 40000, skin_share=0.15)
    idt = transfer.safety(transfer.idt_lattice(content, style, seed=0))
    banded = transfer.safety(transfer.banded_lattice(content, style, tone=False))
    assert idt["skin_move_levels"] > 15 and idt["grey_cast_levels"] > 6, idt
    assert banded["skin_move_levels"] < 6 and banded["grey_cast_levels"] < 3, banded


def test_banded_transfer_finds_a_shadow_tint():
    rng = np.random.default_rng(2)
    content = _scene_pixels(rng, 40000, skin_share=0.5)
    style = _cool_shadows(_scene_pixels(rng, 40000, skin_share=0.5))
    lat = transfer.banded_lattice(content, style)
    dark = np.array([[0.2, 0.2, 0.2]])
    out = transfer.apply_lattice(lat, dark)[0]
    # blue above red in the shadows, as the look does (+0.077 there); the family medians find ~40 % of it
    assert out[0] - out[2] > 0.02


def test_safety_numbers_and_shrinking():
    ident = transfer.identity_lattice(17)
    s = transfer.safety(ident)
    assert s["grey_cast_levels"] < 0.5 and s["skin_move_levels"] < 0.5 and s["skin_hue_turn_deg"] < 0.5
    # a look that swaps red and blue turns skin blue: far outside the limits, shrunk until it is within them
    swap = np.ascontiguousarray(ident[::-1])
    s = transfer.safety(swap)
    assert s["skin_hue_turn_deg"] > 90
    safe, kept = transfer.shrink_to_safe(swap)
    assert 0.0 <= kept < 1.0 and transfer.within(transfer.safety(safe), transfer.Limits())
    same, kept = transfer.shrink_to_safe(ident)
    assert kept == 1.0 and np.array_equal(same, ident)


def test_lattice_layout_matches_the_look_models():
    """transfer's lattices are the looks' own layout: the torch trilinear lookup agrees with apply_lattice."""
    import torch

    from livestyle.models.lut import apply_lut, identity_lut

    rng = np.random.default_rng(3)
    lat = transfer.idt_lattice(_scene_pixels(rng, 5000, skin_share=0.5),
                               _cool_shadows(_scene_pixels(rng, 5000, skin_share=0.5)), seed=0)
    assert np.abs(transfer.identity_lattice(17) - identity_lut(17).numpy()).max() < 1e-6
    x = rng.uniform(0, 1, (1000, 3))
    with torch.no_grad():
        t = apply_lut(torch.from_numpy(lat)[None], torch.from_numpy(x.T.reshape(1, 3, 1, -1) * 2 - 1).float())
    got = (t.numpy().reshape(3, -1).T + 1) / 2
    assert np.abs(got - transfer.apply_lattice(lat, x)).max() < 1e-4


def test_colour_run_can_start_from_the_transfer(tmp_path):
    """init='transfer' (0 steps): the installed look is the safe transfer itself; it is the default."""
    import cv2

    from livestyle.styles.nets import load_engine_luts
    from livestyle.training.colour import ColourConfig, train_colour

    rng = np.random.default_rng(4)
    for sub, fn in (("a", lambda p: p), ("b", _cool_shadows)):
        (tmp_path / sub).mkdir()
        for i in range(10):
            img = fn(_scene_pixels(rng, 96 * 96, skin_share=0.5)).reshape(96, 96, 3)
            cv2.imwrite(str(tmp_path / sub / f"{i}.png"), np.round(img * 255).astype(np.uint8))
    said = []
    cfg = ColourConfig(style_images=str(tmp_path / "b"), content_images=str(tmp_path / "a"), name="t",
                       out_dir=str(tmp_path / "packs"), run_dir=str(tmp_path / "run"), steps=0, init="transfer")
    res = train_colour(cfg, report=said.append, progress=False)
    assert any("distribution transfer" in s for s in said), said
    look = load_engine_luts(res.pack)["t"]
    basis = look.basis[0].detach().numpy()
    assert np.abs(basis - transfer.identity_lattice(17)).max() > 0.02      # it moved from the identity
    assert ColourConfig(style_images="s", content_images="c", name="n", out_dir="o", run_dir="r").init == "transfer"
    assert ColourConfig.from_dict({"style_images": "s", "content_images": "c", "name": "n", "out_dir": "o",
                                   "run_dir": "r"}).init == "identity"          # older checkpoints resume as they were
    with pytest.raises(Exception, match="init must be one of"):
        train_colour(ColourConfig(style_images=str(tmp_path / "b"), content_images=str(tmp_path / "a"), name="u",
                                  out_dir=str(tmp_path / "packs"), run_dir=str(tmp_path / "run2"), init="magic"),
                     progress=False)


def _images(pix: np.ndarray, n: int, side: int = 48) -> list[np.ndarray]:
    k = side * side
    return [np.round(pix[i * k:(i + 1) * k].reshape(side, side, 3) * 255).astype(np.uint8) for i in range(n)]


def test_choose_keeps_the_learned_look_unless_doing_nothing_is_closer():
    rng = np.random.default_rng(5)
    content = _scene_pixels(rng, 20000, skin_share=0.5)
    style = _cool_shadows(_scene_pixels(rng, 20000, skin_share=0.5))
    good = transfer.banded_lattice(content, style)
    idt = transfer.idt_lattice(content, style, seed=0)
    pick = transfer.choose({"learned": good, "transfer": idt}, content, style, prefer="learned")
    assert pick.name == "learned" and pick.kept == 1.0 and not pick.folders_differ
    # a "learned" look that swaps red and blue: unsafe, shrunk, and no closer than doing nothing
    swap = np.ascontiguousarray(transfer.identity_lattice(17)[::-1])
    pick = transfer.choose({"learned": swap, "transfer": idt}, content, style, prefer="learned")
    assert pick.name == "transfer" and not pick.folders_differ
    rows = {r["name"]: r for r in pick.rows}
    assert rows["learned"]["kept"] < 1.0 and rows["learned"]["skin_hue_turn_deg"] > 90


def test_the_check_holds_back_a_look_that_turns_skin_and_says_so():
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig, identity_lut
    from livestyle.training.colour import check_lines, check_look

    rng = np.random.default_rng(6)
    content = _images(_scene_pixels(rng, 12 * 48 * 48, skin_share=0.6), 12)
    style = _images(_cool_shadows(_scene_pixels(rng, 12 * 48 * 48, skin_share=0.6)), 12)
    G = AdaptiveLUT(LutConfig())
    with torch.no_grad():
        G.basis[0] = identity_lut(17).flip(0)                       # red and blue swapped: skin turns blue
    checked = check_look(G, content[:10], style[:10], content[10:], style[10:])
    assert checked["kept"] != "learned" or checked["kept_share"] < 1.0
    with torch.no_grad():
        after = transfer.safety(G.basis[0].numpy() * float(G.mix(torch.zeros(1, 3, 64, 64))[0, 0]))
    assert transfer.within(after, transfer.Limits()), after
    lines = check_lines(checked)
    assert any(ln.startswith("check: kept") for ln in lines), lines
    assert not checked["folders_differ"]


def _darker_greener(bgr):
    """Not a look: scenes of another kind (darker, greener), as a style folder of night landscapes would be."""
    return np.clip((bgr ** 1.6) * np.array([0.85, 1.15, 0.85]), 0, 1)


def test_folders_of_other_scenes_keep_only_like_with_like_tints_and_warn():
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig
    from livestyle.training.colour import check_lines, check_look

    rng = np.random.default_rng(7)
    content = _images(_scene_pixels(rng, 12 * 48 * 48, skin_share=0.7), 12)
    style = _images(_cool_shadows(_darker_greener(_scene_pixels(rng, 12 * 48 * 48, skin_share=0.2))), 12)
    G = AdaptiveLUT(LutConfig())       # stands for a learned look (the identity here)
    checked = check_look(G, content[:10], style[:10], content[10:], style[10:])
    assert checked["folders_differ"] and checked["kept"] == "colour", checked
    rows = {r["name"]: r for r in checked["candidates"]}
    assert rows["transfer"]["kept"] < 1.0
    lines = check_lines(checked)
    assert lines[0].startswith("warning: the style photos differ from the content photos by more than a colour look")
    assert "like-with-like colour transfer" in lines[1]
    with torch.no_grad():
        kept = G.basis[0].numpy()
    assert transfer.within(transfer.safety(kept), transfer.Limits())
