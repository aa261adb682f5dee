"""Unpaired training of a colour look (image-adaptive 3D LUTs) straight from photos, in minutes on a CPU.

Two colour students are trained together, CycleGAN style but with LUTs as
generators: ``G`` (content -> style, the one we keep) and ``F`` (style ->
content).  Per step (A = content crops, B = style crops):

* adversarial (LSGAN): small PatchGANs ``D_B`` / ``D_A`` judge ``G(A)`` / ``F(B)``;
* colour distribution: sliced Wasserstein distance between the colours of
  ``G(A)`` and of ``B`` (and ``F(B)`` and ``A``): a stable, direct signal
  that matches the grade even from a dozen photos;
* cycle: ``|F(G(A)) - A| + |G(F(B)) - B|``: a colour the style photos do not
  cover must survive a round trip, so it is left (nearly) alone rather than
  collapsed.  (Black-and-white style photos are the exception, see
  :func:`auto_settings`: turning the cycle off *alone* measured worse for mono,
  +3.9 dB against +4.5 dB, but together with the pooled term below better.)
* pooled colour (black-and-white looks only): the same distance over pixels
  drawn from every content and style photo, not just the batch's crops;
* LUT regularisers (Zeng et al. 2020): smoothness (here on the lattice's
  second differences, along and across axes, so a linear grade costs nothing) and monotonicity (an
  output channel never falls where its own input channel rises: no hue flips);
* steadiness: the LUT chosen for a crop and for the same crop shifted and
  zoomed by a few percent (what a moving camera does between frames) must
  agree, so the grade does not pump with motion.

Both students start from a training-free distribution transfer of the two
folders (:mod:`livestyle.training.transfer`, ``init="transfer"``), held to
limits on how far it may move neutral greys and skin tones.  After training,
the look goes back toward that start, keeping ``keep_learned`` of what the
steps changed (:func:`keep_share_of_learning`: where the folders show the same
kinds of scene the transfer is already right and the steps only add the batch
terms' bias); then a check (``check=True``, :func:`check_look`) keeps the learned look, holds it
to the same limits, and falls back to a like-with-like colour transfer (with
a one-line warning) when the folders differ by more than a look. Whether the
result is installed at all is ``livestyle train``'s decision
(:func:`livestyle.training.transfer.unreliable`: folders that differ, a grey cast
beyond the style photos' own, flicker). A near-monochrome look is projected onto
its style photos' tint at export (:mod:`livestyle.training.tint`).

:func:`train_colour` runs :class:`_Colour` in the shared loop
(:mod:`livestyle.training.loop`, which also makes resume exact): everything
random in a step comes from ``np.random.default_rng([seed, rank, COLOUR_STAGE, step])``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from livestyle.errors import TrainingError
from livestyle.models.discriminator import PatchDiscriminator
from livestyle.models.lut import AdaptiveLUT, LutConfig, apply_lut, monotonicity
from livestyle.training import checkpoint as ckpt
from livestyle.training import dist
from livestyle.training.data import ImageSet
from livestyle.training.loop import FORMAT_VERSION, Stage, Trainer, load_state_tensors, lr_at, set_lr, state_tensors
from livestyle.training.losses import lsgan, random_similarity, warp
from livestyle.training.progress import LossLog

log = logging.getLogger(__name__)

COLOUR_STAGE = 3
TRAINER = "colour"
LR_FLOOR = 0.1  # the LUT students' learning rate ends at a tenth of --lr (the CycleGAN's at 0)


@dataclass(frozen=True)
class ColourConfig:
    """Everything that defines a colour run; saved in its checkpoint so ``--resume`` needs no flags.

    The defaults are what ``livestyle train`` uses with no other flag: about
    two to three minutes on a 2-core CPU.
    """

    style_images: str
    content_images: str
    name: str
    out_dir: str
    run_dir: str
    size: int = 64                # crop side, pixels
    steps: int = 800
    batch: int = 4                # per process
    seed: int = 0
    device: str = "auto"
    lut: LutConfig = LutConfig()
    disc_width: int = 32
    disc_layers: int = 2
    lr: float = 2e-3              # LUT students; the discriminators use lr / 4
    w_adversarial: float = 1.0
    w_colour: float = 10.0        # sliced Wasserstein distance of colours
    w_cycle: float = 2.0
    w_smooth: float = 5.0         # squared second differences of the lattice
    w_monotone: float = 10.0
    w_steady: float = 20.0        # |LUT(x) - LUT(x moved)|: the per-frame mix must not pump with small motion
    projections: int = 16         # random directions of the sliced Wasserstein distance
    w_pool: float = 0.0           # sliced Wasserstein distance over pixels pooled from *every* training image
                                  # (0 = off; switched on by `auto_settings` for black-and-white style photos)
    pool_pixels: int = 8192       # pixels drawn from each pool per step
    pool_projections: int = 64    # directions for the pooled term
    checkpoint_every: int = 200
    sample_every: int = 200
    look: str | None = None
    threads: int = 1              # torch CPU threads: 1 by default (small tensors; 2 threads on a busy
                                  # 2-core machine were 6x slower per step, measured, from spin-waiting)
    check: bool = True            # after training, keep the safest good look (learned / transfer / identity, each
                                  # held to grey and skin limits) by what the held-out photos show: transfer.choose
    local: bool = True            # the look's local part (training/local.py: a vignette): where the held-out photos
                                  # show one, it is taken out of the style photos before the LUT learns and fitted
                                  # again on the final LUT. It changes the training photos: fixed on --resume.
    init: str = "transfer"        # where both LUT students start: "transfer" (the training-free distribution
                                  # transfer of the two folders, held to the grey/skin limits: training/transfer.py)
                                  # or "identity" (before). Measured, mean of seeds 0 and 1: pastel +13.07 vs
                                  # +9.55 dB, vintage +11.07 vs +10.18, mono +7.45 vs +6.99, teal_orange +3.36
                                  # vs +3.64 (worse) (RESULTS,
                                  # ".cube in and out, and a learner that starts where distribution transfer ends")
    keep_learned: float = 0.25    # with init="transfer": the share of what training changed from the transfer start
                                  # that the look keeps (1 = all of it).  Where the two folders show the same kinds
                                  # of scene the transfer is already right and the batch terms only add their bias;
                                  # where they do not, a part of the gain comes with a part of the change
                                  # (see keep_share_of_learning).  Measured, looks_table.py, one seed, dB against
                                  # the transfer, 0.25 (all kept, RESULTS): matched pastel -0.13 (-2.91), vintage
                                  # +0.17 (-2.20), mono -0.08 (refused), teal_orange +0.17 (-0.41), soft_glow
                                  # +0.26 (-2.09); disjoint +0.94 (+2.53), +0.98 (+2.10), +0.44 (-2.54), +0.50
                                  # (+0.86), +0.77 (+2.05).  0.25 was picked on these datasets.

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["lut"] = self.lut.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ColourConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["lut"] = LutConfig.from_dict(known.get("lut", {}))
        known.setdefault("w_pool", 0.0)  # checkpoints from before the pooled term resume without it
        known.setdefault("init", "identity")  # ... and from before the transfer start, from the identity
        known.setdefault("check", False)      # ... and without the check they were trained without
        known.setdefault("local", False)      # ... and without the local part (it changes the training photos)
        known.setdefault("keep_learned", 1.0)  # ... and keeping all they learned (they saved no start to go back to)
        return cls(**known)


INITS = ("identity", "transfer")
FREE_ON_RESUME = frozenset({"check", "init", "style_images", "content_images", "out_dir", "run_dir", "steps", "device",
                            "checkpoint_every", "sample_every", "look", "threads", "name"})


@dataclass
class ColourResult:
    pack: Path | None
    resumed_from: int | None
    metrics: dict = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


def validate(cfg: ColourConfig) -> None:
    """TrainingError (one line) for any setting that cannot work; called before any data is read."""
    if cfg.size < 32 or cfg.size % cfg.lut.size_multiple:
        raise TrainingError(f"--size must be at least 32 px for a colour look, got {cfg.size}.",
                            fix="Use e.g. --size 96 (the default).")
    if cfg.steps < 0:
        raise TrainingError(f"--steps must be >= 0, got {cfg.steps}.", fix="Pass a step count, e.g. 1200.")
    if cfg.batch < 1 or cfg.checkpoint_every < 1 or cfg.sample_every < 1:
        raise TrainingError("--batch, --checkpoint-every and --sample-every must be >= 1.", fix="Pass positive values.")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise TrainingError(f"--lr must be a positive number, got {cfg.lr}.", fix="Use e.g. --lr 0.002.")
    if cfg.seed < 0:
        raise TrainingError(f"--seed must be >= 0, got {cfg.seed}.", fix="Use e.g. --seed 0.")
    if cfg.threads < 0:
        raise TrainingError(f"--threads must be >= 1 (or left out), got {cfg.threads}.", fix="Use e.g. --threads 2.")
    if cfg.disc_layers < 1 or cfg.disc_width < 1:
        raise TrainingError(f"--disc-layers and --disc-width must be >= 1, got {cfg.disc_layers} and "
                            f"{cfg.disc_width}.", fix="Use e.g. --disc-layers 3.")
    if 2 ** (cfg.disc_layers + 1) > cfg.size:
        raise TrainingError(f"--disc-layers {cfg.disc_layers} is too deep for {cfg.size} px crops.",
                            fix="Use fewer layers or a larger --size.")
    if cfg.pool_pixels < 1 or cfg.pool_projections < 1:
        raise TrainingError("pool_pixels and pool_projections must be >= 1.", fix="Use the defaults (8192, 64).")
    if not (0.0 <= cfg.keep_learned <= 1.0):
        raise TrainingError(f"keep_learned must be between 0 and 1, got {cfg.keep_learned}.", fix="Use e.g. 0.25.")
    if cfg.init not in INITS:
        raise TrainingError(f"init must be one of {', '.join(INITS)}, got {cfg.init!r}.", fix="Use e.g. init='transfer'.")
    if min(cfg.w_adversarial, cfg.w_colour, cfg.w_cycle, cfg.w_smooth, cfg.w_monotone, cfg.w_steady, cfg.w_pool) < 0:
        raise TrainingError("Loss weights must be >= 0.", fix="0 turns a term off.")


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, rng: np.random.Generator, projections: int,
                       samples: int = 2048) -> torch.Tensor:
    """Sliced Wasserstein-1 distance between the colour distributions of two image batches.

    ``a``, ``b``: (N, 3, H, W) in [-1, 1].  ``samples`` pixels of each are
    drawn (same count), projected on ``projections`` random unit directions,
    sorted, and compared quantile by quantile (mean absolute difference).
    """
    pa = a.permute(0, 2, 3, 1).reshape(-1, 3)
    pb = b.permute(0, 2, 3, 1).reshape(-1, 3)
    n = min(samples, pa.shape[0], pb.shape[0])
    ia = torch.from_numpy(rng.choice(pa.shape[0], n, replace=False)).to(a.device)
    ib = torch.from_numpy(rng.choice(pb.shape[0], n, replace=False)).to(a.device)
    dirs = rng.normal(size=(3, projections)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    d = torch.from_numpy(dirs).to(a.device)
    qa = torch.sort(pa[ia] @ d, dim=0).values
    qb = torch.sort(pb[ib] @ d, dim=0).values
    return (qa - qb).abs().mean()


POOL_SIDE = 48


def colour_pool(images: list[np.ndarray], side: int = POOL_SIDE) -> torch.Tensor:
    """The pixels of every image shrunk to ``side`` x ``side`` (area average), as one (P, 3) BGR tensor in [-1, 1].

    A crop batch holds a few images' colours; the pool holds the whole
    folder's, so the pooled colour term compares the look's effect on all the
    content photos with all the style photos at every step (measured: a
    pooled term alone, without the GAN, already took mono from +4.5 to
    +6.6 dB; see RESULTS, Looks v2).
    """
    import cv2

    small = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA).reshape(-1, 3) for im in images]
    return torch.from_numpy(np.concatenate(small)).float() * (2.0 / 255.0) - 1.0


def pooled_swd(lut: torch.Tensor, pool: torch.Tensor, target: torch.Tensor, rng: np.random.Generator,
               pixels: int, projections: int) -> torch.Tensor:
    """Sliced Wasserstein distance between ``lut`` (1, 3, G, G, G) applied to pixels of ``pool`` and pixels of ``target``."""
    n = min(pixels, len(pool), len(target))
    xa = pool[torch.from_numpy(rng.choice(len(pool), n, replace=False))].to(lut.device)
    xb = target[torch.from_numpy(rng.choice(len(target), n, replace=False))].to(lut.device)
    ga = apply_lut(lut, xa.T.reshape(1, 3, 1, n)).reshape(3, n).T
    d = rng.normal(size=(3, projections)).astype(np.float32)
    d /= np.linalg.norm(d, axis=0, keepdims=True)
    dirs = torch.from_numpy(d).to(lut.device)
    return (torch.sort(ga @ dirs, dim=0).values - torch.sort(xb @ dirs, dim=0).values).abs().mean()


GREY_CHROMA_SHARE = 0.25  # style photos with under a quarter of the content's chroma are a black-and-white look
GREY_SETTINGS = {"w_pool": 10.0, "w_cycle": 0.0, "lr": 5e-3}


def mean_chroma(pool: torch.Tensor) -> float:
    """Mean distance of the pixels (P, 3) in [-1, 1] from the grey axis, in levels."""
    return float((pool - pool.mean(dim=1, keepdim=True)).norm(dim=1).mean()) * 127.5


def auto_settings(cfg: "ColourConfig", style_pool: torch.Tensor, content_pool: torch.Tensor,
                  explicit: set[str]) -> tuple["ColourConfig", str | None]:
    """Settings picked from the photos themselves, before step 1 (so a resumed run keeps them).

    Black-and-white style photos (their mean chroma under GREY_CHROMA_SHARE of
    the content's) get :data:`GREY_SETTINGS`: the colour term pooled over all
    photos; no round trip, since a grey image cannot be turned back into
    colour; and a higher learning rate, since taking every colour to grey
    moves the lattice further from the identity than 800 steps at the usual
    rate reach (saturation stayed at x0.40).  Measured on mono, one run each:
    +4.5 dB with the usual settings, +5.9 dB with the pooled term and no round
    trip, +6.5 dB with the higher rate as well (RESULTS, Looks v2).  For other
    looks each of these measured worse (soft_glow: pooled +3.2 dB, rate 5e-3
    +3.7 dB, against +5.3 dB), so they stay off.
    Returns (settings, a line saying what was picked, or None).
    """
    style_c, content_c = mean_chroma(style_pool), mean_chroma(content_pool)
    if content_c <= 0 or style_c >= GREY_CHROMA_SHARE * content_c:
        return cfg, None
    picked = {k: v for k, v in GREY_SETTINGS.items() if k not in explicit}
    if not picked:
        return cfg, None
    return dataclasses.replace(cfg, **picked), (
        f"the style photos are black and white (chroma {style_c:.0f} levels against {content_c:.0f} in the content): "
        "matching the colours of all photos at once, without the round trip, at a higher learning rate")


def curvature(luts: torch.Tensor) -> torch.Tensor:
    """Mean squared second difference of the lattice, along each input axis and across each pair of axes.

    0 for any affine LUT.  The mixed differences (d2/db dg, ...) matter at
    run time: the engine looks a colour up to first order inside a table
    cell, which is exact only where those cross terms vanish.
    """
    terms = [(luts.diff(n=2, dim=k) ** 2).mean() for k in (2, 3, 4)]
    terms += [(luts.diff(dim=a).diff(dim=b) ** 2).mean() for a, b in ((2, 3), (2, 4), (3, 4))]
    return sum(terms) / 6.0


class _Run:
    """Models, optimisers and counters of one colour run, and their checkpoint I/O."""

    def __init__(self, cfg: ColourConfig, ctx: dist.DistContext, start: tuple[np.ndarray, np.ndarray] | None = None):
        """``start``: the first basis of G and of F (lattices (3, G, G, G) ``[c, b, g, r]`` in [-1, 1]); None =
        the identity."""
        self.cfg, self.ctx = cfg, ctx
        dev = ctx.device
        torch.manual_seed(cfg.seed)
        self.G = AdaptiveLUT(cfg.lut)
        self.F = AdaptiveLUT(cfg.lut)
        if start is not None:
            with torch.no_grad():
                self.G.basis[0] = torch.from_numpy(start[0])
                self.F.basis[0] = torch.from_numpy(start[1])
        # where G started (the transfer, or the identity): the look keeps cfg.keep_learned of the way from it
        self.start = torch.nn.Module()
        with torch.no_grad():
            self.start.register_buffer("G", self.G.basis[0].clone())
        self.G, self.F, self.start = self.G.to(dev), self.F.to(dev), self.start.to(dev)
        self.D_A = PatchDiscriminator(cfg.disc_width, cfg.disc_layers).to(dev)
        self.D_B = PatchDiscriminator(cfg.disc_width, cfg.disc_layers).to(dev)
        betas = (0.5, 0.999)
        self.opt_G = torch.optim.Adam(list(self.G.parameters()) + list(self.F.parameters()), cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(list(self.D_A.parameters()) + list(self.D_B.parameters()), cfg.lr / 4,
                                      betas=betas)
        self.G_p, self.F_p = dist.wrap(self.G, ctx), dist.wrap(self.F, ctx)
        self.D_A_p, self.D_B_p = dist.wrap(self.D_A, ctx), dist.wrap(self.D_B, ctx)
        self.steps = {"colour": 0}
        self.seconds = {"colour": 0.0}

    def _parts(self) -> tuple[dict, dict]:
        modules = {"G": self.G, "F": self.F, "D_A": self.D_A, "D_B": self.D_B}
        if self.cfg.keep_learned < 1.0:  # checkpoints of runs that keep all they learned hold no start
            modules["start"] = self.start
        return modules, {"G": self.opt_G, "D": self.opt_D}

    def save(self, path: Path, extra_state: dict) -> None:
        tensors, optim = state_tensors(*self._parts())
        state = {"version": FORMAT_VERSION, "trainer": TRAINER, "step": self.steps["colour"],
                 "seconds": self.seconds["colour"], "world": self.ctx.world, "optim": optim, **extra_state}
        if self.ctx.main:
            ckpt.save_checkpoint(path, tensors, state)

    def restore(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        self.steps["colour"] = int(state["step"])
        self.seconds["colour"] = float(state.get("seconds", 0.0))
        load_state_tensors(tensors, state, *self._parts())


def _step(run: _Run, style: ImageSet, content: ImageSet, step: int,
          pools: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
    cfg, ctx = run.cfg, run.ctx
    rng = np.random.default_rng([cfg.seed, ctx.rank, COLOUR_STAGE, step])
    real_A = torch.from_numpy(content.sample(rng, cfg.batch)).to(ctx.device)
    real_B = torch.from_numpy(style.sample(rng, cfg.batch)).to(ctx.device)
    lr = lr_at(step, cfg.steps, cfg.lr, floor=LR_FLOOR)
    set_lr(run.opt_G, lr)
    set_lr(run.opt_D, lr / 4)
    D_A, D_B = dist.unwrap(run.D_A_p), dist.unwrap(run.D_B_p)
    G, Fm = dist.unwrap(run.G_p), dist.unwrap(run.F_p)

    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    # F (style -> content) only teaches G through the round trip: with no cycle term it is skipped
    both = cfg.w_cycle > 0
    zero = torch.zeros((), device=real_A.device)
    fake_B = run.G_p(real_A)
    luts_G = G.last_luts
    adv = lsgan(D_B(fake_B), 1.0)
    colour = sliced_wasserstein(fake_B, real_B, rng, cfg.projections)
    cycle = pool = zero
    luts = luts_G
    if both:
        fake_A = run.F_p(real_B)
        luts_F = Fm.last_luts
        rec_A = run.F_p(fake_B)
        rec_B = run.G_p(fake_A)
        adv = adv + lsgan(D_A(fake_A), 1.0)
        colour = colour + sliced_wasserstein(fake_A, real_A, rng, cfg.projections)
        cycle = (rec_A - real_A).abs().mean() + (rec_B - real_B).abs().mean()
        luts = torch.cat([luts_G, luts_F])
    if cfg.w_pool and pools is not None:
        pool_A, pool_B = pools  # the batch's mean LUT of each student, on pixels of every image
        pool = pooled_swd(luts_G.mean(0, keepdim=True), pool_A, pool_B, rng, cfg.pool_pixels, cfg.pool_projections)
        if both:
            pool = pool + pooled_swd(luts_F.mean(0, keepdim=True), pool_B, pool_A, rng, cfg.pool_pixels,
                                     cfg.pool_projections)
    smooth = curvature(luts)
    mono = monotonicity(luts)
    theta = random_similarity(rng, real_A.shape[0], cfg.size, max_shift_px=cfg.size * 0.08, max_scale=0.08)
    moved = warp(real_A, theta)
    steady = (G.luts(G.mix(moved)) - luts_G).abs().mean()
    loss = (cfg.w_adversarial * adv + cfg.w_colour * colour + cfg.w_pool * pool + cfg.w_cycle * cycle
            + cfg.w_smooth * smooth + cfg.w_monotone * mono + cfg.w_steady * steady)
    run.opt_G.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_G.step()

    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    n = real_A.shape[0]
    s_B = run.D_B_p(torch.cat([real_B, fake_B.detach()]))
    loss_D = lsgan(s_B[:n], 1.0) + lsgan(s_B[n:], 0.0)
    if both:
        s_A = run.D_A_p(torch.cat([real_A, fake_A.detach()]))
        loss_D = loss_D + lsgan(s_A[:n], 1.0) + lsgan(s_A[n:], 0.0)
    loss_D = 0.5 * loss_D
    run.opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    run.opt_D.step()
    return {"adv": adv.item(), "colour": colour.item(), "pool": pool.item(), "cycle": cycle.item(), "smooth": smooth.item(),
            "mono": mono.item(), "steady": steady.item(), "D": loss_D.item(), "lr": lr}


def _split(images: ImageSet, share: float = 0.1, minimum: int = 8) -> tuple[ImageSet, list[np.ndarray]]:
    """Hold out every 10th image (none when fewer than ``minimum``): (training set, held-out uint8 BGR images)."""
    if len(images) < minimum:
        return images, []
    every = max(2, int(round(1 / share)))
    held = [im for i, im in enumerate(images.images) if i % every == every - 1]
    kept = [im for i, im in enumerate(images.images) if i % every != every - 1]
    return dataclasses.replace(images, images=kept), held


class _Colour(Trainer):
    """The colour look's two LUT students, in the shared loop; its export runs the post-training check."""

    tag = TRAINER
    foreign = "is not a colour-look checkpoint of this livestyle"
    free_on_resume = FREE_ON_RESUME
    config_type = ColourConfig
    result_type = ColourResult
    validate = staticmethod(validate)

    def load(self, cfg: ColourConfig) -> None:
        self.style_all, self.content_all = self.style, self.content  # every photo; those trained on are split off
        self.style, self.style_held = _split(self.style_all)
        self.content, self.content_held = _split(self.content_all)
        self.style_raw, self.local_prefit = self.style.images, None
        # a vignette the style photos show is taken out of them before the LUT learns; only with photos held out
        # to check it on (a fit judged on its own photos finds one in any folder)
        if cfg.local and self.content_held and self.style_held:
            from livestyle.training.local import prefit_local

            images, self.local_prefit = prefit_local(self.content.images, self.style.images, self.content_held,
                                                     self.style_held)
            self.style = dataclasses.replace(self.style, images=images)

    def build(self, cfg: ColourConfig, ctx: dist.DistContext, fresh: bool, report) -> _Run:
        start = None
        if cfg.init == "transfer" and fresh:
            start, said = transfer_start(self.content.images, self.style.images, cfg)
            report(said)
        run = _Run(cfg, ctx, start)
        self.fixed = torch.from_numpy(self.content.centre_crops(4)).to(ctx.device)
        self.pools = (colour_pool(self.content.images), colour_pool(self.style.images))
        if fresh:
            if start is None and cfg.keep_learned < 1.0:  # from the identity there is no transfer to go back to
                run.cfg = cfg = dataclasses.replace(cfg, keep_learned=1.0)
            run.cfg, picked = auto_settings(cfg, self.pools[1], self.pools[0], self.explicit)
            if picked:
                report(picked)
        return run

    def resumed_line(self, run: _Run, run_dir: Path) -> str:
        return f"resumed from step {run.steps['colour']}/{run.cfg.steps} in {run_dir}"

    def totals(self, cfg: ColourConfig) -> dict[str, int]:
        return {"colour": cfg.steps}

    def data_info(self, run: _Run) -> dict:
        return {name: {"images": len(images), "held_out": len(held), "files": images.files, "skipped": images.skipped}
                for name, images, held in (("style_images", self.style_all, self.style_held),
                                           ("content_images", self.content_all, self.content_held))}

    def stages(self, run: _Run) -> Iterator[Stage]:
        cfg = run.cfg
        yield Stage("colour", cfg.steps, lambda i: _step(run, self.style, self.content, i, self.pools),
                    opening=f"colour look: adaptive 3D LUT ({cfg.lut.bases} bases, {cfg.lut.grid}^3) learned unpaired "
                            f"from {len(self.style)} style and {len(self.content)} content images, {cfg.size}px "
                            f"crops, {cfg.steps} steps")

    def sample_rows(self, run: _Run) -> list:
        styled = run.G(self.fixed)
        back = run.F(styled)
        return [self.fixed.cpu().numpy(), styled.cpu().numpy(), back.cpu().numpy()]

    def export(self, run: _Run, losses: LossLog, resumed_from: int | None, report) -> ColourResult:
        from livestyle.quality.heldout import describe_lut, heldout_report
        from livestyle.export.engine_pack import write_engine_pack
        from livestyle.training.packs import machine_info
        from livestyle.training.local import local_lines
        from livestyle.training.tint import tint_line, tint_look

        cfg, ctx = run.cfg, run.ctx
        content, style = self.content.images, self.style.images
        content_held, style_held = self.content_held or content[:8], self.style_held or style[:8]
        G = run.G.to("cpu").eval()
        check = (lambda look: check_look(look, content, style, content_held, style_held, seed=cfg.seed)) \
            if cfg.check else None
        kept_learning, checked = share_then_check(G, run.start.G.cpu().numpy(), cfg.keep_learned, check)
        tint = tint_look(G, style, content, seed=cfg.seed)  # a near-monochrome look keeps only its own tint
        local = None
        if cfg.local and self.content_held and self.style_held:  # the vignette, kept where held-out photos show one
            from livestyle.training.local import fit_local

            # against the style photos as they are; a LUT learned from them as they are (nothing taken out
            # before) already carries the local part's average, which the fit then compensates
            local = fit_local(G, content, self.style_raw, content_held, style_held,
                              compensate=self.local_prefit is None or self.local_prefit["kept"] == "none")
            local["before_training"] = self.local_prefit
        held = heldout_report(G, content_held, style_held)
        # with fewer than 10 photos none is held out: the check then runs on training photos, and says so
        held.update(content_held_out=bool(self.content_held), style_held_out=bool(self.style_held))
        learned = describe_lut(G)
        metrics = {"final_losses": losses.final("colour"), "heldout": held, "learned": learned}
        if kept_learning is not None:
            metrics["kept_learning"] = kept_learning
        if checked is not None:
            metrics["check"] = checked
        if tint is not None:
            metrics["tint"] = tint
        if local is not None:
            metrics["local"] = local
        seconds = run.seconds["colour"]
        recipe = {**self.data_info(run), "trainer": TRAINER, "size": cfg.size, "steps": cfg.steps, "batch": cfg.batch,
                  "seed": cfg.seed, "world_size": ctx.world, "wall_seconds": {"train": round(seconds, 1)},
                  "machine": machine_info(ctx.device),
                  "losses": {k: getattr(cfg, k) for k in ("w_adversarial", "w_colour", "w_pool", "w_cycle", "w_smooth",
                                                          "w_monotone", "w_steady")},
                  "discriminator": {"width": cfg.disc_width, "layers": cfg.disc_layers}}
        t0 = time.perf_counter()
        pack_path, parity = write_engine_pack(cfg.out_dir, [(cfg.name, G, {"look": cfg.look, "metrics": metrics,
                                                                            "recipe": recipe})])
        metrics["export_parity_uint8"] = parity
        result = ColourResult(pack=pack_path, resumed_from=resumed_from, metrics=metrics)
        result.summary = [
            f"learned: {learned['text']}",
            *heldout_lines(held),
            *check_lines(checked),
            *tint_line(tint),
            *local_lines(local),
            *([] if kept_learning is None else [
                f"kept {kept_learning['share']:.0%} of what training changed from the distribution transfer it "
                f"started at ({kept_learning['learned_change_levels']:.1f} levels on average)"]),
            f"trained in {seconds:.0f} s ({cfg.steps} steps); export parity {parity} uint8 level(s) in "
            f"{time.perf_counter() - t0:.1f} s",
        ]
        for line in result.summary:
            report(line)
        return result


def train_colour(cfg: ColourConfig, *, resume: bool = False, explicit: set[str] | None = None,
                 report: Callable[[str], None] = lambda msg: None, progress: bool = True,
                 stop=None, resume_command: str = "livestyle train --resume") -> ColourResult:
    """Run (or resume) a colour run and install its pack at ``cfg.out_dir/cfg.name``.

    ``stop`` (a :class:`~livestyle.training.signals.StopFlag`) is checked
    between steps: when it trips, the checkpoint is saved and
    :class:`~livestyle.training.signals.TrainingStopped` is raised, naming
    ``resume_command``.
    """
    return _Colour().train(cfg, resume=resume, explicit=explicit or set(), report=report, progress=progress,
                           stop=stop, resume_command=resume_command)


def _measured_on(held: dict) -> str:
    """'held-out (8 content, 3 style images)', or which of them were training photos (none held out)."""
    n_c, n_s = held["content_images"], held["style_images"]
    c_out, s_out = held.get("content_held_out", True), held.get("style_held_out", True)
    if c_out and s_out:
        return f"held-out ({n_c} content, {n_s} style images)"
    if not (c_out or s_out):
        return (f"measured on training photos, not held-out ones ({n_c} content, {n_s} style images; "
                "10 or more of each let some be held out)")
    return (f"{n_c} {'held-out' if c_out else 'training'} content and {n_s} {'held-out' if s_out else 'training'} "
            "style images (too few photos to hold out the others)")


def transfer_start(content: list[np.ndarray], style: list[np.ndarray], cfg: ColourConfig
                   ) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """The students' first bases from the training-free transfer (:mod:`livestyle.training.transfer`), and a line
    saying what was done.  G starts at the content -> style transfer, F at style -> content, each moved toward
    the identity as far as :func:`~livestyle.training.transfer.shrink_to_safe` needs."""
    from livestyle.training import transfer

    t0 = time.perf_counter()
    pc = transfer.pixels(content, 512, cfg.seed)
    ps = transfer.pixels(style, 512, cfg.seed + 1)
    g, kept_g = transfer.shrink_to_safe(transfer.idt_lattice(pc, ps, grid=cfg.lut.grid, seed=cfg.seed))
    f, _ = transfer.shrink_to_safe(transfer.idt_lattice(ps, pc, grid=cfg.lut.grid, seed=cfg.seed))
    said = (f"starting from a distribution transfer of the two folders ({time.perf_counter() - t0:.1f} s)"
            + ("" if kept_g == 1.0 else f", {kept_g:.0%} of it kept: the rest moved greys or skin tones too far"))
    return (g, f), said


def keep_share_of_learning(G: AdaptiveLUT, start: np.ndarray, share: float) -> dict | None:
    """Move ``G`` (in place) back toward the lattice it started from, keeping ``share`` of what training changed.

    The batch terms (sliced Wasserstein distance of a few crops, the discriminators, the round trip) do not have
    their minimum at the true look, even where the distribution transfer the run started from already is it:
    measured on pastel from folders drawn from one pool, 800 steps took the transfer's +17.9 dB to +15.1, and
    turning off any one term did not stop it (``benchmarks/quality/learn_probe.py``).  Where the folders show
    different scenes the same steps do correct the transfer, and a quarter of the change kept 37-58 % of that
    gain (pastel, vintage, teal_orange, soft_glow; looks_table.py).  ``share`` 1 leaves ``G`` as it is (returns None); otherwise returns what was done, for the pack's
    metrics: the share and the mean change (levels) of the lattice at a mid-grey frame's weights, before and after.
    """
    if share >= 1.0:
        return None
    moved = float(np.abs(neutral_lattice(G) - start).mean() * 127.5)
    set_lattice(G, start, share=share)
    return {"share": share, "learned_change_levels": round(moved, 2), "kept_change_levels": round(moved * share, 2)}


def share_then_check(G: AdaptiveLUT, start: np.ndarray, share: float,
                     check: Callable[[AdaptiveLUT], dict] | None) -> tuple[dict | None, dict | None]:
    """:func:`keep_share_of_learning`, then ``check`` (:func:`check_look` on the training photos; None: no
    check) on ``G``, in place: (what the share did, what the check said).

    When the check does not keep the shared look and the folders do not differ, the whole learned look is put
    back and checked as before the share existed (measured: soft_glow from 12 style photos, the share was
    swapped for the colour-only transfer, -0.40 dB, where the whole look scores +2.09)."""
    whole = {k: v.clone() for k, v in G.state_dict().items()} if share < 1.0 and check is not None else None
    kept = keep_share_of_learning(G, start, share)
    if check is None:
        return kept, None
    checked = check(G)
    if kept is not None and checked["kept"] != "learned" and not checked["folders_differ"]:
        G.load_state_dict(whole)
        checked = check(G)
        kept = {**kept, "share": 1.0, "kept_change_levels": kept["learned_change_levels"],
                "share_failed_the_check": True}
    return kept, checked


def neutral_lattice(look: AdaptiveLUT) -> np.ndarray:
    """The look's lattice (3, G, G, G) at the coefficients a flat mid-grey frame gets, clamped to -1..1: what
    the checks compare and :func:`set_lattice` writes."""
    with torch.no_grad():
        return torch.clamp(torch.einsum("m,mcdhw->cdhw", _neutral_coeffs(look), look.basis), -1.0, 1.0).numpy()


def _neutral_coeffs(look: AdaptiveLUT) -> torch.Tensor:
    """The basis coefficients (bases,) the look gives a flat mid-grey frame."""
    with torch.no_grad():
        return look.mix(torch.zeros(1, 3, 64, 64))[0]


def set_lattice(look: AdaptiveLUT, lattice: np.ndarray, share: float = 0.0) -> None:
    """Make ``look`` output ``share`` of itself plus ``1 - share`` of ``lattice`` (3, G, G, G) on every frame,
    exactly at the coefficients a mid-grey frame gets (the weight network is kept: it still adapts the learned
    share).  ``share`` 0 replaces the look by the lattice."""
    c = _neutral_coeffs(look)
    lat = torch.from_numpy(np.ascontiguousarray(lattice, np.float32))
    with torch.no_grad():
        if share == 0.0:
            look.basis.zero_()
            look.basis[0] = lat
            look.weights.head.weight.zero_()
            look.weights.head.bias.zero_()
            look.weights.head.bias[0] = 1.0
            return
        look.basis.mul_(share)
        look.basis[0] += (1.0 - share) * lat / c[0]


def check_look(G: AdaptiveLUT, content: list[np.ndarray], style: list[np.ndarray], content_held: list[np.ndarray],
               style_held: list[np.ndarray], *, seed: int = 0) -> dict:
    """The post-training check (:func:`livestyle.training.transfer.choose`), applied to ``G`` in place.

    Candidates: the learned look (its lattice at the weights a mid-grey frame
    gets), the pooled distribution transfer of the training photos, the
    like-with-like colour transfer (no tone curve), and the identity; each
    held to the grey and skin limits.  When the pooled transfer exceeds the
    limits the folders differ by more than a look, and the like-with-like
    colour transfer is kept.  Otherwise the learned look is kept when it
    brings the held-out content closer to the held-out style photos than
    doing nothing does; it is shrunk toward the identity when it moves greys
    or skin tones past the limits.  Returns what was done (for
    the pack's metrics and :func:`check_lines`), with the cast the kept look
    gives neutral greys beyond the style photos' own near-greys
    (:func:`~livestyle.training.transfer.neutral_cast`), which
    :func:`~livestyle.training.transfer.unreliable` judges.
    """
    from livestyle.training import transfer

    learned = neutral_lattice(G)
    pc, ps = transfer.pixels(content, 512, seed), transfer.pixels(style, 512, seed + 1)
    idt = transfer.idt_lattice(pc, ps, grid=G.cfg.grid, seed=seed)
    colour_only = transfer.banded_lattice(pc, ps, grid=G.cfg.grid, tone=False)
    hc, hs = transfer.pixels(content_held, 4096, seed + 2), transfer.pixels(style_held, 4096, seed + 3)
    # from fewer photos than the refusal needs, the pooled transfer is too noisy to say the folders differ
    # (Reliability.min_photos): it only warns, and the learned look is not swapped for the colour transfer
    # (measured: 11 pastel style photos, the swap scored +1.05 dB where the learned look had +10.78)
    few = min(len(content), len(style)) < transfer.Reliability().min_photos
    choice = transfer.choose({"learned": learned, "transfer": idt, "colour": colour_only}, hc, hs,
                             prefer="learned", fallback=None if few else "colour")
    if choice.name == "learned":
        if choice.kept < 1.0:  # the learned look, shrunk toward the identity by its own lattice
            ident = transfer.identity_lattice(G.cfg.grid)
            set_lattice(G, ident, share=choice.kept)
    else:
        set_lattice(G, choice.lattice)
    final = neutral_lattice(G)
    return {"kept": choice.name, "kept_share": choice.kept, "folders_differ": choice.folders_differ,
            "neutral_cast": transfer.neutral_cast(final, ps), "training_photos": [len(content), len(style)],
            "candidates": list(choice.rows)}


def check_lines(checked: dict | None) -> list[str]:
    """What the post-training check did, in a line or two (none when it kept the learned look as it was)."""
    if not checked:
        return []
    rows = {r["name"]: r for r in checked["candidates"]}
    lines = []
    if checked["folders_differ"]:
        t = rows["transfer"]
        moves = (f"(matching all their colours would move skin tones {t['skin_move_levels']:.0f} levels, turn them "
                 f"{t['skin_hue_turn_deg']:.0f} deg and give greys a {t['grey_cast_levels']:.0f}-level cast)")
        if checked["kept"] == "colour":
            lines.append(f"warning: the style photos differ from the content photos by more than a colour look {moves}, "
                         "so only the tints seen in like colours of both folders were kept; style photos of the same "
                         "kinds of scene as your camera's (faces, rooms, light) let the whole look be learned.")
        else:
            n = min(checked.get("training_photos", (0, 0)))
            lines.append(f"warning: the style photos may differ from the content photos by more than a colour look "
                         f"{moves}; from {n} photos a folder that cannot be told from chance, so the look was kept: "
                         "check it with `livestyle eval`, or add photos.")
    if checked["kept"] != "learned" or checked["kept_share"] < 1.0:
        what = {"learned": "the learned look", "transfer": "the distribution transfer",
                "colour": "the like-with-like colour transfer", "identity": "no change at all"}[checked["kept"]]
        share = f", {checked['kept_share']:.0%} of it" if checked["kept_share"] < 1 else ""
        lines.append(f"check: kept {what}{share}"
                     + f" (held-out colour distance {rows[checked['kept']]['heldout_distance']:.1f} levels, "
                       f"doing nothing {rows['identity']['heldout_distance']:.1f})")
    return lines


def heldout_lines(held: dict) -> list[str]:
    """The run's held-out line, plus a warning when the held-out photos did not come out closer to the style.

    "Closer" alone does not rank runs (a teal_orange run 34 % closer scored
    +3.6 dB, a pastel run 50 % closer +9.3 dB), but a look that leaves the
    held-out content *further* from the style photos' colours was learned in
    part at most: soft_glow, 27 % further, missed its target (RESULTS.md, Looks v2).
    """
    closer = held["closer_percent"]
    change = f"{closer:.0f}% closer" if closer >= 0 else f"{-closer:.0f}% further"
    where = _measured_on(held)
    lines = [f"{where}: colour distance to "
             f"the style photos {held['colour_distance_input']:.1f} -> {held['colour_distance_styled']:.1f} levels "
             f"({change}); flicker (warping-error ratio on a moving clip) {held['warping_error_ratio']:.2f}"]
    if closer <= 0:
        kind = "held-out " if held.get("content_held_out", True) else ""
        lines.append(f"warning: the {kind}content photos came out no closer to the style photos' colours, so the "
                     "look was probably learned only in part; style photos of the same kinds of scene as your "
                     "camera's (faces, rooms) let the look be told apart from what the photos show.")
    return lines

