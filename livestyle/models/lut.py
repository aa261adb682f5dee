"""The colour student: image-adaptive 3D lookup tables, and the multi-look engine built from them.

After Zeng et al. 2020 ("Learning Image-adaptive 3D Lookup Tables for High
Performance Photo Enhancement in Real-time"): a look holds a few *basis*
3D LUTs; a tiny CNN looks at a thumbnail of the frame and predicts how much
of each basis to use, so the grade adapts to the scene (a dark room, a bright
window) while staying a pure per-pixel colour map, which cannot draw halos,
blobs or move edges.

Two ways to evaluate the same look:

* :class:`AdaptiveLUT` (training): the mixed LUT is applied by *trilinear*
  interpolation (``grid_sample``), which is differentiable.
* :class:`LookEngine` (runtime, exported to ONNX): K looks in one graph.  The
  per-frame LUT is ``sum_k weights[k] * sum_m a_km * basis_km`` (one small
  MatMul: a blend of LUTs is exact, and costs nothing extra), resampled once
  per frame by three small MatMuls (separable linear interpolation) to a
  table of ``table`` cells per axis holding values and slopes; every pixel is then
  two Gathers (its cell's value and slopes) and a first-order correction
  from the cell's centre.  Only operators in the TensorRT 10 ONNX parser's
  supported list appear (:data:`livestyle.export.lut.TRT10_SUPPORTED_OPS`,
  checked by a test).  One 12-wide Gather of a per-cell affine map (slopes
  and intercept) was measured as fast as this, not faster: at 512x288 the
  Gemm that spreads the pixel over 12 lanes costs what the second Gather
  saved (ORT profiling, RESULTS "Looks v2").

LUT layout everywhere: ``lut[c, b, g, r]`` = output channel ``c`` (B, G, R
order) in [-1, 1] at input colour (b, g, r) on a ``grid``-point lattice over
[-1, 1] (node ``i`` sits at ``-1 + 2 i / (grid - 1)``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from livestyle.models.convert import SCALE


@dataclass(frozen=True)
class LutConfig:
    """Architecture of one look's colour student; saved in every pack so it can be rebuilt without flags."""

    grid: int = 17          # lattice nodes per axis of each basis LUT
    bases: int = 1          # basis LUTs mixed per frame (3 adaptive bases measured worse: see RESULTS, Looks v2)
    thumb: int = 32         # side of the thumbnail the weight CNN sees
    width: int = 16         # weight CNN channels
    table: int = 32         # runtime table side (cells of 256/table levels per axis)
    # runtime slopes inside a table cell: "cell" = the mean slope of the lattice cell holding it; "exact" = the
    # trilinear map's own gradient at the table cell's centre (see LookEngine.table).  Like ``table``, a
    # runtime choice, recorded in the pack because the exported graph bakes it in; old packs are "cell".
    slopes: str = "cell"
    size_multiple: int = 1  # the frame's H and W must be multiples of this (a LUT has no stride)

    def to_dict(self) -> dict:
        return {"kind": "lut", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "LutConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def identity_lut(grid: int) -> torch.Tensor:
    """The identity LUT, float32 (3, grid, grid, grid) in [-1, 1], layout ``[c, b, g, r]``."""
    v = torch.linspace(-1.0, 1.0, grid)
    b, g, r = torch.meshgrid(v, v, v, indexing="ij")
    return torch.stack([b, g, r])


def thumbnail(x: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 3, side, side): every 2nd pixel, bilinear to 4*side, then a 4x4 box average.

    The same ops run in training and in the exported graph (where the stride-2
    slice comes before the layout change, so only a quarter of the frame is
    transposed).  Values keep their scale (0..255 in, 0..255 out).
    """
    big = F.interpolate(x[:, :, ::2, ::2], size=(4 * side, 4 * side), mode="bilinear", align_corners=False)
    return F.avg_pool2d(big, 4)


# The local part of a look: a few fixed maps of the frame, each scaled by per-channel coefficients and added
# to the LUT's output in levels, ``out_c(x, p) = LUT_c(x) + sum_j c_jc * B_j(x, p)``.  Linear in the
# coefficients, so a blend of looks is the blend of their coefficients (exact, like the LUT part).
LOCAL_TERMS = ("vignette_r2", "vignette_r4", "bloom_narrow", "bloom_wide")
LOCAL_SIDE = 32               # the maps are made on a LOCAL_SIDE x LOCAL_SIDE grid over the frame, then resized up
BLOOM_KNEE = 160.0            # luma (levels) above which a pixel feeds the bloom
BLOOM_SIGMAS = (0.05, 0.15)   # the bloom blurs' sigmas, as a share of the frame's width (x) and height (y)
LUMA_BGR = (0.114, 0.587, 0.299)


def _blur_matrix(side: int, sigma: float) -> torch.Tensor:
    """(side, side) Gaussian blur over ``side`` cells, sigma in cells, rows summing to 1 (no dark border)."""
    c = torch.arange(side, dtype=torch.float64)
    k = torch.exp(-0.5 * ((c[:, None] - c[None, :]) / sigma) ** 2)
    return (k / k.sum(dim=1, keepdim=True)).to(torch.float32)


def describe_local(coeffs: torch.Tensor) -> str:
    """What a local part (4, 3) does, in words: "a vignette (-30% in the corners) and a bloom of highlights (up to
    40 levels)"; "" for none.  The corner figure is the gain at the outermost cells of the grid (r^2 = 0.94)."""
    c = coeffs.detach().double()
    parts = []
    if bool(torch.any(c[:2] != 0)):
        corner = float((c[0] * 0.94 + c[1] * 0.94 ** 2).mean())
        parts.append(f"a vignette ({corner * 100:+.0f}% in the corners)")
    if bool(torch.any(c[2:] != 0)):
        parts.append(f"a bloom of highlights (up to {float((c[2] + c[3]).abs().max()):.0f} levels)")
    return " and ".join(parts)


class LocalMaps(nn.Module):
    """The local part's maps and their sum, shared by training and the engine (the same ops, so exact parity).

    For a frame ``xf`` (N, H, W, 3) BGR in float levels 0..255:

    * ``vignette_r2``, ``vignette_r4``: ``r^2 * x_c`` and ``r^4 * x_c``, ``r`` the distance from the frame's
      centre over its half-diagonal (1 in the corners): a coefficient -0.3 darkens the corners by 30 %.
    * ``bloom_narrow``, ``bloom_wide``: the pixels' luma above :data:`BLOOM_KNEE` (0..1 of the rest of the
      range), box-averaged 8x8, resized to the grid and blurred by :data:`BLOOM_SIGMAS` of the frame's side;
      a coefficient is the glow's strength in levels for that channel (its tint).

    The maps are defined on a :data:`LOCAL_SIDE` grid and resized up bilinearly (half-pixel centres, edges
    held): the local part is ``gain * x + offset``, ``gain`` the resized ``c0 r^2 + c1 r^4`` and ``offset``
    the resized ``c2 B_narrow + c3 B_wide``, per channel.

    How it is computed (same values, to float rounding):

    * the gain does not depend on the picture. On the grid ``r^2 = a u^2 + b v^2`` (``u``, ``v`` the cells'
      x and y, ``a = W^2 / (H^2 + W^2)``, ``b = H^2 / (H^2 + W^2)``) and ``r^4 = a^2 u^4 + 2ab u^2 v^2 + b^2 v^4``,
      sums of products of a function of x and one of y; a bilinear resize is a 1-D resize along y times one
      along x, so each term resizes as its two 1-D factors. The gain is then one MatMul,
      ``(H, 4) @ (4, W * 3)``, already channel-last (:meth:`gain`): two small resizes (3 rows of 32 values
      to W, 4 columns of 32 to H) and one pass over the frame, where resizing the grid's 3-channel gain costs
      a resize and a transpose of the whole frame;
    * the bloom is made only where some coefficient of it is not zero (``bloom``: an engine knows from its
      looks whether any has one; training and the torch reference look at the coefficients);
    * the bloom's offset is resized by MatMuls with the resize's own weights (:meth:`offset`), straight into
      the channel-last frame.

    Measured (``benchmarks/quality/local_speed.py --rounds 200``, ONNX Runtime, 1 thread, 512x288, loaded 2-core
    EPYC, two runs): a vignette adds 0.45-0.57 ms to a look of 6.0-6.4 ms, a vignette and a bloom 1.5-1.6 ms;
    resizing the grid's 3-channel gain and offset and turning them channel-last added 2.5-2.7 ms either way.
    Every operator is on the TensorRT parser's list. Needs frames of at least 8x8 pixels.
    """

    def __init__(self):
        super().__init__()
        s = LOCAL_SIDE
        u = (torch.arange(s, dtype=torch.float32) + 0.5) * (2.0 / s) - 1.0
        u2 = u * u
        self.register_buffer("u2", u2.reshape(1, 1, 1, s), persistent=False)  # along x
        self.register_buffer("v2", u2.reshape(1, 1, s, 1), persistent=False)  # along y
        # the gain's 1-D factors on the grid: along x the rows u^2, u^4, 1 (1, 1, 3, S); along y the columns
        # 1, v^2, v^2, v^4 (1, 1, S, 4) (see gain)
        one = torch.ones(s)
        self.register_buffer("along_x", torch.stack([u2, u2 * u2, one]).reshape(1, 1, 3, s), persistent=False)
        self.register_buffer("along_y", torch.stack([one, u2, u2, u2 * u2], dim=1).reshape(1, 1, s, 4),
                             persistent=False)
        # (6, 4 * 3 * 2): the products [a, b, a^2, ab, ab, b^2] -> the weight of coefficient t (c0, c1) on x-row m
        # in gain row k, [k, m, t]; the gain is sum_k along_y[k] * sum_m along_x[m] * sum_t weight * c_t
        mix = torch.zeros(6, 4, 3, 2)
        mix[0, 0, 0, 0] = 1.0                      # row 1:     a u^2 c0 + a^2 u^4 c1
        mix[2, 0, 1, 1] = 1.0
        mix[3, 1, 0, 1] = mix[4, 1, 0, 1] = 1.0    # row v^2:   2ab u^2 c1
        mix[1, 2, 2, 0] = 1.0                      # row v^2:   b c0
        mix[5, 3, 2, 1] = 1.0                      # row v^4:   b^2 c1
        self.register_buffer("gain_mix", mix.reshape(6, 24), persistent=False)
        self.register_buffer("wh", torch.tensor([2, 1]), persistent=False)   # (W, H) from a frame's shape
        self.register_buffer("pairs", torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1]]), persistent=False)
        self.register_buffer("eye", torch.eye(s).reshape(1, 1, s, s), persistent=False)
        self.register_buffer("luma_hi", torch.tensor(LUMA_BGR).reshape(3, 1) / (255.0 - BLOOM_KNEE),
                             persistent=False)
        self.register_buffer("blur", torch.stack([_blur_matrix(s, sig * s) for sig in BLOOM_SIGMAS]),
                             persistent=False)  # (2, S, S)

    def _shares(self, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``a = W^2 / (H^2 + W^2)`` and ``b = H^2 / (H^2 + W^2)``, as 0-d tensors (dynamic in the graph)."""
        hw = torch._shape_as_tensor(xf)[1:3].to(torch.float32)           # (H, W)
        hw2 = hw * hw
        total = hw2[0] + hw2[1]
        return hw2[1] / total, hw2[0] / total

    def blooms(self, xf: torch.Tensor) -> torch.Tensor:
        """The two bloom maps on the grid (N, 2, S, S): narrow, wide."""
        n = xf.shape[0]
        s = LOCAL_SIDE
        # the luma above the knee, 0..1 of the rest of the range: relu(luma / (255 - knee) - knee / (255 - knee))
        y = (xf @ self.luma_hi).reshape(n, 1, xf.shape[1], xf.shape[2])  # (N, 1, H, W): the last axis was 1
        hi = torch.relu(y - BLOOM_KNEE / (255.0 - BLOOM_KNEE))
        hi = F.interpolate(F.avg_pool2d(hi, 8), size=(s, s), mode="bilinear", align_corners=False)
        return self.blur @ hi @ self.blur.transpose(1, 2)                  # (N, 2, S, S): y, then x blurred

    def maps(self, xf: torch.Tensor) -> torch.Tensor:
        """The four low-resolution maps (N, 4, S, S): r^2, r^4, the narrow and the wide bloom."""
        n = xf.shape[0]
        s = LOCAL_SIDE
        a, b = self._shares(xf)
        r2 = (a * self.u2 + b * self.v2).expand(n, 1, s, s)              # (N, 1, S, S)
        return torch.cat([r2, r2 * r2, self.blooms(xf)], dim=1)

    def forward(self, xf: torch.Tensor, coeffs: torch.Tensor, bloom: bool | None = None) -> torch.Tensor:
        """The local part in levels (N, H, W, 3) for coefficients ``coeffs`` (N or 1, 4, 3) ``[term, channel]``.

        ``bloom``: whether to make the bloom; None looks at the coefficients (not in a traced graph)."""
        if bloom is None:
            bloom = bool(torch.any(coeffs[:, 2:] != 0))
        out = self.gain(xf, coeffs) * xf
        return out + self.offset(xf, coeffs) if bloom else out

    def gain(self, xf: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """The vignette's gain (N or 1, H, W, 3), the resized ``c0 r^2 + c1 r^4`` (see the class docstring):
        ``(H, 4) @ (4, W * 3)``, the left factor the resized columns 1, v^2, v^2, v^4, the right one the
        resized rows u^2, u^4, 1 weighted per channel by the coefficients and the shares a, b."""
        h, w = xf.shape[1], xf.shape[2]
        n = coeffs.shape[0]
        wh = torch._shape_as_tensor(xf)[self.wh].to(torch.float32)       # (W, H)
        wh2 = wh * wh
        ab = wh2 / wh2.sum()                                               # (a, b)
        products = torch.cat([ab, ab[self.pairs[0]] * ab[self.pairs[1]]])  # a, b, a^2, ab, ab, b^2
        weights = (products @ self.gain_mix).reshape(12, 2) @ coeffs[:, :2]  # (N, 4 * 3, 3) [k, m] x channel
        rows = F.interpolate(self.along_x, size=(3, w), mode="bilinear", align_corners=False).reshape(3, -1)
        cols = F.interpolate(self.along_y, size=(h, 4), mode="bilinear", align_corners=False).reshape(-1, 4)
        right = rows.transpose(0, 1) @ weights.reshape(n, 4, 3, 3)        # (N, 4, W, 3)
        return (cols @ right.reshape(n, 4, -1)).reshape(n, h, w, 3)

    def offset(self, xf: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """The bloom's offset in levels (N, H, W, 3), the resized ``c2 B_narrow + c3 B_wide``.

        The resize is two MatMuls by the resize's own weights (a bilinear resize of the identity along each
        axis: ``(S, W)`` and ``(H, S)``): along x on the grid's rows, channel-first, then, after a transpose of
        that small (S, W, 3) result, along y straight into the channel-last frame.  (ONNX Runtime, 1 thread,
        512x288, loaded 2-core EPYC, medians of 200: a Resize of the 3-channel grid and a Transpose 0.78 ms; one
        Resize of the channel-last grid 1.54 ms; the ``(H, S) @ (S, W * 3)`` MatMul 0.29 ms.)"""
        n, h, w = xf.shape[0], xf.shape[1], xf.shape[2]
        s = LOCAL_SIDE
        c = coeffs[:, 2:].transpose(1, 2)                                # (., 3, 2) [channel, term]
        low = (c @ self.blooms(xf).reshape(n, 2, s * s)).reshape(n, 3 * s, s)  # [channel, grid y] x grid x
        across = F.interpolate(self.eye, size=(s, w), mode="bilinear", align_corners=False)[0, 0]  # (S, W)
        down = F.interpolate(self.eye, size=(h, s), mode="bilinear", align_corners=False)[0, 0]    # (H, S)
        rows = (low @ across).reshape(n, 3, s, w).permute(0, 2, 3, 1).reshape(n, s, w * 3)  # (N, S, W*3)
        return (down @ rows).reshape(n, h, w, 3)

    def parts(self, xf: torch.Tensor, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The local part as a gain and an offset (each (N, H, W, 3)): ``local = gain * xf + offset``."""
        gain = self.gain(xf, coeffs).expand(xf.shape[0], -1, -1, -1)
        if bool(torch.any(coeffs[:, 2:] != 0)):
            return gain, self.offset(xf, coeffs)
        return gain, torch.zeros_like(xf)


class WeightNet(nn.Module):
    """Tiny CNN: thumbnail (N, 3, T, T) in [-1, 1] -> basis weights (N, bases).

    Starts at (1, 0.01, 0.01, ...) whatever the frame: the first basis (initialised to the identity)
    and a little of the others (initialised to zero), so the output starts as the identity.  The
    small non-zero start matters: with both a basis and its weight at exactly zero neither gets a
    gradient (a saddle), and the look silently stays a single global LUT (measured: the looks
    trained before this fix use only basis 0, with a near-constant weight).
    """

    def __init__(self, cfg: LutConfig):
        super().__init__()
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(2 * w, cfg.bases)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.fill_(0.01)
            self.head.bias[0] = 1.0

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(thumb).mean(dim=(2, 3)))


class AdaptiveLUT(nn.Module):
    """One look's colour student (training form): (N, 3, H, W) BGR in [-1, 1] -> same shape, in [-1, 1].

    ``last_luts`` keeps the per-image mixed LUTs (N, 3, G, G, G) of the last
    forward for the smoothness and monotonicity regularisers.

    ``local`` (4, 3): the coefficients of the look's local part (:class:`LocalMaps`, rows
    :data:`LOCAL_TERMS`), all zero for a pure colour look.  It is set after training
    (:mod:`livestyle.training.local`), not by gradients, and it is saved only when some coefficient is
    non-zero: a look without a local part has exactly the tensors it had before, and weights without
    ``local`` load as zeros.  The local part sees the whole frame (the vignette is relative to its
    centre), so it is applied to whole frames, never to training crops.
    """

    def __init__(self, cfg: LutConfig = LutConfig()):
        super().__init__()
        self.cfg = cfg
        basis = torch.zeros(cfg.bases, 3, cfg.grid, cfg.grid, cfg.grid)
        basis[0] = identity_lut(cfg.grid)
        self.basis = nn.Parameter(basis)
        self.weights = WeightNet(cfg)
        self.register_buffer("local", torch.zeros(len(LOCAL_TERMS), 3))
        self.local_maps = LocalMaps()
        self.last_luts: torch.Tensor | None = None

    @property
    def has_local(self) -> bool:
        """Whether the look has a local part (some local coefficient is not zero)."""
        return bool(torch.any(self.local != 0))

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if not self.has_local:
            destination.pop(prefix + "local", None)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        if prefix + "local" not in state_dict:  # a look without a local part (and every pack before it)
            state_dict[prefix + "local"] = torch.zeros_like(self.local)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image basis weights (N, bases) for frames x (N, 3, H, W) in [-1, 1]."""
        return self.weights(thumbnail(x, self.cfg.thumb))

    def luts(self, a: torch.Tensor) -> torch.Tensor:
        """Mixed LUTs (N, 3, G, G, G) from basis weights a (N, bases)."""
        return torch.einsum("nm,mcdhw->ncdhw", a, self.basis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        luts = self.luts(self.mix(x))
        self.last_luts = luts
        out = apply_lut(luts, x)
        if self.has_local:
            out = out + self.local_term(x) * (1.0 / 127.5)
        return out

    def local_term(self, x: torch.Tensor) -> torch.Tensor:
        """The local part in levels, (N, 3, H, W), of whole frames x (N, 3, H, W) BGR in [-1, 1]."""
        xf = ((x + 1.0) * 127.5).permute(0, 2, 3, 1)
        return self.local_maps(xf, self.local[None]).permute(0, 3, 1, 2)


def apply_lut(luts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Trilinear lookup: luts (N, 3, G, G, G) ``[c, b, g, r]``, x (N, 3, H, W) BGR in [-1, 1] -> (N, 3, H, W)."""
    n, _, h, w = x.shape
    # grid_sample's last grid axis is (x, y, z) = (W, H, D) = (r, g, b)
    grid = x.flip(1).permute(0, 2, 3, 1).reshape(n, 1, h, w, 3)
    out = F.grid_sample(luts, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(n, 3, h, w)


def smoothness(luts: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring lattice entries along the three input axes."""
    d = [luts.diff(dim=k) for k in (2, 3, 4)]
    return sum((t ** 2).mean() for t in d) / 3.0


def monotonicity(luts: torch.Tensor) -> torch.Tensor:
    """How much an output channel falls where its own input channel rises (0 for a monotone LUT).

    Output B along the b axis (dim 2), G along g (dim 3), R along r (dim 4):
    a falling channel curve is what flips a hue (skin turning green).
    """
    terms = [F.relu(-luts[:, c].diff(dim=c + 1)).mean() for c in range(3)]
    return sum(terms) / 3.0


def _interp_matrix(table: int, grid: int) -> torch.Tensor:
    """(table, grid) linear-interpolation weights from lattice nodes to table cell centres.

    Cell ``i`` holds the uint8 levels ``i*s .. i*s+s-1`` (s = 256 / table); its
    centre ``i*s + (s-1)/2`` is mapped to [-1, 1] as ``v * 2/255 - 1``.
    """
    s = 256.0 / table
    centre = (torch.arange(table, dtype=torch.float64) * s + (s - 1) / 2.0) / 255.0 * (grid - 1)
    lo = centre.floor().clamp(0, grid - 2)
    t = centre - lo
    m = torch.zeros(table, grid, dtype=torch.float64)
    m[torch.arange(table), lo.long()] = 1.0 - t
    m[torch.arange(table), lo.long() + 1] = t
    return m.to(torch.float32)


class LookEngine(nn.Module):
    """K looks in one runtime graph.

    Inputs: ``bgr`` uint8 (1, H, W, 3) BGR 0..255 and ``weights`` float32
    (1, K), one weight per look (a blend: non-negative, summing to 1); in
    the exported graph also ``mix_state`` float32 (K, bases), the smoothed
    coefficients of the previous frame, and ``mix_rate`` float32 (1,).
    Output: uint8 (1, H, W, 3) BGR (and ``mix_next``, the new state).  Any
    H, W (multiples of ``cfg.size_multiple``).

    Built from K trained :class:`AdaptiveLUT` of the same :class:`LutConfig`;
    the weight CNNs of all looks run as one grouped CNN on one thumbnail.
    Looks with a local part (``local_index``) add it by :meth:`local_levels`;
    exported, that part runs in a branch of its own
    (:func:`livestyle.export.compose.export_mixed_engine`).
    """

    def __init__(self, looks: list[AdaptiveLUT], table: int | None = None, slopes: str | None = None):
        super().__init__()
        if not looks:
            raise ValueError("an engine needs at least one look")
        # the table side is a runtime choice (training never uses it): the engine's own, the current default
        cfg = replace(looks[0].cfg, table=table or LutConfig().table, slopes=slopes or LutConfig().slopes)
        if cfg.slopes not in ("cell", "exact"):
            raise ValueError(f"slopes must be 'cell' or 'exact', not {cfg.slopes!r}")
        if any(replace(lk.cfg, table=cfg.table, slopes=cfg.slopes) != cfg for lk in looks):
            raise ValueError("all looks of an engine must share one LutConfig (grid, bases, thumbnail, width)")
        self.cfg = cfg
        k, m, w = len(looks), cfg.bases, cfg.width
        self.n_looks = k
        # grouped weight CNN: group j = look j's WeightNet
        convs = []
        for i, (cin, cout) in enumerate(((3, w), (w, 2 * w), (2 * w, 2 * w))):
            groups = 1 if i == 0 else k
            conv = nn.Conv2d(cin * (1 if i == 0 else k), cout * k, 3, stride=2, padding=1, groups=groups)
            with torch.no_grad():
                conv.weight.copy_(torch.cat([lk.weights.body[2 * i].weight for lk in looks]))
                conv.bias.copy_(torch.cat([lk.weights.body[2 * i].bias for lk in looks]))
            convs += [conv, nn.ReLU()]
        self.body = nn.Sequential(*convs)
        head = nn.Conv2d(2 * w * k, m * k, 1, groups=k)
        with torch.no_grad():
            head.weight.copy_(torch.cat([lk.weights.head.weight for lk in looks])[:, :, None, None])
            head.bias.copy_(torch.cat([lk.weights.head.bias for lk in looks]))
        self.head = head
        g = cfg.grid
        basis = torch.cat([lk.basis.detach() for lk in looks]).permute(0, 2, 3, 4, 1)  # [km, b, g, r, c]
        self.register_buffer("basis", (127.5 * basis).reshape(k, m, 3 * g ** 3).contiguous())
        if cfg.table % (g - 1):
            raise ValueError(f"the table side ({cfg.table}) must be a multiple of grid - 1 ({g - 1})")
        self.register_buffer("interp", _interp_matrix(cfg.table, g))
        t = cfg.table
        self.register_buffer("index_scale", torch.tensor([float(t * t), float(t), 1.0]).reshape(3, 1))
        spread = torch.zeros(3, 9)
        for axis in range(3):
            spread[axis, 3 * axis: 3 + 3 * axis] = 1.0
        self.register_buffer("spread", spread)                 # frac (b, g, r) -> its slots beside the slopes
        self.register_buffer("gather_sum", torch.eye(3).repeat(3, 1))  # (9, 3): sum the 3 axes per channel
        # the local parts: every look's coefficients, flat (K, 4*3); looks without one hold zeros
        self.local_index = [i for i, lk in enumerate(looks) if lk.has_local]
        self.register_buffer("local", torch.stack([lk.local.detach() for lk in looks]).reshape(k, -1).contiguous())
        self.local_maps = LocalMaps()
        # whether any look has a bloom: without one the engine never makes the bloom's maps
        self.has_bloom = any(bool(torch.any(lk.local[2:] != 0)) for lk in looks)

    def mix(self, half: torch.Tensor) -> torch.Tensor:
        """(K, 1, bases) coefficients of every look's basis LUTs, from every 2nd pixel of the frame (1, 3, H/2, W/2), 0..255.

        Equals :func:`thumbnail` of the [-1, 1] frame: the stride-2 slice is
        taken first, and the thumbnail is normalised after (resize and box
        average are linear).
        """
        big = F.interpolate(half, size=(4 * self.cfg.thumb, 4 * self.cfg.thumb), mode="bilinear", align_corners=False)
        thumb = F.avg_pool2d(big, 4) * SCALE - 1.0  # the one uint8 -> [-1, 1] scale
        a = self.head(self.body(thumb).mean(dim=(2, 3), keepdim=True))  # (1, K*m, 1, 1)
        return a.reshape(self.n_looks, 1, self.cfg.bases)

    def lattice(self, coeffs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The frame's blended lattice in levels (+0.5 for rounding), float32 (G, G, G, 3) ``[b, g, r, c]``.

        ``basis`` is stored channel-last and pre-scaled by 127.5, so each look's
        lattice plus 128 is in levels.  Each look's lattice is clipped to
        0..255 on its own, then the looks are blended by ``weights``: a blend
        is exactly the blend of the looks, clipping included.
        """
        g = self.cfg.grid
        looks = torch.clamp(coeffs @ self.basis + 128.0, 0.0, 255.0)       # (K, 1, 3 G^3)
        return (weights @ looks.reshape(self.n_looks, 3 * g ** 3)).reshape(g, g, g, 3)

    def table(self, lat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per table cell: its value, float32 (table**3, 3), and slopes (table**3, 9) = [d/db c, d/dg c, d/dr c].

        Row b*T*T + g*T + r.

        Entry 0 is the trilinear value at the cell's centre; entries 1..3 are
        d(out)/d(b, g, r) in levels per level, the slopes of the lattice cell
        holding it (each table cell is one of ``T/(G-1)`` per lattice cell
        along each axis).  With them the lookup is first order inside a cell,
        so a colour drifting across a cell boundary does not step (a nearest
        lookup added measurable flicker).  Each axis is resampled by one
        broadcast MatMul keeping the channel last: no large transpose.
        """
        g, t = self.cfg.grid, self.cfg.table
        lut = lat.reshape(g * g, g, 3)                               # [b g, r, c]
        lut = (self.interp @ lut).reshape(g, g, t * 3)                # [b, g, R c]
        lut = (self.interp @ lut).reshape(g, t * t * 3)               # [b, G R c]
        value = (self.interp @ lut).reshape(t, t, t, 3)               # [B, G, R, c]
        n, rep = g - 1, t // (g - 1)
        if self.cfg.slopes == "exact":
            jac = self._exact_slopes(lat)
        else:
            slopes = []
            for axis in range(3):                                       # b, g, r
                d = (lat.narrow(axis, 1, n) - lat.narrow(axis, 0, n)) * ((g - 1) / 255.0)  # levels per level
                for other in range(3):                                  # the cell's mean slope
                    if other != axis:
                        d = 0.5 * (d.narrow(other, 0, n) + d.narrow(other, 1, n))
                slopes.append(d)                                        # (n, n, n, 3)
            jac = torch.stack(slopes, 3).reshape(n, 1, n, 1, n, 1, 9)  # lattice cells x [axis, c]
            jac = jac.expand(n, rep, n, rep, n, rep, 9).reshape(t, t, t, 3, 3)
        return value.reshape(t * t * t, 3), jac.reshape(t * t * t, 9)

    def _exact_slopes(self, lat: torch.Tensor) -> torch.Tensor:
        """The trilinear map's gradient at every table cell's centre, float32 (T, T, T, 3, 3) ``[B, G, R, axis, c]``.

        Along an axis, a trilinear map's slope is constant inside a lattice
        cell and bilinear in the two other coordinates: the lattice's
        differences along the axis, resampled to the table cells' centres on
        the other two axes (the same interpolation matrix as the values) and
        repeated over the cell's ``T/(G-1)`` table cells on its own axis.
        With ``T = G - 1`` (one table cell per lattice cell) this equals the
        cell's mean slope; with ``T = 2 (G - 1)`` (the 17-node looks) it cut
        the engine's distance from the bundled looks' trilinear maps from 6-9
        to 2-3 levels on scikit-image's astronaut and coffee, for ~0.5 ms more
        per frame (ONNX Runtime, 2 threads, a 16x16 frame, loaded machine).
        """
        g, t = self.cfg.grid, self.cfg.table
        n, rep, m = g - 1, t // (g - 1), self.interp
        k = (g - 1) / 255.0                                          # lattice steps -> levels per level
        d = (lat[1:] - lat[:-1]) * k                                  # (n, G, G, 3) [b, g, r, c]
        d = m @ (m @ d).reshape(n, g, t * 3)                          # r, then g resampled: (n, T, T*3)
        sb = d.reshape(n, 1, t * t * 3).expand(n, rep, t * t * 3).reshape(t, t, t, 3)
        d = (lat[:, 1:] - lat[:, :-1]) * k                            # (G, n, G, 3)
        d = m @ (m @ d).reshape(g, n * t * 3)                         # r, then b resampled: (T, n*T*3)
        sg = d.reshape(t, n, 1, t * 3).expand(t, n, rep, t * 3).reshape(t, t, t, 3)
        d = (lat[:, :, 1:] - lat[:, :, :-1]) * k                      # (G, G, n, 3)
        d = d.reshape(g, g, n, 1, 3).expand(g, g, n, rep, 3).reshape(g, g, t * 3)
        sr = (m @ (m @ d).reshape(g, t * t * 3)).reshape(t, t, t, 3)  # g, then b resampled
        return torch.stack([sb, sg, sr], 3)

    def smoothed_mix(self, half: torch.Tensor, mix_state: torch.Tensor, mix_rate: torch.Tensor) -> torch.Tensor:
        """This frame's coefficients moved from ``mix_state`` (K, bases) toward :meth:`mix` by ``mix_rate`` (1,).

        An exponential moving average over frames: ``mix_rate`` 1 takes this
        frame's coefficients as they are (the first frame, or after a pause);
        the runners' default (:data:`livestyle.runners.contract.SMOOTHING_RATE`)
        follows a change of scene within a few frames, so the grade never
        pumps from one frame to the next.  Returns (K, bases).
        """
        now = self.mix(half).reshape(self.n_looks, self.cfg.bases)
        return mix_state + mix_rate * (now - mix_state)

    def forward(self, bgr: torch.Tensor, weights: torch.Tensor, mix_state: torch.Tensor | None = None,
                mix_rate: torch.Tensor | None = None):
        """uint8 (1, H, W, 3) -> uint8 (1, H, W, 3); with ``mix_state`` and ``mix_rate`` also the new state.

        Without a state (tests, the exact reference) the frame's own
        coefficients are used; the exported graph always takes and returns
        the state (see :meth:`smoothed_mix`).
        """
        levels, state = self.levels(bgr, weights, mix_state, mix_rate)
        out = torch.clamp(levels, 0.0, 255.0).to(torch.uint8)
        return out if mix_state is None else (out, state)

    def levels(self, bgr: torch.Tensor, weights: torch.Tensor, mix_state: torch.Tensor | None = None,
               mix_rate: torch.Tensor | None = None, local: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The blend in float levels, (1, H, W, 3), *before* clipping, with +0.5 per unit of weight for rounding.

        An engine that also holds texture looks adds their weighted outputs
        to this before one clip and cast (:mod:`livestyle.export.compose`).
        With ``local`` (and some look with a local part having weight) the
        blend's local part (:meth:`local_levels`) is added; the exported graph
        runs that part in a branch of its own (:mod:`livestyle.export.compose`),
        so it is traced with ``local=False``.
        """
        # the uint8 frame is touched by one Cast only (TensorRT takes uint8 at the network's edge, in casts)
        xf = bgr.to(torch.float32)                                          # (1, H, W, 3) 0..255
        half = xf[:, ::2, ::2, :].permute(0, 3, 1, 2)                       # (1, 3, H/2, W/2) 0..255
        if mix_state is None:
            coeffs = self.mix(half)
        else:
            state = self.smoothed_mix(half, mix_state, mix_rate)
            coeffs = state.reshape(self.n_looks, 1, self.cfg.bases)
        value, slope = self.table(self.lattice(coeffs, weights))
        cell = 256.0 / self.cfg.table
        cells = torch.floor(xf * (1.0 / cell))                              # (1, H, W, 3) 0..T-1
        index = (cells @ self.index_scale).to(torch.int32)                  # (1, H, W, 1)
        index = index.squeeze(3)
        frac = xf - (cells * cell + (cell - 1.0) / 2.0)                     # levels from the cell's centre
        # (f_b, f_b, f_b, f_g, ...) lined up with the slopes by one small MatMul (no broadcasting kernels)
        coef = frac @ self.spread                                           # (1, H, W, 9)
        out = value[index] + (slope[index] * coef) @ self.gather_sum        # value + slopes . frac: (1, H, W, 3)
        if local and self.local_index and float(weights[0, self.local_index].sum()) > 0:
            out = out + self.local_levels(xf, weights)
        return out, (None if mix_state is None else state)

    def local_levels(self, xf: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The blend's local part in levels (1, H, W, 3) for the float frame ``xf`` (1, H, W, 3) 0..255.

        The looks' coefficients are blended by ``weights`` first (exact: the local part is linear in
        them), so the maps are made once whatever the blend.  The bloom is made only in an engine where
        some look has one (:attr:`has_bloom`, fixed when the engine is built, so also in its graph).
        """
        return self.local_maps(xf, (weights @ self.local).reshape(1, len(LOCAL_TERMS), 3), bloom=self.has_bloom)


def engine_reference(looks: list[AdaptiveLUT], bgr: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The exact (trilinear) blend ``sum_k w_k * look_k(x)`` as uint8 (1, H, W, 3) BGR, for parity tests."""
    from livestyle.models.convert import from_unit, to_unit

    x = to_unit(bgr)
    return from_unit(sum(float(w) * lk(x) for w, lk in zip(weights.reshape(-1), looks)))
