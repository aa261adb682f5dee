"""The one loader of a style pack's float weights (safetensors only, never a pickle).

:func:`load_look_net` gives, for any installed look, a float network
(N, 3, H, W) BGR in [-1, 1] -> same: a format-1 pack's :class:`Student`, an
engine look's :class:`AdaptiveLUT`, or for a mix the weighted sum of its
base looks.  The torch runners, the trainer and the evaluator all use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from livestyle.errors import ModelError
from livestyle.models.lut import AdaptiveLUT, LutConfig
from livestyle.models.student import Student, StudentConfig


def read_safetensors(path: Path, style_name: str) -> dict[str, torch.Tensor]:
    """All tensors of ``path``; ModelError naming the style when it is missing or unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelError(f"Style {style_name!r} has no {path.name} (the torch backends need the float weights).",
                         fix="Use --backend onnxruntime or tensorrt (they need only the .onnx file), "
                             "or re-export the pack with `livestyle train --resume`.")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"Style {style_name!r}: {path.name} is not a readable safetensors file ({e}).",
                         fix="Re-export the pack with `livestyle train --resume`.") from None


def fill(module: nn.Module, state: dict[str, torch.Tensor], style_name: str, file_name: str) -> nn.Module:
    """Load ``state`` into ``module`` strictly; ModelError when they do not fit. Returns the module in eval mode."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:200]
        raise ModelError(f"Style {style_name!r}: {file_name} does not fit the network described in style.json "
                         f"({first}).", fix="Re-export the pack so weights and style.json agree.") from None
    return module.eval()


def lut_config(meta: dict, style_name: str) -> LutConfig:
    try:
        return LutConfig.from_dict((meta.get("engine") or {}).get("lut") or {})
    except (TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"Style {style_name!r}: the engine's LUT config in style.json is invalid ({e}).",
                         fix="Re-export the engine pack.") from None


def load_engine_luts(folder: str | os.PathLike, meta: dict, names: tuple[str, ...]) -> list[AdaptiveLUT]:
    """Every look of the engine pack at ``folder`` as float :class:`AdaptiveLUT` modules, in weight order."""
    folder = Path(folder)
    from livestyle.styles.pack import ENGINE_WEIGHTS

    cfg = lut_config(meta, folder.name)
    state = read_safetensors(folder / ENGINE_WEIGHTS, folder.name)
    looks = []
    for i, name in enumerate(names):
        head = f"look.{i}."
        sub = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
        looks.append(fill(AdaptiveLUT(cfg), sub, name, ENGINE_WEIGHTS))
    return looks


class Blend(nn.Module):
    """sum_k w_k * net_k(x): a fixed blend of looks, (N, 3, H, W) BGR in [-1, 1] -> same."""

    def __init__(self, nets: list[nn.Module], weights: list[float]):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.blend_weights = [float(w) for w in weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each look's output is an image (clipped to [-1, 1]) before the blend, as in the engine
        return sum(w * torch.clamp(net(x), -1.0, 1.0) for w, net in zip(self.blend_weights, self.nets))


def load_look_net(pack) -> nn.Module:
    """The float network of one installed look (eval mode, CPU); see the module docstring."""
    if pack.mix is not None:
        from livestyle.styles.blend import expand
        from livestyle.styles.pack import discover

        installed = {p.name: p for p in discover()}
        blend = expand(pack)
        return Blend([load_look_net(installed[n]) for n in blend], list(blend.values())).eval()
    if pack.look_index is not None:
        luts = load_engine_luts(pack.path, pack.meta, pack.engine_looks)
        return luts[pack.look_index]
    try:
        cfg = StudentConfig.from_dict(pack.meta.get("student", {}) or {})
    except (TypeError, ValueError) as e:
        raise ModelError(f"Style {pack.name!r}: the student config in style.json is invalid ({e}).",
                         fix="Re-export the pack with `livestyle train --resume`.") from None
    state = read_safetensors(pack.weights, pack.name)
    return fill(Student(cfg), state, pack.name, pack.weights.name)


def size_multiple(pack) -> int:
    """The frame-size multiple a look's network needs (4 for the CNN student, 1 for a LUT look)."""
    if pack.look_index is not None or pack.mix is not None:
        return lut_config(pack.meta, pack.name).size_multiple if pack.look_index is not None else 1
    return StudentConfig.from_dict(pack.meta.get("student", {}) or {}).size_multiple
