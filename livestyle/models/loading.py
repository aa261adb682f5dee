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


def load_engine_luts(folder: str | os.PathLike) -> dict[str, AdaptiveLUT]:
    """Every colour look of the engine pack at ``folder`` as a float :class:`AdaptiveLUT`, by name, in weight order.

    Texture looks (drawn looks, CNN students) are left out.
    """
    from livestyle.styles.pack import ENGINE_WEIGHTS, load_packs

    folder = Path(folder)
    state = read_safetensors(folder / ENGINE_WEIGHTS, folder.name)
    return {p.name: fill(AdaptiveLUT(lut_config(p.meta, p.name)), _look_state(state, p.look_index), p.name,
                         ENGINE_WEIGHTS)
            for p in load_packs(folder) if p.meta.get("kind") != "texture"}


def _look_state(state: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
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


def load_look_net(pack) -> nn.Module:
    """The float network of one installed look (eval mode, CPU); see the module docstring."""
    if pack.mix is not None:
        from livestyle.styles.blend import expand
        from livestyle.styles.pack import discover

        installed = {p.name: p for p in discover()}
        blend = expand(pack)
        return Blend([load_look_net(installed[n]) for n in blend], list(blend.values())).eval()
    if pack.look_index is not None:  # one look of an engine: its own tensors only
        from livestyle.styles.pack import ENGINE_WEIGHTS

        state = _look_state(read_safetensors(pack.path / ENGINE_WEIGHTS, pack.name), pack.look_index)
        net = Student(student_config(pack)) if pack.meta.get("kind") == "texture" \
            else AdaptiveLUT(lut_config(pack.meta, pack.name))
        return fill(net, state, pack.name, ENGINE_WEIGHTS)
    state = read_safetensors(pack.weights, pack.name)
    return fill(Student(student_config(pack)), state, pack.name, pack.weights.name)


def student_config(pack) -> StudentConfig:
    """The CNN student's architecture of a format-1 pack or of an engine's texture look."""
    try:
        return StudentConfig.from_dict(pack.meta.get("student", {}) or {})
    except (TypeError, ValueError) as e:
        raise ModelError(f"Style {pack.name!r}: the student config in style.json is invalid ({e}).",
                         fix="Re-export the pack with `livestyle train --resume`.") from None
