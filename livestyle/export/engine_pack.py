"""Writing engine packs: K looks in one ONNX graph (see :mod:`livestyle.styles.pack` for the format).

Colour looks are adaptive LUTs; drawn looks join as texture looks (their CNN student).

Needs torch, onnx and onnxruntime (the ``train`` extra); the runtime never imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from livestyle.errors import TrainingError
from livestyle.fsutil import atomic_dir, write_json_atomic
from livestyle.models.lut import AdaptiveLUT, LookEngine
from livestyle.models.student import Student
from livestyle.styles.pack import ENGINE_FORMAT_VERSION, ENGINE_ONNX, ENGINE_WEIGHTS, LOCAL_FORMAT_VERSION, META_FILE

PARITY_LIMIT = 1


def engine_state(looks: list[nn.Module]) -> dict[str, torch.Tensor]:
    """The looks' float weights as one flat dict, tensor names ``look.<index>.<param>``."""
    out = {}
    for i, lk in enumerate(looks):
        for k, v in lk.state_dict().items():
            out[f"look.{i}.{k}"] = v.detach().to("cpu").contiguous()
    return out


def write_engine_pack(out_dir: str | os.PathLike, looks: list[tuple[str, nn.Module, dict]], *,
                      folder_name: str | None = None, shared: dict | None = None,
                      slopes: str | None = None) -> tuple[Path, int]:
    """Export ``looks`` ((name, network, per-look metadata) in weight order) as one engine pack.

    A network is a colour look (:class:`AdaptiveLUT`) or a texture look (a
    CNN :class:`Student`, for drawn looks; run only when its weight is above
    0, see :mod:`livestyle.export.compose`).  An engine needs at least one
    colour look.  The pack is assembled in a temporary sibling folder and
    renamed into place (``out_dir/folder_name``, default the first look's
    name), so a reader sees the old pack or the new one.  ``slopes``: the
    runtime's slopes inside a table cell (:class:`LutConfig`; default its
    default).  Returns (folder,
    parity in uint8 levels between the torch engine and ONNX Runtime);
    TrainingError when the parity exceeds :data:`PARITY_LIMIT`.
    """
    from safetensors.torch import save_file

    from livestyle.export.lut import check_engine_parity, export_engine

    nets = [net.eval().to("cpu") for _, net, _ in looks]
    colour = [i for i, n in enumerate(nets) if isinstance(n, AdaptiveLUT)]
    texture = [i for i, n in enumerate(nets) if isinstance(n, Student)]
    if len(colour) + len(texture) != len(nets):
        raise TrainingError("An engine holds colour looks (adaptive LUTs) and texture looks (CNN students) only.",
                            fix="Report this with `livestyle --version`; nothing was installed.")
    if not colour:
        raise TrainingError("An engine needs at least one colour look; these are all texture looks.",
                            fix="Add a colour look, or keep the texture look as its own pack.")
    lut_engine = LookEngine([nets[i] for i in colour], slopes=slopes).eval()
    final = Path(out_dir) / (folder_name or looks[0][0])
    with atomic_dir(final, replace=True) as tmp:
        if texture or lut_engine.local_index:  # branches: texture looks, or the local part of a colour look
            from livestyle.export.compose import MixedEngine, check_mixed_parity, export_mixed_engine

            engine = MixedEngine(lut_engine, colour, [nets[i] for i in texture], texture).eval()
            export_mixed_engine(engine, tmp / ENGINE_ONNX)
            parity = check_mixed_parity(engine, tmp / ENGINE_ONNX)
        else:
            export_engine(lut_engine, tmp / ENGINE_ONNX)
            parity = check_engine_parity(lut_engine, tmp / ENGINE_ONNX)
        if parity > PARITY_LIMIT:
            raise TrainingError(f"The exported engine differs from PyTorch by {parity} uint8 levels "
                                f"(allowed: {PARITY_LIMIT}).",
                                fix="Report this with `livestyle --version`; nothing was installed.")
        save_file(engine_state(nets), str(tmp / ENGINE_WEIGHTS))
        entries = []
        for i, (name, _, meta) in enumerate(looks):
            entry = {"name": name, **{k: v for k, v in (meta or {}).items() if v is not None}}
            if i in texture:
                entry.update(kind="texture", student=nets[i].cfg.to_dict())
            else:
                entry.pop("kind", None)
                entry.pop("student", None)
            entries.append(entry)
        size_multiple = max([lut_engine.cfg.size_multiple] + [nets[i].cfg.size_multiple for i in texture])
        # a local part needs a livestyle that loads its coefficients: format 4; otherwise the pack stays format 3
        version = LOCAL_FORMAT_VERSION if lut_engine.local_index else ENGINE_FORMAT_VERSION
        meta = {"format_version": version, "name": folder_name or looks[0][0], **(shared or {}),
                "engine": {"lut": lut_engine.cfg.to_dict(), "size_multiple": size_multiple,
                           "export_parity_uint8": parity},
                "looks": entries}
        write_json_atomic(tmp / META_FILE, meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask)
    return final, parity


def merge_looks(looks: list, out_dir: str | os.PathLike, folder_name: str, *,
                extra_meta: dict[str, dict] | None = None, shared: dict | None = None) -> tuple[Path, int]:
    """One engine pack from installed looks (:class:`StylePack`), in the given order.

    Colour looks (engine looks) and single-look CNN packs (format 1, which
    become texture looks) can be merged.  Each look keeps its own metadata
    (look, metrics, recipe), updated with ``extra_meta[name]``; returns
    (folder, parity).  Raises TrainingError for a mix.
    """
    from livestyle.styles.nets import load_look_net

    entries = []
    for pack in looks:
        if pack.mix is not None:
            raise TrainingError(f"Style {pack.name!r} is a mix of other looks, not a look of its own.",
                                fix="Merge the looks it mixes; the mix itself stays a saved blend.")
        meta = {k: v for k, v in pack.meta.items() if k in ("look", "metrics", "recipe", "description")}
        meta.update((extra_meta or {}).get(pack.name, {}))
        entries.append((pack.name, load_look_net(pack), meta))
    return write_engine_pack(out_dir, entries, folder_name=folder_name, shared=shared)


def random_engine_pack(out_dir: str | os.PathLike, names: list[str], *, seed: int = 0, folder_name: str | None = None,
                       meta: dict | None = None) -> Path:
    """An engine pack of random colour looks named ``names`` (:func:`livestyle.export.lut.random_looks`); its folder.

    For tests and benchmarks: the same graph and cost as trained looks.
    """
    from livestyle.export.lut import random_looks

    looks = random_looks(len(names), seed=seed)
    entries = [(n, lk, {"random_init": True, **((meta or {}).get(n, {}))}) for n, lk in zip(names, looks)]
    folder, _ = write_engine_pack(out_dir, entries, folder_name=folder_name or "engine")
    return folder
