"""Single-process or DistributedDataParallel (under ``torchrun``) training context."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from livestyle.errors import TrainingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process trains: ``rank`` of ``world`` processes on ``device``; rank 0 is ``main``."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def resolve_device(name: str | None) -> str:
    """"cpu" | "cuda"; None or "auto" picks cuda when available.  TrainingError for cuda without CUDA."""
    if name in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise TrainingError(f"Unknown --device {name!r}; expected cpu or cuda.", fix="Pass --device cpu or --device cuda.")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"--device cuda was asked for, but this torch ({torch.__version__}) sees no CUDA GPU.",
                            fix="Use --device cpu, or install a CUDA build of torch on a machine with an NVIDIA GPU.")
    return name


def setup(device_name: str | None) -> DistContext:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and join the process group if WORLD_SIZE > 1.

    gloo on the CPU, NCCL on CUDA (one GPU per local rank).
    """
    kind = resolve_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(f"Local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible).",
                                fix="Start at most one process per GPU (torchrun --nproc-per-node N).")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        try:
            torch.distributed.init_process_group("nccl" if kind == "cuda" else "gloo")
        except Exception as e:
            raise TrainingError(f"Could not join the process group of {world} processes ({e}).",
                                fix="Start multi-process runs with torchrun --nproc-per-node N.") from None
        log.info("rank %d of %d on %s", rank, world, device)
    return DistContext(rank=rank, world=world, local_rank=local_rank, device=device)


def wrap(module: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DistributedDataParallel(module) when distributed, else the module itself."""
    if not ctx.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DDP(module, device_ids=ids)  # our modules hold no buffers


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)


def gather(tensor: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (same shape on all ranks), in rank order; [tensor] when not distributed."""
    if not ctx.distributed:
        return [tensor]
    out = [torch.empty_like(tensor) for _ in range(ctx.world)]
    torch.distributed.all_gather(out, tensor.contiguous())
    return out
