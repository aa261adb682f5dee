"""The pieces of loading a style pack's float weights (safetensors only, never a pickle).

Safetensors reading, strict filling, the student and LUT configs of a pack's
metadata and :class:`Blend`.  Which files a pack has and what a mix is made
of are :mod:`livestyle.styles`' business: :func:`livestyle.styles.nets.load_look_net`
puts the two together (this module imports nothing from ``livestyle.styles``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from livestyle.errors import ModelError
from livestyle.models.lut import LutConfig
from livestyle.models.student import StudentConfig


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


def look_state(state: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    head = f"look.{index}."
    return {k[len(head):]: v for k, v in state.items() if k.startswith(head)}


class Blend(nn.Module):
    """sum_k w_k * net_k(x): a fixed blend of looks, (N, 3, H, W) BGR in [-1, 1] -> same."""

    def __init__(self, nets: list[nn.Module], weights: list[float]):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.blend_weights = [float(w) for w in weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each look's output is an image (clipped to [-1, 1]) before the blend, as in the engine
        return sum(w * torch.clamp(net(x), -1.0, 1.0) for w, net in zip(self.blend_weights, self.nets))


def student_config(pack) -> StudentConfig:
    """The CNN student's architecture of a format-1 pack or of an engine's texture look."""
    try:
        return StudentConfig.from_dict(pack.meta.get("student", {}) or {})
    except (TypeError, ValueError) as e:
        raise ModelError(f"Style {pack.name!r}: the student config in style.json is invalid ({e}).",
                         fix="Re-export the pack with `livestyle train --resume`.") from None
