"""The training loop every trainer runs: open or resume, the stages, checkpoints, samples, progress, stop, export.

A trainer (:class:`Trainer`) supplies what is its own: its config checks,
its photos, its models (a run state with ``save`` / ``restore``), its stages
(each a step function, :class:`Stage`), the rows of its sample grid and its
export.  :meth:`Trainer.train` does the rest, the same way for all:

* **open / resume**: a new run refuses a folder that already holds a
  checkpoint; ``--resume`` reads it, refuses another trainer's or another
  version's, takes the saved config with only the flags that may change
  (:func:`resume_config`), and needs the same number of processes;
* **the stage loop**: each stage runs from its saved step counter to its
  total; every step's losses go to ``losses.jsonl`` (cut back to the
  checkpoint's steps on resume), the tqdm bar and the stage's wall time;
* **cadence**: a sample grid every ``sample_every`` steps and at a stage's
  end, a checkpoint every ``checkpoint_every`` steps (and after a stage's last
  step when it says so);
* **signals**: a :class:`~livestyle.training.signals.StopFlag` is polled
  between steps; when it trips the checkpoint is saved and
  :class:`~livestyle.training.signals.TrainingStopped` names the command that
  resumes (a stop during the last step of a stage that saves at its end, the
  run's final stage, lets the run finish and export instead);
* **export**: rank 0 alone calls the trainer's export, then every rank waits.

Exact resume.  Everything random in a step comes from the trainer's
``np.random.default_rng([seed, rank, stage, step])``; everything else that
changes (weights, Adam moments, step counters, wall time, the torch RNG) is in
the checkpoint, and the learning rate is a pure function of the step
(:func:`lr_at`).  With the same thread count, a run resumed after ``kill -9``
ends with the same weights, bit for bit, as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from livestyle.errors import TrainingError
from livestyle.training import checkpoint as ckpt
from livestyle.training import dist
from livestyle.training.data import load_images
from livestyle.training.progress import LossLog, draw_curves, sample_grid, write_png

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT_VERSION = 1

Report = Callable[[str], None]


def lr_at(step: int, total: int, base: float, floor: float = 0.0) -> float:
    """Constant ``base`` for the first half of ``total`` steps, then linear down to ``floor * base`` at the end."""
    half = total // 2
    if step < half:
        return base
    return base * (1.0 - (1.0 - floor) * min(1.0, (step - half) / max(1, total - half)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def resume_config(cfg, saved, explicit: set[str], free: frozenset[str]):
    """The saved config with the flags the user gave (``explicit``) that may change on resume (``free``);
    TrainingError naming every other flag that differs from the checkpoint."""
    clashes, updates = [], {}
    fields = type(saved).__dataclass_fields__
    for name in explicit:
        if name not in fields:
            continue
        mine, theirs = getattr(cfg, name), getattr(saved, name)
        if name in free:
            updates[name] = mine
        elif mine != theirs:
            clashes.append(f"{name}={mine!r} (checkpoint: {theirs!r})")
    if clashes:
        raise TrainingError("--resume with settings that differ from the checkpoint: " + "; ".join(sorted(clashes)) + ".",
                            fix="Drop those flags to continue the run as it was, or start a new run (other --run-dir).")
    return dataclasses.replace(saved, **updates)


def state_tensors(modules: dict[str, torch.nn.Module], optims: dict[str, torch.optim.Optimizer]
                  ) -> tuple[dict[str, torch.Tensor], dict]:
    """The torch RNG, ``model.<name>.*`` weights and ``opt.<name>.*`` optimiser tensors of a checkpoint, and the
    optimisers' JSON rest (for its state's ``"optim"``)."""
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    for name, module in modules.items():
        tensors.update(ckpt.module_tensors(module, f"model.{name}"))
    rest = {}
    for name, opt in optims.items():
        t, rest[name] = ckpt.optimizer_to_flat(opt, f"opt.{name}")
        tensors.update(t)
    return tensors, rest


def load_state_tensors(tensors: dict[str, torch.Tensor], state: dict, modules: dict[str, torch.nn.Module],
                       optims: dict[str, torch.optim.Optimizer]) -> None:
    """Inverse of :func:`state_tensors` (the torch RNG is set by the loop, after the whole restore)."""
    for name, module in modules.items():
        ckpt.load_module(module, f"model.{name}", tensors)
    for name, opt in optims.items():
        ckpt.optimizer_from_flat(opt, f"opt.{name}", tensors, state["optim"][name])


@dataclass
class Stage:
    """One stage of a run: ``step(i)`` does step ``i`` (from 0) and returns its losses (and ``lr``)."""

    name: str                              # its rows in losses.jsonl, its sample files, its counter in run.steps
    total: int
    step: Callable[[int], dict[str, float]]
    opening: str = ""                      # reported when the stage starts from step 0
    save_last: bool = True                 # checkpoint after the last step (else the trainer saves at its end)


class Trainer:
    """What one kind of training supplies; :meth:`train` runs it.

    The run state that :meth:`build` returns has ``cfg``, ``steps`` (stage ->
    steps done), ``seconds`` (stage -> wall seconds of its steps), and
    ``save(path, extra_state)`` / ``restore(tensors, state)`` for the
    checkpoint (``save`` is collective under DDP; only rank 0 writes).
    """

    tag: str | None = None                 # the checkpoint state's "trainer" entry (None: it has none)
    foreign: str = "was written by another livestyle version"
    free_on_resume: frozenset[str] = frozenset()
    config_type: type                      # its config dataclass (with to_dict / from_dict)
    result_type: type                      # what train returns: (pack, resumed_from, ...); pack None off rank 0

    # -- what a trainer supplies -----------------------------------------------------------------
    def validate(self, cfg) -> None:
        """TrainingError (one line) for any setting that cannot work; before any photo is read."""
        raise NotImplementedError

    def load(self, cfg) -> None:
        """Anything more to read once the loop has read ``self.style`` and ``self.content`` (the photos at
        ``cfg.size``), before the run folder is made."""

    def build(self, cfg, ctx: dist.DistContext, fresh: bool, report: Report) -> Any:
        """The run state: models, optimisers, counters (a resumed run's are restored after this)."""
        raise NotImplementedError

    def resumed_line(self, run, run_dir: Path) -> str:
        raise NotImplementedError

    def totals(self, cfg) -> dict[str, int]:
        """Each stage's step count, in order."""
        raise NotImplementedError

    def stages(self, run) -> Iterator[Stage]:
        """The stages in order; between them a trainer may change its models and :meth:`save`."""
        raise NotImplementedError

    def data_info(self, run) -> dict:
        """What the checkpoint and the pack record about the photos."""
        raise NotImplementedError

    def sample_rows(self, run) -> list[np.ndarray | None]:
        """The rows of a sample grid (each (N, 3, H, W) in [-1, 1]; None = grey)."""
        raise NotImplementedError

    def export(self, run, losses: LossLog, resumed_from: int | None, report: Report):
        """Write and install the pack (rank 0 only); the result :meth:`train` returns."""
        raise NotImplementedError

    # -- the loop --------------------------------------------------------------------------------
    def save(self, run) -> None:
        run.save(self.ckpt_path, self.extra_state)

    def train(self, cfg, *, resume: bool, explicit: set[str], report: Report, progress: bool, stop=None,
              resume_command: str = ""):
        """Run (or resume) the training of ``cfg`` and install its pack; see the module docstring."""
        ctx = dist.setup(cfg.device)
        try:
            return self._train(cfg, ctx, resume=resume, explicit=explicit, report=report, progress=progress,
                               stop=stop, resume_command=resume_command)
        finally:
            ctx.close()

    def _open(self, cfg, ctx: dist.DistContext, resume: bool, explicit: set[str]):
        """(cfg, saved tensors, saved state): a resumed run's checkpoint and config, after every check."""
        run_dir = Path(cfg.run_dir)
        self.ckpt_path = run_dir / CHECKPOINT_FILE
        if not resume:
            if self.ckpt_path.exists():
                raise TrainingError(f"Run folder {str(run_dir)!r} already holds a checkpoint.",
                                    fix="Pass --resume to continue it, or choose another --run-dir (or delete that "
                                        "folder).")
            return cfg, None, None
        tensors, state = ckpt.load_checkpoint(self.ckpt_path)
        if state.get("version") != FORMAT_VERSION or state.get("trainer") != self.tag or "config" not in state:
            raise TrainingError(f"Checkpoint {str(self.ckpt_path)!r} {self.foreign}.",
                                fix="Start a new run (other --run-dir).")
        cfg = resume_config(cfg, self.config_type.from_dict(state["config"]), explicit, self.free_on_resume)
        if state.get("world", 1) != ctx.world:
            raise TrainingError(f"The checkpoint was written by {state.get('world', 1)} processes, "
                                f"this run has {ctx.world}.", fix="Resume with the same torchrun --nproc-per-node.")
        return cfg, tensors, state

    def _train(self, cfg, ctx: dist.DistContext, *, resume: bool, explicit: set[str], report: Report,
               progress: bool, stop, resume_command: str):
        if not ctx.main:
            report = lambda msg: None  # noqa: E731 - one voice per run
        run_dir = Path(cfg.run_dir)
        self.explicit = explicit  # the config fields the user set (a trainer's build may pick the others)
        cfg, saved_tensors, saved_state = self._open(cfg, ctx, resume, explicit)
        self.validate(cfg)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.style = load_images(cfg.style_images, cfg.size, role="style images")
        self.content = load_images(cfg.content_images, cfg.size, role="content images")
        self.load(cfg)

        if ctx.main:
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
            for stale in run_dir.glob(".*.tmp-*"):  # what a killed run's atomic writes left
                stale.unlink(missing_ok=True)
        ctx.barrier()
        losses = LossLog(run_dir / "losses.jsonl")
        run = self.build(cfg, ctx, saved_state is None, report)
        resumed_from = None
        if saved_state is not None:
            run.restore(saved_tensors, saved_state)
            if "rng.torch" in saved_tensors:
                torch.set_rng_state(saved_tensors["rng.torch"])
            resumed_from = sum(run.steps.values())
            report(self.resumed_line(run, run_dir))
            saved_tensors = None
        if ctx.main:
            done = dict(run.steps)
            losses.restore(lambda r: r.get("stage") in done and r.get("step", 0) <= done[r["stage"]])
        self.extra_state = {"config": run.cfg.to_dict(), "data": self.data_info(run)}

        from tqdm import tqdm

        total = sum(self.totals(run.cfg).values())
        bar = tqdm(total=total, initial=min(total, sum(run.steps.values())), desc=f"train {run.cfg.name}",
                   unit="step", file=sys.stderr, disable=not (progress and ctx.main), dynamic_ncols=True)
        try:
            for stage in self.stages(run):
                if run.steps[stage.name] == 0 < stage.total and stage.opening:
                    report(stage.opening)
                self._run_stage(run, stage, bar, losses, run_dir, stop, resume_command)
        finally:
            bar.close()

        result = self.result_type(pack=None, resumed_from=resumed_from)
        if ctx.main:
            result = self.export(run, losses, resumed_from, report)
        ctx.barrier()
        return result

    def _run_stage(self, run, stage: Stage, bar, losses: LossLog, run_dir: Path, stop, resume_command: str) -> None:
        """Run ``stage`` from ``run.steps[stage.name]`` up to its total.

        Wall time spent in samples and checkpoints is not counted in ``run.seconds``.
        """
        cfg, ctx, name = run.cfg, run.ctx, stage.name
        t0 = time.perf_counter()
        while run.steps[name] < stage.total:
            values = stage.step(run.steps[name])
            run.steps[name] += 1
            step = run.steps[name]
            run.seconds[name] += time.perf_counter() - t0
            if ctx.main:
                losses.append({"stage": name, "step": step, **values})
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items() if k != "lr"}, refresh=False)
                bar.update(1)
            last = step == stage.total
            if (step % cfg.sample_every == 0 or last) and ctx.main:
                self._write_samples(run, run_dir, f"{name}-{step:06d}", losses.rows)
            # a stop during the step that ends the run lets it finish: all that is left is the export
            stopping = stop is not None and stop.requested and not (last and stage.save_last)
            if (step % cfg.checkpoint_every == 0 and not last) or (last and stage.save_last) or stopping:
                self.save(run)
            if stopping:
                raise stop.stopped(sum(run.steps.values()), resume_command)
            t0 = time.perf_counter()

    def _write_samples(self, run, run_dir: Path, tag: str, log_rows: list[dict]) -> None:
        with torch.no_grad():
            rows = self.sample_rows(run)
        grid = sample_grid(rows)
        write_png(run_dir / "samples" / f"{tag}.png", grid)
        write_png(run_dir / "samples" / "latest.png", grid)
        draw_curves(log_rows, run_dir / "losses.png")
