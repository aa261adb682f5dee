"""The one loader of a look's float weights: any installed look as a torch network (safetensors, never a pickle).

:func:`load_look_net` gives, for any installed look, a float network
(N, 3, H, W) BGR in [-1, 1] -> same: a format-1 pack's :class:`Student`, an
engine look's :class:`AdaptiveLUT`, or for a mix the weighted sum of its
base looks.  The torch runners, the trainer and the evaluator all use it.
:func:`load_teacher` reads a trained pack's CycleGAN teacher the same way.
Needs torch (the ``train`` extra or a torch backend).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from livestyle.models.loading import Blend, fill, look_state, lut_config, read_safetensors, student_config
from livestyle.models.lut import AdaptiveLUT
from livestyle.errors import StyleError
from livestyle.models.student import Student
from livestyle.models.teacher import ResnetGenerator, TeacherConfig
from livestyle.styles.blend import expand
from livestyle.styles.pack import ENGINE_WEIGHTS, META_FILE, TEACHER_FILE, StylePack, discover, load_pack, load_packs

__all__ = ["as_pack", "load_engine_luts", "load_look_net", "load_teacher"]


def load_engine_luts(folder: str | os.PathLike) -> dict[str, AdaptiveLUT]:
    """Every colour look of the engine pack at ``folder`` as a float :class:`AdaptiveLUT`, by name, in weight order.

    Texture looks (drawn looks, CNN students) are left out.
    """
    folder = Path(folder)
    state = read_safetensors(folder / ENGINE_WEIGHTS, folder.name)
    return {p.name: fill(AdaptiveLUT(lut_config(p.meta, p.name)), look_state(state, p.look_index), p.name,
                         ENGINE_WEIGHTS)
            for p in load_packs(folder) if p.meta.get("kind") != "texture"}


def load_look_net(pack) -> nn.Module:
    """The float network of one installed look (eval mode, CPU); see the module docstring."""
    if pack.mix is not None:
        installed = {p.name: p for p in discover()}
        blend = expand(pack)
        return Blend([load_look_net(installed[n]) for n in blend], list(blend.values())).eval()
    if pack.look_index is not None:  # one look of an engine: its own tensors only
        state = look_state(read_safetensors(pack.path / ENGINE_WEIGHTS, pack.name), pack.look_index)
        net = Student(student_config(pack)) if pack.meta.get("kind") == "texture" \
            else AdaptiveLUT(lut_config(pack.meta, pack.name))
        return fill(net, state, pack.name, ENGINE_WEIGHTS)
    state = read_safetensors(pack.weights, pack.name)
    return fill(Student(student_config(pack)), state, pack.name, pack.weights.name)


def as_pack(pack: StylePack | str | os.PathLike) -> StylePack:
    """``pack`` itself, or the pack at that folder."""
    if isinstance(pack, StylePack):
        return pack
    return load_pack(pack)


def _load_weights(module: nn.Module, path: Path, what: str) -> None:
    from safetensors.torch import load_file

    if not path.is_file():
        raise StyleError(f"Style pack has no {path.name} ({what} weights) at {str(path.parent)!r}.",
                         fix="Use a pack written by `livestyle train`, or re-export it with `livestyle train --resume`.")
    try:
        sd = load_file(str(path))
        module.load_state_dict(sd, strict=True)
    except Exception as e:
        raise StyleError(f"{what.capitalize()} weights {str(path)!r} are corrupt or do not match the pack's "
                         f"configuration ({type(e).__name__}).", fix="Re-train or re-export the pack.") from None


def load_teacher(pack: StylePack | str | os.PathLike) -> nn.Module:
    """The pack's content->style teacher generator (:class:`ResnetGenerator`), eval mode, on the CPU."""
    p = as_pack(pack)
    if "teacher" not in p.meta:
        raise StyleError(f"Style {p.name!r} records no teacher configuration in {META_FILE}.",
                         fix="Only packs trained with `livestyle train` carry a teacher.")
    net = ResnetGenerator(TeacherConfig.from_dict(p.meta["teacher"]))
    _load_weights(net, p.path / TEACHER_FILE, "teacher")
    return net.eval()
