"""Writing engine packs: K colour looks in one ONNX graph (see :mod:`livestyle.styles.pack` for the format).

Needs torch, onnx and onnxruntime (the ``train`` extra); the runtime never imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from livestyle.errors import TrainingError
from livestyle.fsutil import atomic_dir, write_json_atomic
from livestyle.models.lut import AdaptiveLUT, LookEngine
from livestyle.styles.pack import ENGINE_ONNX, ENGINE_WEIGHTS, FORMAT_VERSION, META_FILE

PARITY_LIMIT = 1


def engine_state(looks: list[AdaptiveLUT]) -> dict[str, torch.Tensor]:
    """The looks' float weights as one flat dict, tensor names ``look.<index>.<param>``."""
    out = {}
    for i, lk in enumerate(looks):
        for k, v in lk.state_dict().items():
            out[f"look.{i}.{k}"] = v.detach().to("cpu").contiguous()
    return out


def write_engine_pack(out_dir: str | os.PathLike, looks: list[tuple[str, AdaptiveLUT, dict]], *,
                      folder_name: str | None = None, shared: dict | None = None) -> tuple[Path, int]:
    """Export ``looks`` ((name, network, per-look metadata) in weight order) as one engine pack.

    The pack is assembled in a temporary sibling folder and renamed into
    place (``out_dir/folder_name``, default the first look's name), so a
    reader sees the old pack or the new one.  Returns (folder, parity in
    uint8 levels between the torch engine and ONNX Runtime); TrainingError
    when the parity exceeds :data:`PARITY_LIMIT`.
    """
    from safetensors.torch import save_file

    from livestyle.export.lut import check_engine_parity, export_engine

    nets = [net.eval().to("cpu") for _, net, _ in looks]
    engine = LookEngine(nets).eval()
    final = Path(out_dir) / (folder_name or looks[0][0])
    with atomic_dir(final, replace=True) as tmp:
        export_engine(engine, tmp / ENGINE_ONNX)
        parity = check_engine_parity(engine, tmp / ENGINE_ONNX)
        if parity > PARITY_LIMIT:
            raise TrainingError(f"The exported engine differs from PyTorch by {parity} uint8 levels "
                                f"(allowed: {PARITY_LIMIT}).",
                                fix="Report this with `livestyle --version`; nothing was installed.")
        save_file(engine_state(nets), str(tmp / ENGINE_WEIGHTS))
        entries = []
        for name, _, meta in looks:
            entry = {"name": name, **{k: v for k, v in (meta or {}).items() if v is not None}}
            entries.append(entry)
        meta = {"format_version": FORMAT_VERSION, "name": folder_name or looks[0][0], **(shared or {}),
                "engine": {"lut": engine.cfg.to_dict(), "export_parity_uint8": parity}, "looks": entries}
        write_json_atomic(tmp / META_FILE, meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask)
    return final, parity


def merge_looks(looks: list, out_dir: str | os.PathLike, folder_name: str, *,
                extra_meta: dict[str, dict] | None = None, shared: dict | None = None) -> tuple[Path, int]:
    """One engine pack from installed colour looks (:class:`StylePack` of engine looks), in the given order.

    Each look keeps its own metadata (look, metrics, recipe), updated with
    ``extra_meta[name]``; returns (folder, parity).  Raises TrainingError
    for a look that is not a colour (engine) look.
    """
    from livestyle.models.loading import load_look_net

    entries = []
    for pack in looks:
        if pack.look_index is None:
            raise TrainingError(f"Style {pack.name!r} is not a colour look (format {pack.format_version}, no engine); "
                                "only adaptive-LUT looks can share an engine.",
                                fix="Train it with `livestyle train` (the colour path is the default).")
        meta = {k: v for k, v in pack.meta.items() if k in ("look", "metrics", "recipe", "description")}
        meta.update((extra_meta or {}).get(pack.name, {}))
        entries.append((pack.name, load_look_net(pack), meta))
    return write_engine_pack(out_dir, entries, folder_name=folder_name, shared=shared)
