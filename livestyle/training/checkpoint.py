"""Checkpoints: one safetensors file holding every tensor, with the JSON state in its metadata.

One file means one ``os.replace``: a ``kill -9`` at any moment leaves either
the previous checkpoint or the new one, never a mix.  Nothing is pickled;
optimiser states are flattened into named tensors plus JSON.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from livestyle.errors import TrainingError

STATE_KEY = "livestyle_state"


def io_error(exc: BaseException, path: str | os.PathLike | None = None) -> OSError | None:
    """``exc`` as an OSError when it is one, or a safetensors error that carries one ("I/O error: ... (os error
    28)": safetensors reports a full disk that way); else None."""
    if isinstance(exc, OSError):
        return exc
    found = re.search(r"os error (\d+)", str(exc))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code), None if path is None else str(path))


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write ``tensors`` and the JSON-able ``state`` to ``path`` atomically (tmp + fsync + os.replace).

    A failed write (a full disk) raises OSError and leaves the previous checkpoint as it was.
    """
    from safetensors.torch import save_file

    from livestyle.fsutil import atomic_path, write_json_atomic

    path = Path(path)
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path, what="checkpoint", private=True) as tmp:  # 0600, as safetensors made it
        try:
            save_file(cpu, str(tmp), metadata={STATE_KEY: json.dumps(state)})
        except Exception as e:
            err = io_error(e, path)
            if err is None:
                raise
            raise err from None
    # a readable copy for people; the safetensors metadata is the one that counts
    write_json_atomic(path.with_suffix(".json"), state)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`; TrainingError if missing or corrupt."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"No checkpoint to resume from: {str(path)!r} does not exist.",
                            fix="Start the run without --resume, or pass the --run-dir of an earlier run.")
    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
        state = json.loads(meta[STATE_KEY])
        if not isinstance(state, dict):
            raise ValueError("state is not a JSON object")
    except Exception as e:  # safetensors raises several types for a damaged file
        raise TrainingError(f"Checkpoint {str(path)!r} is corrupt or not a livestyle checkpoint "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}).",
                            fix="Delete it (and its .json) to start over, or restore a good copy.") from None
    return tensors, state


def read_state(path: str | os.PathLike) -> dict | None:
    """The JSON state of the checkpoint at ``path`` without reading its tensors; None if missing or unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            state = json.loads((f.metadata() or {})[STATE_KEY])
    except Exception:  # missing, damaged, not a checkpoint: load_checkpoint says so in one line
        return None
    return state if isinstance(state, dict) else None


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``opt.state_dict()`` into named tensors and a JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.state.{idx}.{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                        rest: dict) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the state into ``opt``."""
    state: dict[int, dict] = {}
    head = prefix + ".state."
    for name, v in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = v
    for idx, kv in rest.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(kv)
    groups = []
    for g in rest["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def module_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` with names prefixed ``prefix.``."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
    """Load the ``prefix.``-named tensors into ``module`` (strict); TrainingError if they do not fit."""
    head = prefix + "."
    sd = {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise TrainingError(f"Checkpoint weights for {prefix} do not fit the model ({str(e).splitlines()[0]}).",
                            fix="Resume with the same configuration, or start a new run.") from None
