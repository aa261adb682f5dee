"""The training run: CycleGAN teacher -> distilled student -> ONNX style pack.

:func:`train` runs :class:`_CycleGAN` in the shared loop
(:mod:`livestyle.training.loop`): it reads the photos, builds the models,
runs :func:`_teacher_step` ``teacher_steps`` times, :func:`_student_step`
``student_steps`` times, and writes the pack.

Exact resume (:mod:`livestyle.training.loop`).  Everything random in a step comes from
``np.random.default_rng([seed, rank, stage, step])`` (crops, flips,
scales, pool choices, the consistency warps); the history pools are in the
checkpoint beside what the loop keeps there (weights, Adam moments, step
counters, wall time, the torch RNG).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from livestyle.errors import TrainingError
from livestyle.models.discriminator import PatchDiscriminator
from livestyle.models.student import Student, StudentConfig
from livestyle.models.teacher import ResnetGenerator, TeacherConfig
from livestyle.training import checkpoint as ckpt
from livestyle.training import dist
from livestyle.training.data import ImageSet, load_images
from livestyle.training.loop import FORMAT_VERSION, Stage, Trainer, load_state_tensors, lr_at, set_lr, state_tensors
from livestyle.training.losses import consistency, lsgan, random_similarity, split_target, stroke_target, warp
from livestyle.training.pool import ImagePool
from livestyle.training.progress import LossLog

log = logging.getLogger(__name__)

TEACHER_STAGE, STUDENT_STAGE = 1, 2


SPLITS = ("blur", "strokes")  # how --base-from splits a drawn look between the colour look and the teacher


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; saved in its checkpoint so ``--resume`` needs no flags."""

    style_images: str
    content_images: str
    name: str
    out_dir: str
    run_dir: str
    size: int = 128               # teacher crop side, pixels (multiple of 4)
    student_size: int = 0         # student crop side; 0 = same as size
    teacher_steps: int = 20000
    student_steps: int = 5000
    batch: int = 1                # per process
    seed: int = 0
    device: str = "auto"
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()
    disc_width: int = 64
    disc_layers: int = 3          # 3 = the 70x70 PatchGAN
    student_disc_width: int = 32
    student_disc_layers: int = 3
    lr: float = 2e-4
    pool_size: int = 50
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle
    w_pixel: float = 10.0         # student: L1 to the teacher's output
    w_feature: float = 1.0        # student: L1 of adapted features to the teacher's
    w_consistency: float = 10.0   # student: |G(T(x)) - T(G(x))|
    w_adversarial: float = 1.0    # student: LSGAN against the style photos
    max_shift_px: float = 4.0
    max_scale: float = 0.05
    checkpoint_every: int = 200
    sample_every: int = 200
    look: str | None = None
    threads: int = 0              # torch CPU threads; 0 = torch's default
    teacher_from: str | None = None  # style pack whose teacher is distilled; skips the CycleGAN stage
    base_from: str | None = None     # colour look whose low frequencies replace the teacher's (see split_target)
    split: str = "blur"              # with base_from: "blur" (split_target) or "strokes" (stroke_target)
    split_sigma: float = 4.0         # px at the student crop: where the base look's part ends and the teacher's begins
    stroke_radius: int = 2           # px at the student crop: strokes narrower than 2 r + 1 come from the teacher

    @property
    def distill_size(self) -> int:
        return self.student_size or self.size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["teacher"] = self.teacher.to_dict()
        d["student"] = self.student.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["teacher"] = TeacherConfig.from_dict(known.get("teacher", {}))
        known["student"] = StudentConfig.from_dict(known.get("student", {}))
        return cls(**known)


# Fields a resumed run may change; every other one must match the checkpoint.
FREE_ON_RESUME = frozenset({"style_images", "content_images", "out_dir", "run_dir", "teacher_steps",
                            "student_steps", "device", "checkpoint_every", "sample_every", "look", "threads",
                            "name"})


@dataclass
class TrainResult:
    pack: Path | None
    resumed_from: int | None
    metrics: dict = field(default_factory=dict)


def _validate(cfg: TrainConfig) -> None:
    m = cfg.student.size_multiple
    for name in ("size", "distill_size"):
        v = getattr(cfg, name)
        if v % m or v < 16:
            raise TrainingError(f"--{name.replace('_', '-')} must be a multiple of {m} and at least 16, got {v}.",
                                fix="Use e.g. --size 128.")
    for name in ("teacher_steps", "student_steps"):
        if getattr(cfg, name) < 0:
            raise TrainingError(f"--{name.replace('_', '-')} must be >= 0.", fix="Pass a step count.")
    if cfg.batch < 1 or cfg.checkpoint_every < 1 or cfg.sample_every < 1:
        raise TrainingError("--batch, --checkpoint-every and --sample-every must be >= 1.", fix="Pass positive values.")
    if cfg.split not in SPLITS:
        raise TrainingError(f"--split must be one of {', '.join(SPLITS)}, got {cfg.split!r}.",
                            fix="Use --split strokes or --split blur.")
    if not 1 <= cfg.stroke_radius <= 8:
        raise TrainingError(f"--stroke-radius must be 1 to 8 pixels, got {cfg.stroke_radius}.",
                            fix="Use e.g. --stroke-radius 2.")
    if not (cfg.split_sigma > 0 and math.isfinite(cfg.split_sigma)):
        raise TrainingError(f"--split-sigma must be a positive number of pixels, got {cfg.split_sigma}.",
                            fix="Use e.g. --split-sigma 4.")
    if not all(math.isfinite(w) and w >= 0 for w in (cfg.lambda_identity, cfg.lambda_cycle, cfg.w_consistency,
                                                     cfg.w_adversarial)):
        raise TrainingError("--cycle-weight, --identity-weight, --consistency-weight and --adversarial-weight "
                            "must be >= 0.",
                            fix="Use e.g. 10 and 0.5 (the CycleGAN defaults); 0 turns a term off.")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise TrainingError(f"--lr must be a positive number, got {cfg.lr}.", fix="Use e.g. --lr 0.0002.")
    if cfg.seed < 0:
        raise TrainingError(f"--seed must be >= 0, got {cfg.seed}.", fix="Use e.g. --seed 0.")
    if cfg.threads < 0:
        raise TrainingError(f"--threads must be >= 1 (or left out), got {cfg.threads}.", fix="Use e.g. --threads 2.")
    for flag, width, layers, size in (("--disc", cfg.disc_width, cfg.disc_layers, cfg.size),
                                      ("--student-disc", cfg.student_disc_width, cfg.student_disc_layers,
                                       cfg.distill_size)):
        if layers < 1 or width < 1:
            raise TrainingError(f"{flag}-layers and {flag}-width must be >= 1, got {layers} and {width}.",
                                fix=f"Use e.g. {flag}-layers 3.")
        if size < 3 * 2 ** layers:
            raise TrainingError(f"{flag}-layers {layers} needs crops of at least {3 * 2 ** layers} px; "
                                f"the crop is {size} px.", fix=f"Use a larger --size or fewer {flag}-layers.")
    if cfg.teacher.width < 1 or cfg.teacher.blocks < 0:
        raise TrainingError("--teacher-width must be >= 1 and --teacher-blocks >= 0.", fix="Use e.g. 32 and 6.")


class _DistillNet(nn.Module):
    """Student plus the 1x1 adapter that maps its features onto the teacher's (one DDP unit)."""

    def __init__(self, student: Student, teacher_channels: int):
        super().__init__()
        self.student = student
        self.adapter = nn.Conv2d(student.cfg.width, teacher_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.student(x)
        return y, self.adapter(self.student.features)


class _Run:
    """The mutable state of one run (models, optimisers, pools, counters) and its checkpoint I/O."""

    def __init__(self, cfg: TrainConfig, ctx: dist.DistContext):
        self.cfg, self.ctx = cfg, ctx
        dev = ctx.device
        torch.manual_seed(cfg.seed)
        self.G_AB = ResnetGenerator(cfg.teacher).to(dev)   # content -> style: the teacher we keep
        self.G_BA = ResnetGenerator(cfg.teacher).to(dev)
        self.D_A = PatchDiscriminator(cfg.disc_width, cfg.disc_layers).to(dev)
        self.D_B = PatchDiscriminator(cfg.disc_width, cfg.disc_layers).to(dev)
        betas = (0.5, 0.999)
        self.opt_G = torch.optim.Adam(list(self.G_AB.parameters()) + list(self.G_BA.parameters()), cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(list(self.D_A.parameters()) + list(self.D_B.parameters()), cfg.lr, betas=betas)
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        self.steps = {"teacher": 0, "student": 0}
        self.seconds = {"teacher": 0.0, "student": 0.0, "export": 0.0}
        self.distill: _DistillNet | None = None
        self.D_S: PatchDiscriminator | None = None
        self.base: torch.nn.Module | None = None  # the colour look of --base-from, frozen
        self.wrap_teacher_stage()

    def wrap_teacher_stage(self) -> None:
        self.G_AB_p, self.G_BA_p = dist.wrap(self.G_AB, self.ctx), dist.wrap(self.G_BA, self.ctx)
        self.D_A_p, self.D_B_p = dist.wrap(self.D_A, self.ctx), dist.wrap(self.D_B, self.ctx)

    def start_student_stage(self) -> None:
        """Build the student side (seeded, so a resume at student step 0 builds the same one)."""
        cfg, dev = self.cfg, self.ctx.device
        torch.manual_seed(cfg.seed + 1)
        self.distill = _DistillNet(Student(cfg.student), cfg.teacher.feature_channels).to(dev)
        self.D_S = PatchDiscriminator(cfg.student_disc_width, cfg.student_disc_layers).to(dev)
        betas = (0.5, 0.999)
        self.opt_S = torch.optim.Adam(self.distill.parameters(), cfg.lr, betas=betas)
        self.opt_DS = torch.optim.Adam(self.D_S.parameters(), cfg.lr, betas=betas)
        self.G_AB.eval().requires_grad_(False)
        # the CycleGAN's other halves are no longer needed
        self.G_BA = self.D_A = self.D_B = self.G_BA_p = self.D_A_p = self.D_B_p = None
        self.opt_G = self.opt_D = None
        self.pool_A = self.pool_B = None
        self.distill_p, self.D_S_p = dist.wrap(self.distill, self.ctx), dist.wrap(self.D_S, self.ctx)

    @property
    def in_student_stage(self) -> bool:
        return self.distill is not None

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the student learns to give for ``x``: the teacher's output, on the base look's colours if any."""
        out = self.G_AB(x)
        if self.base is None:
            return out
        if self.cfg.split == "strokes":
            return stroke_target(out, self.base(x), self.cfg.stroke_radius)
        return split_target(out, self.base(x), self.cfg.split_sigma)

    # -- checkpoints ---------------------------------------------------------------------------
    def _parts(self) -> tuple[dict, dict]:
        """The modules and optimisers of the stage the run is in, by their checkpoint names."""
        if self.in_student_stage:
            return ({"G_AB": self.G_AB, "distill": self.distill, "D_S": self.D_S},
                    {"S": self.opt_S, "DS": self.opt_DS})
        return ({"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B},
                {"G": self.opt_G, "D": self.opt_D})

    def save(self, path: Path, extra_state: dict) -> None:
        """Collective under DDP (pools are gathered); only rank 0 writes."""
        tensors, optim = state_tensors(*self._parts())
        state = {"version": FORMAT_VERSION, "teacher_step": self.steps["teacher"], "student_step": self.steps["student"],
                 "seconds": self.seconds, "world": self.ctx.world, "optim": optim, "pools": {}, **extra_state}
        if not self.in_student_stage:
            shape = (3, self.cfg.size, self.cfg.size)
            for tag, pool in (("A", self.pool_A), ("B", self.pool_B)):
                stacked, count = pool.state_tensor(shape, self.ctx.device)
                counts = dist.gather(torch.tensor([count], device=self.ctx.device), self.ctx)
                for r, (s, c) in enumerate(zip(dist.gather(stacked, self.ctx), counts)):
                    tensors[f"pool.{tag}.r{r}"] = s[: int(c.item())]
                    state["pools"][f"{tag}.r{r}"] = int(c.item())
        if self.ctx.main:
            ckpt.save_checkpoint(path, tensors, state)

    def restore(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        self.steps = {"teacher": int(state["teacher_step"]), "student": int(state["student_step"])}
        self.seconds.update(state.get("seconds", {}))
        if "model.D_S.net.0.weight" in tensors or any(k.startswith("model.distill.") for k in tensors) \
                or "model.G_BA.encoder.1.weight" not in tensors:
            self.start_student_stage()
        load_state_tensors(tensors, state, *self._parts())
        if not self.in_student_stage:
            r = self.ctx.rank
            for tag, pool in (("A", self.pool_A), ("B", self.pool_B)):
                key = f"pool.{tag}.r{r}"
                if key in tensors:
                    pool.load(tensors[key], int(state["pools"][f"{tag}.r{r}"]), self.ctx.device)


def _load_base(name: str, device) -> torch.nn.Module:
    """The colour look ``name`` (an installed look or a pack folder) as a frozen float network; TrainingError else."""
    from livestyle.errors import LivestyleError
    from livestyle.styles.nets import load_look_net
    from livestyle.models.lut import AdaptiveLUT
    from livestyle.styles.pack import find_style

    try:
        net = load_look_net(find_style(name))
    except LivestyleError as e:
        raise TrainingError(f"--base-from {name!r}: {e.message}", fix=e.fix or "Pick an installed colour look.") \
            from None
    if not isinstance(net, AdaptiveLUT):
        raise TrainingError(f"--base-from {name!r} is not a colour look; it must be one (an adaptive LUT).",
                            fix="Train one on the same photos first: livestyle train --style-images ... --name NAME.")
    return net.to(device).eval().requires_grad_(False)


def _batch(images: ImageSet, rng: np.random.Generator, n: int, device) -> torch.Tensor:
    return torch.from_numpy(images.sample(rng, n)).to(device)


def _teacher_step(run: _Run, style: ImageSet, content: ImageSet, step: int) -> dict[str, float]:
    """One CycleGAN step (A = content, B = style): generators, then discriminators."""
    cfg, ctx = run.cfg, run.ctx
    rng = np.random.default_rng([cfg.seed, ctx.rank, TEACHER_STAGE, step])
    real_A = _batch(content, rng, cfg.batch, ctx.device)
    real_B = _batch(style, rng, cfg.batch, ctx.device)
    lr = lr_at(step, cfg.teacher_steps, cfg.lr)
    set_lr(run.opt_G, lr)
    set_lr(run.opt_D, lr)
    n = real_A.shape[0]
    D_A, D_B = dist.unwrap(run.D_A_p), dist.unwrap(run.D_B_p)

    # generators; instance norm is per image, so one forward on [x, y] equals two forwards
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    out_AB = run.G_AB_p(torch.cat([real_A, real_B]))
    fake_B, idt_B = out_AB[:n], out_AB[n:]
    out_BA = run.G_BA_p(torch.cat([real_B, real_A]))
    fake_A, idt_A = out_BA[:n], out_BA[n:]
    rec_A = run.G_BA_p(fake_B)
    rec_B = run.G_AB_p(fake_A)
    g_adv = lsgan(D_B(fake_B), 1.0) + lsgan(D_A(fake_A), 1.0)
    cycle = (rec_A - real_A).abs().mean() + (rec_B - real_B).abs().mean()
    identity = (idt_B - real_B).abs().mean() + (idt_A - real_A).abs().mean()
    loss_G = g_adv + cfg.lambda_cycle * cycle + cfg.lambda_cycle * cfg.lambda_identity * identity
    run.opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    run.opt_G.step()

    # discriminators, on a history of fakes
    D_A.requires_grad_(True)
    D_B.requires_grad_(True)
    pooled_B = run.pool_B.query(fake_B, rng)
    pooled_A = run.pool_A.query(fake_A, rng)
    s_B = run.D_B_p(torch.cat([real_B, pooled_B]))
    s_A = run.D_A_p(torch.cat([real_A, pooled_A]))
    loss_DB = 0.5 * (lsgan(s_B[:n], 1.0) + lsgan(s_B[n:], 0.0))
    loss_DA = 0.5 * (lsgan(s_A[:n], 1.0) + lsgan(s_A[n:], 0.0))
    run.opt_D.zero_grad(set_to_none=True)
    (loss_DA + loss_DB).backward()
    run.opt_D.step()
    return {"G_adv": g_adv.item(), "cycle": cycle.item(), "identity": identity.item(),
            "D_A": loss_DA.item(), "D_B": loss_DB.item(), "lr": lr}


def _student_step(run: _Run, style: ImageSet, content: ImageSet, step: int) -> dict[str, float]:
    """One distillation step: pixel + feature + consistency (+ adversarial, then the student's discriminator)."""
    cfg, ctx = run.cfg, run.ctx
    rng = np.random.default_rng([cfg.seed, ctx.rank, STUDENT_STAGE, step])
    x = _batch(content, rng, cfg.batch, ctx.device)
    real_style = _batch(style, rng, cfg.batch, ctx.device)
    theta = random_similarity(rng, x.shape[0], cfg.distill_size, max_shift_px=cfg.max_shift_px,
                              max_scale=cfg.max_scale)
    lr = lr_at(step, cfg.student_steps, cfg.lr)
    set_lr(run.opt_S, lr)
    set_lr(run.opt_DS, lr)
    n = x.shape[0]
    with torch.no_grad():
        target = run.target(x)
        target_features = run.G_AB.features
    D_S = dist.unwrap(run.D_S_p)
    D_S.requires_grad_(False)
    x_warped = warp(x, theta)
    out, adapted = run.distill_p(torch.cat([x, x_warped]))
    y, y_of_warped = out[:n], out[n:]
    pixel = (y - target).abs().mean()
    feature = (adapted[:n] - target_features).abs().mean()
    border = int(math.ceil(cfg.max_shift_px + cfg.distill_size * cfg.max_scale / 2)) + 1
    cons = consistency(y_of_warped, warp(y, theta), border)
    loss = cfg.w_pixel * pixel + cfg.w_feature * feature + cfg.w_consistency * cons
    adversarial = cfg.w_adversarial > 0  # without the term its discriminator would be trained for nothing
    if adversarial:
        adv = lsgan(D_S(y), 1.0)
        loss = loss + cfg.w_adversarial * adv
    run.opt_S.zero_grad(set_to_none=True)
    loss.backward()
    run.opt_S.step()
    row = {"pixel": pixel.item(), "feature": feature.item(), "consistency": cons.item(), "lr": lr}
    if not adversarial:
        return row

    D_S.requires_grad_(True)
    s = run.D_S_p(torch.cat([real_style, y.detach()]))
    loss_D = 0.5 * (lsgan(s[:n], 1.0) + lsgan(s[n:], 0.0))
    run.opt_DS.zero_grad(set_to_none=True)
    loss_D.backward()
    run.opt_DS.step()
    return {**row, "adv": adv.item(), "D": loss_D.item()}


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two [-1, 1] batches, measured on the 0..255 scale."""
    mse = float(torch.mean(((a - b) * 127.5) ** 2))
    return 99.0 if mse <= 1e-10 else 10.0 * math.log10(255.0 ** 2 / mse)


class _CycleGAN(Trainer):
    """The CycleGAN teacher and its distilled student, in the shared loop."""

    free_on_resume = FREE_ON_RESUME
    config_type = TrainConfig
    result_type = TrainResult
    validate = staticmethod(_validate)

    def load(self, cfg: TrainConfig) -> None:
        self.style_s, self.content_s = self.style, self.content  # the student's crops
        if cfg.distill_size != cfg.size:
            self.style_s = load_images(cfg.style_images, cfg.distill_size, role="style images")
            self.content_s = load_images(cfg.content_images, cfg.distill_size, role="content images")

    def build(self, cfg: TrainConfig, ctx: dist.DistContext, fresh: bool, report) -> _Run:
        teacher_init = None
        if cfg.teacher_from and fresh:
            from livestyle.styles.pack import find_style
            from livestyle.styles.nets import load_teacher

            teacher_init = load_teacher(find_style(cfg.teacher_from))
            cfg = dataclasses.replace(cfg, teacher=teacher_init.cfg, teacher_steps=0)
        run = _Run(cfg, ctx)
        if teacher_init is not None:
            run.G_AB.load_state_dict(teacher_init.state_dict())
            report(f"teacher: taken from style {cfg.teacher_from!r} ({cfg.teacher}); no CycleGAN stage")
        if cfg.base_from:
            run.base = _load_base(cfg.base_from, ctx.device)
            how = (f"only its dark strokes narrower than {2 * cfg.stroke_radius + 1} px" if cfg.split == "strokes"
                   else f"its detail finer than a {cfg.split_sigma:g} px blur")
            report(f"colours and tone from the colour look {cfg.base_from!r}; from the teacher {how}")
            if cfg.split == "strokes" and cfg.w_adversarial == 0:
                report("the student learns that target alone, with no adversarial term: against the style photos it "
                       "draws a light band beside dark lines (--adversarial-weight to change)")
        self.fixed = torch.from_numpy(self.content.centre_crops(4)).to(ctx.device)
        self.fixed_s = torch.from_numpy(self.content_s.centre_crops(8)).to(ctx.device)
        return run

    def resumed_line(self, run: _Run, run_dir: Path) -> str:
        cfg, t, s = run.cfg, run.steps["teacher"], run.steps["student"]
        return (f"resumed from step {t + s} (teacher {t}/{cfg.teacher_steps}, student {s}/{cfg.student_steps}) "
                f"in {run_dir}")

    def totals(self, cfg: TrainConfig) -> dict[str, int]:
        return {"teacher": cfg.teacher_steps, "student": cfg.student_steps}

    def data_info(self, run: _Run) -> dict:
        run_dir = Path(run.cfg.run_dir)

        # paths relative to the run folder: a pack never records the training machine's absolute paths
        def rel(folder: str) -> str:
            return os.path.relpath(Path(folder).resolve(), run_dir.resolve())

        return {name: {"folder": rel(getattr(run.cfg, name)), "images": len(images), "files": images.files,
                       "skipped": images.skipped}
                for name, images in (("style_images", self.style), ("content_images", self.content))}

    def stages(self, run: _Run) -> Iterator[Stage]:
        cfg, ctx = run.cfg, run.ctx
        if not run.in_student_stage:
            yield Stage("teacher", cfg.teacher_steps, lambda i: _teacher_step(run, self.style, self.content, i),
                        opening=f"teacher: CycleGAN {cfg.teacher} on {len(self.content)} content and "
                                f"{len(self.style)} style images, {cfg.size}px crops, {cfg.teacher_steps} steps x "
                                f"{ctx.world} process(es)",
                        save_last=False)  # its last checkpoint is the one below, after the switch
            run.steps["teacher"] = max(run.steps["teacher"], cfg.teacher_steps)
            run.start_student_stage()
            self.save(run)  # the teacher is done: never train it again
        yield Stage("student", cfg.student_steps, lambda i: _student_step(run, self.style_s, self.content_s, i),
                    opening=f"student: distilling into {cfg.student} at {cfg.distill_size}px, "
                            f"{cfg.student_steps} steps")

    def sample_rows(self, run: _Run) -> list:
        fixed = self.fixed
        teacher = run.target(fixed) if run.in_student_stage else run.G_AB(fixed)
        student = run.distill.student(fixed) if run.in_student_stage else None
        return [fixed.cpu().numpy(), teacher.cpu().numpy(), None if student is None else student.cpu().numpy()]

    def export(self, run: _Run, losses: LossLog, resumed_from: int | None, report) -> TrainResult:
        from livestyle.training.packs import machine_info, set_export_seconds, write_pack

        cfg, ctx = run.cfg, run.ctx
        t0 = time.perf_counter()
        student = run.distill.student.to("cpu").eval()
        teacher = run.G_AB.to("cpu").eval()
        with torch.no_grad():
            fidelity = _psnr(student(self.fixed_s.cpu()), teacher(self.fixed_s.cpu()))
        metrics = {"teacher_final_losses": losses.final("teacher"), "student_final_losses": losses.final("student"),
                   "student_vs_teacher_psnr_db": round(fidelity, 3)}
        recipe = {**self.data_info(run), "size": cfg.size, "student_size": cfg.distill_size, "batch": cfg.batch,
                  "seed": cfg.seed, "world_size": ctx.world, "teacher_steps": cfg.teacher_steps,
                  "student_steps": cfg.student_steps, "wall_seconds": dict(run.seconds),
                  "teacher_from": cfg.teacher_from, "base_from": cfg.base_from, "split": cfg.split,
                  "split_sigma": cfg.split_sigma, "stroke_radius": cfg.stroke_radius,
                  "machine": machine_info(ctx.device), "losses": {k: getattr(cfg, k) for k in (
                      "lambda_cycle", "lambda_identity", "w_pixel", "w_feature", "w_consistency", "w_adversarial")},
                  "discriminator": {"width": cfg.disc_width, "layers": cfg.disc_layers}}
        meta = {"name": cfg.name, "student": cfg.student.to_dict(), "teacher": cfg.teacher.to_dict(),
                "recipe": recipe, "metrics": metrics}
        if cfg.look:
            meta["look"] = cfg.look
        export_s = time.perf_counter()
        pack_path, parity = write_pack(cfg.out_dir, cfg.name, student=student, teacher=teacher, meta=meta)
        run.seconds["export"] = round(time.perf_counter() - export_s, 3)
        metrics["export_parity_uint8"] = parity
        set_export_seconds(pack_path, run.seconds["export"])
        report(f"export: ONNX parity {parity} uint8 level(s), student/teacher PSNR {fidelity:.1f} dB, "
               f"{time.perf_counter() - t0:.1f} s")
        return TrainResult(pack=pack_path, resumed_from=resumed_from, metrics=metrics)


def train(cfg: TrainConfig, *, resume: bool = False, explicit: set[str] | None = None,
          report: Callable[[str], None] = lambda msg: None, progress: bool = True,
          stop=None, resume_command: str = "livestyle train --resume") -> TrainResult:
    """Run (or resume) training and install the style pack at ``cfg.out_dir/cfg.name``.

    ``explicit`` names the config fields the user set on the command line
    (on resume the rest come from the checkpoint).  ``report`` receives
    one-line progress messages for the user (the CLI prints them);
    ``progress`` shows a tqdm bar on stderr (rank 0 only).  ``stop`` (a
    :class:`~livestyle.training.signals.StopFlag`) is polled between steps.
    """
    return _CycleGAN().train(cfg, resume=resume, explicit=explicit or set(), report=report, progress=progress,
                             stop=stop, resume_command=resume_command)
