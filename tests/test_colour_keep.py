"""The colour look keeps only a share of what training changed from its transfer start (ColourConfig.keep_learned)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from livestyle.models.lut import AdaptiveLUT, LutConfig
from livestyle.training import checkpoint as ckpt
from livestyle.training import dist
from livestyle.training.colour import (ColourConfig, _neutral_coeffs, _Run, _step, colour_pool, keep_share_of_learning,
                                      share_then_check)
from livestyle.training.data import ImageSet
from livestyle.training.transfer import identity_lattice


def _lattice(G: AdaptiveLUT) -> np.ndarray:
    with torch.no_grad():
        return torch.einsum("m,mcdhw->cdhw", _neutral_coeffs(G), G.basis).numpy()


def test_keeping_a_share_of_the_learning_puts_the_look_that_share_of_the_way_from_its_start():
    torch.manual_seed(0)
    G = AdaptiveLUT(LutConfig())
    start = identity_lattice(17)
    with torch.no_grad():
        G.basis[0] = torch.from_numpy(start) * 0.8 + 0.05 * torch.randn(3, 17, 17, 17)  # "what training made"
        G.weights.head.bias[0] = 1.1
    learned = _lattice(G)
    frame = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out_learned = G(frame)
    assert keep_share_of_learning(G, start, 1.0) is None and np.array_equal(_lattice(G), learned)
    done = keep_share_of_learning(G, start, 0.3)
    np.testing.assert_allclose(_lattice(G), start + 0.3 * (learned - start), atol=1e-5)
    assert done["share"] == 0.3 and done["kept_change_levels"] == pytest.approx(0.3 * done["learned_change_levels"], abs=0.01)
    assert done["learned_change_levels"] > 1.0
    with torch.no_grad():
        assert not torch.allclose(G(frame), out_learned)


def _images(rng, n=4):
    return [rng.integers(0, 256, (80, 80, 3), dtype=np.uint8) for _ in range(n)]


def test_the_start_is_saved_with_the_run_and_restored(tmp_path):
    rng = np.random.default_rng(0)
    content = ImageSet(folder=Path("c"), images=_images(rng), files=4, skipped=0, crop=64)
    style = ImageSet(folder=Path("s"), images=[255 - im for im in _images(rng)], files=4, skipped=0, crop=64)
    cfg = ColourConfig(style_images="s", content_images="c", name="n", out_dir="o", run_dir="r", steps=4,
                       device="cpu", keep_learned=0.3, disc_width=8, disc_layers=1)
    start = (identity_lattice(17) * 0.9, identity_lattice(17))
    ctx = dist.setup("cpu")
    try:
        run = _Run(cfg, ctx, start)
        pools = (colour_pool(content.images), colour_pool(style.images))
        _step(run, style, content, 0, pools)
        assert torch.equal(run.start.G, torch.from_numpy(start[0]))       # training does not move the start
        assert not torch.equal(run.G.basis[0], run.start.G)
        path = tmp_path / "checkpoint.safetensors"
        run.save(path, {"config": cfg.to_dict()})
        tensors, state = ckpt.load_checkpoint(path)
        assert "model.start.G" in tensors
        again = _Run(cfg, ctx)                                             # a resumed run builds from the identity
        again.restore(tensors, state)
        assert torch.equal(again.start.G, run.start.G)
        run.cfg = ColourConfig(**{**cfg.__dict__, "keep_learned": 1.0})
        run.save(path, {})
        assert not any(k.startswith("model.start.") for k in ckpt.load_checkpoint(path)[0])  # as before this option
    finally:
        ctx.close()


def test_old_checkpoints_keep_all_they_learned():
    old = ColourConfig(style_images="s", content_images="c", name="n", out_dir="o", run_dir="r").to_dict()
    del old["keep_learned"]
    assert ColourConfig.from_dict(old).keep_learned == 1.0


def _shared_case():
    torch.manual_seed(1)
    G = AdaptiveLUT(LutConfig())
    start = identity_lattice(17)
    with torch.no_grad():
        G.basis[0] = torch.from_numpy(start) * 0.7 + 0.05 * torch.randn(3, 17, 17, 17)
    return G, start, _lattice(G)


def test_when_the_check_refuses_the_share_the_whole_learned_look_is_checked_again():
    G, start, learned = _shared_case()
    seen = []

    def check(look):  # refuses the first look it is shown, keeps the second
        seen.append(_lattice(look))
        return {"kept": "colour" if len(seen) == 1 else "learned", "folders_differ": False}

    kept, checked = share_then_check(G, start, 0.25, check)
    assert len(seen) == 2 and checked["kept"] == "learned"
    np.testing.assert_allclose(seen[0], start + 0.25 * (learned - start), atol=1e-5)  # first the share
    np.testing.assert_allclose(seen[1], learned, atol=1e-6)                           # then the whole look
    assert kept["share"] == 1.0 and kept["share_failed_the_check"]
    assert kept["kept_change_levels"] == kept["learned_change_levels"]


def test_the_share_is_kept_when_the_check_keeps_it_or_the_folders_differ():
    for verdict in ({"kept": "learned", "folders_differ": False}, {"kept": "colour", "folders_differ": True}):
        G, start, learned = _shared_case()
        calls = []
        kept, checked = share_then_check(G, start, 0.25, lambda look: calls.append(1) or verdict)
        assert len(calls) == 1 and checked is verdict and kept["share"] == 0.25
        np.testing.assert_allclose(_lattice(G), start + 0.25 * (learned - start), atol=1e-5)
    G, start, learned = _shared_case()
    assert share_then_check(G, start, 0.25, None)[1] is None          # no check: the share alone
    np.testing.assert_allclose(_lattice(G), start + 0.25 * (learned - start), atol=1e-5)
