"""Near-monochrome looks keep only their own tint (livestyle.training.tint), through the real ONNX engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livestyle import looks
from livestyle.models.lut import AdaptiveLUT, LutConfig, identity_lut
from livestyle.training import tint


def _chroma(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.int16)
    return x.max(axis=-1) - x.min(axis=-1)


def _colourful(n: int, seed: int, h: int = 72, w: int = 128) -> list[np.ndarray]:
    """Smooth random colour fields with some noise: every hue, every brightness."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / np.float32(max(h, w))
    out = []
    for _ in range(n):
        f = rng.uniform(0.5, 4.0, (3, 2))
        p = rng.uniform(0, 2 * np.pi, (3,))
        img = np.stack([127.5 + 127.5 * np.sin(f[c, 0] * 2 * np.pi * x + f[c, 1] * 2 * np.pi * y + p[c])
                        for c in range(3)], -1)
        out.append(np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8))
    return out


def _muted_look(seed: int = 0) -> AdaptiveLUT:
    """A look as an unpaired black-and-white student ends: 30 % of the colour left, three bases mixed per frame
    by a weight CNN whose coefficients move from frame to frame."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    lk = AdaptiveLUT(LutConfig(bases=3))
    with torch.no_grad():
        ident = identity_lut(17)
        y = (torch.tensor([0.114, 0.587, 0.299]).reshape(3, 1, 1, 1) * ident).sum(0, keepdim=True)
        lk.basis[0] = 0.9 * (y + 0.3 * (ident - y)) + 0.05
        for m in (1, 2):
            lk.basis[m] = 0.15 * torch.sin(3.1416 * (ident + 0.3 * m * torch.randn(3, 1, 1, 1, generator=gen)))
        for q in lk.weights.parameters():
            q.add_(0.2 * torch.randn(q.shape, generator=gen))
    return lk.eval()


def _runner_out(folder, name: str, frame: np.ndarray) -> np.ndarray:
    from livestyle.runners.onnxrt import OnnxRuntimeRunner
    from livestyle.styles.pack import load_pack

    pack = load_pack(folder, look=name)
    runner = OnnxRuntimeRunner(pack, infer_size=(frame.shape[1], frame.shape[0]))
    runner.activate()
    try:
        return runner.infer(frame, np.eye(len(pack.engine_looks), dtype=np.float32)[pack.look_index]).copy()
    finally:
        runner.deactivate()


def test_a_near_grey_look_stays_on_its_tint_through_the_onnx_engine(tmp_path):
    from livestyle.export.engine_pack import write_engine_pack

    content = _colourful(16, seed=1)
    style = [looks.apply("mono", im) for im in _colourful(16, seed=2)]
    frames = _colourful(2, seed=3)
    frames[1] = (frames[1] * 0.4).astype(np.uint8)  # a dark room: another mix of the bases
    muted, toned = _muted_look(), _muted_look()
    said = tint.tint_look(toned, style, content)
    assert said is not None and said["style_off_tint_p99"] < tint.OFF_TINT_LIMIT
    # the per-frame adaptation is live: the two frames get different mixes of the three bases
    from livestyle.models.convert import to_unit

    with torch.no_grad():
        a = [toned.mix(to_unit(torch.from_numpy(f)[None]))[0] for f in frames]
    assert float((a[0] - a[1]).abs().max()) > 0.05
    folder, parity = write_engine_pack(tmp_path, [("muted", muted, {}), ("toned", toned, {})], folder_name="eng")
    assert parity <= 1
    curve = tint.tint_curve(style)
    for frame in frames:
        true_p99 = np.percentile(_chroma(looks.apply("mono", frame)), 99)
        before = _runner_out(folder, "muted", frame)
        after = _runner_out(folder, "toned", frame)
        assert np.percentile(_chroma(before), 99) > true_p99 + 20       # the input's colours show through
        assert np.percentile(_chroma(after), 99) <= true_p99 + 5        # only the tint is left
        # every pixel's colour lies along the tint at its brightness (scaled by the frame's own mix): the part
        # of its offset from grey across the tint's direction is rounding only
        o = after.reshape(-1, 3).astype(np.float64)
        y = o @ tint.LUMA_BGR
        r, d = o - y[:, None], curve(y)
        keep = np.linalg.norm(d, axis=1) > 3.0
        u = d[keep] / np.linalg.norm(d[keep], axis=1, keepdims=True)
        across = r[keep] - (r[keep] * u).sum(axis=1, keepdims=True) * u
        assert keep.mean() > 0.5 and np.percentile(np.linalg.norm(across, axis=1), 99) <= 2.0


def test_the_projection_does_not_fire_on_a_colourful_look():
    content = _colourful(16, seed=1)
    for name in ("vintage", "pastel"):
        lk = _muted_look()
        before = lk.basis.detach().clone()
        style = [looks.apply(name, im) for im in _colourful(16, seed=2)]
        assert tint.tint_look(lk, style, content) is None
        assert torch.equal(lk.basis, before)
    # grey style photos beside grey content photos say nothing about removing colour: left as learned too
    grey = [np.repeat(im.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2) for im in content]
    assert tint.near_monochrome(grey, grey) is None
    assert tint.tint_line(None) == []


def test_the_bundled_mono_keeps_only_its_tint_on_the_astronaut():
    pytest.importorskip("skimage")
    from livestyle.styles.pack import BUNDLED_DIR
    from tests.support.portraits import astronaut

    img = astronaut()
    out = _runner_out(BUNDLED_DIR / "looks", "mono", img)
    c, t = _chroma(out), _chroma(looks.apply("mono", img))
    assert abs(c.mean() - t.mean()) <= 5 and abs(np.percentile(c, 99) - np.percentile(t, 99)) <= 5
