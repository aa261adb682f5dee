"""The style-pack format and where packs are found.

A pack is a folder::

    NAME/
      style.json            metadata (below)
      student.onnx          the generator under the runtime contract:
                            input  "bgr": uint8 (1, H, W, 3) BGR
                            output "out": uint8 (1, H, W, 3) BGR
                            H, W dynamic, multiples of 4
      student.safetensors   the student's float weights (for the torch backends)

``style.json`` holds at least ``name``; also, when a pack was trained,
``look`` (the procedural look it was trained on, if any), ``default``
(bool, bundled packs only), ``student`` (the StudentConfig dict),
``recipe`` (data, steps, wall time, machine) and ``metrics``.

Packs are searched in this order (first name wins): the user's folder
(:func:`user_styles_dir`), then the packs bundled with livestyle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from livestyle.errors import StyleError

META_FILE = "style.json"
ONNX_FILE = "student.onnx"
WEIGHTS_FILE = "student.safetensors"
BUNDLED_DIR = Path(__file__).resolve().parent / "packs"


def user_styles_dir() -> Path:
    """``$LIVESTYLE_HOME/styles``, else ``$XDG_DATA_HOME/livestyle/styles``, else ``~/.local/share/livestyle/styles``."""
    home = os.environ.get("LIVESTYLE_HOME")
    if home:
        return Path(home) / "styles"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "livestyle" / "styles"


@dataclass(frozen=True)
class StylePack:
    """A loaded pack's paths and metadata (nothing heavy is loaded)."""

    name: str
    path: Path
    meta: dict = field(default_factory=dict, compare=False)
    bundled: bool = False

    @property
    def onnx(self) -> Path:
        return self.path / ONNX_FILE

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def default(self) -> bool:
        return bool(self.meta.get("default", False))

    @property
    def look(self) -> str | None:
        return self.meta.get("look")

    def to_json(self) -> dict:
        """The entry ``livestyle styles --json`` prints."""
        return {"name": self.name, "path": str(self.path), "onnx": str(self.onnx),
                "default": self.default, "bundled": self.bundled, "look": self.look,
                "meta": self.meta}


def load_pack(path: str | os.PathLike, *, bundled: bool = False) -> StylePack:
    """Read a pack folder; raise StyleError naming what is missing or malformed."""
    p = Path(path)
    if not p.is_dir():
        raise StyleError(f"Style folder {str(p)!r} does not exist.",
                         fix="Run `livestyle styles` to list installed styles.")
    meta_path = p / META_FILE
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except (OSError, ValueError) as e:
        raise StyleError(f"Style {str(p)!r} has an unreadable {META_FILE} ({e}).",
                         fix="Re-export the pack with `livestyle train --resume`, or delete it.") from None
    if not isinstance(meta, dict):
        raise StyleError(f"Style {str(p)!r}: {META_FILE} must hold a JSON object.", fix="Re-export the pack.")
    if not (p / ONNX_FILE).is_file():
        raise StyleError(f"Style {str(p)!r} has no {ONNX_FILE}.",
                         fix="A style pack needs student.onnx; re-export it with `livestyle train --resume`.")
    return StylePack(name=str(meta.get("name") or p.name), path=p, meta=meta, bundled=bundled)


def _scan(root: Path, bundled: bool) -> list[StylePack]:
    if not root.is_dir():
        return []
    packs = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and (d / ONNX_FILE).is_file():
            try:
                packs.append(load_pack(d, bundled=bundled))
            except StyleError:
                continue
    return packs


def discover() -> list[StylePack]:
    """All installed packs: the user's first, then bundled ones; a name appears once."""
    seen: set[str] = set()
    out = []
    for pack in _scan(user_styles_dir(), False) + _scan(BUNDLED_DIR, True):
        if pack.name not in seen:
            seen.add(pack.name)
            out.append(pack)
    return out


def default_style() -> StylePack:
    packs = discover()
    if not packs:
        raise StyleError("No style is installed.",
                         fix="Train one with `livestyle train --style-images DIR --content-images DIR --name NAME`.")
    for pack in packs:
        if pack.default:
            return pack
    return packs[0]


def find_style(name_or_path: str | None) -> StylePack:
    """A pack by name (installed) or by folder path; None gives the default style."""
    if name_or_path is None or name_or_path == "":
        return default_style()
    packs = discover()
    for pack in packs:
        if pack.name == name_or_path:
            return pack
    p = Path(name_or_path)
    if p.is_dir() or os.sep in name_or_path:
        return load_pack(p)
    names = ", ".join(pk.name for pk in packs) or "none installed"
    raise StyleError(f"Unknown style {name_or_path!r} (installed: {names}).",
                     fix="Pick one of those, pass a pack folder, or train one with `livestyle train`.")
