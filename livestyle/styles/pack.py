"""The style-pack format (versioned) and where packs are found.

Three kinds of pack folder; ``style.json`` says which (``format_version``
absent means 1):

**Single look, format 1** (the residual CNN student)::

    NAME/
      style.json            name, look, default, student (StudentConfig), recipe, metrics
      student.onnx          input "bgr" uint8 (1, H, W, 3) BGR -> output "out" uint8 (1, H, W, 3) BGR
      student.safetensors   the student's float weights (for the torch backends)

**Engine, format 3** (K colour looks in one graph)::

    NAME/
      style.json            format_version 3, name, engine {lut: LutConfig},
                            looks: [{name, look, default, metrics, recipe}, ...] in weight order
      engine.onnx           inputs "bgr" uint8 (1, H, W, 3) BGR, "weights" float32 (1, K),
                            "mix_state" float32 (K, bases), "mix_rate" float32 (1,)
                            -> outputs "out" uint8 (1, H, W, 3) BGR, "mix_next" float32 (K, bases);
                            H, W dynamic (the state: :mod:`livestyle.runners.contract`)
      engine.safetensors    the looks' float weights, tensor names "look.<index>.<param>"

  **Engine, format 4**: format 3 where some colour look has a local part (vignette, bloom;
  :class:`livestyle.models.lut.LocalMaps`): its coefficients are the tensor "look.<index>.local"
  (4, 3); looks without one have no such tensor (they load with zeros).  Older livestyles refuse it
  in one line instead of running the engine without being able to load its looks.

  A format-2 engine is the same without the state (inputs "bgr" and
  "weights", output "out"); it still loads and runs unsmoothed.

  A look entry with ``"kind": "texture"`` and ``student`` (a StudentConfig)
  is a drawn look: a CNN student run inside the graph only when its weight
  is above 0 (:mod:`livestyle.export.compose`); its tensors are
  "look.<index>.<param>" too, and ``engine.size_multiple`` (4) applies to
  every look of that engine.

  Every look of an engine is listed as its own :class:`StylePack` (name =
  the look's name, ``look_index`` its place in the weight vector,
  ``onnx`` the shared engine file).

**Mix, format 2** (a look of your own, saved by ``livestyle mix``)::

    NAME/
      style.json            format_version 2, name, mix {look: weight, ...} (weights sum to 1), from (the text given)

  A mix holds no network: :func:`livestyle.styles.expand` resolves it to its
  base looks, which the runtime blends in their engine.

Packs are searched in this order (first name wins): the user's folder
(:func:`user_styles_dir`), then the packs bundled with livestyle.  User packs
are validated field by field: a bad field is dropped with a warning naming
the pack; an unreadable pack is listed as broken (``problem``) with a warning.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from livestyle.errors import StyleError

log = logging.getLogger(__name__)

META_FILE = "style.json"
ONNX_FILE = "student.onnx"
WEIGHTS_FILE = "student.safetensors"
TEACHER_FILE = "teacher.safetensors"  # a trained CycleGAN pack's teacher (livestyle.styles.nets.load_teacher)
ENGINE_ONNX = "engine.onnx"
ENGINE_WEIGHTS = "engine.safetensors"
FORMAT_VERSION = 4          # the newest format this livestyle reads
ENGINE_FORMAT_VERSION = 3   # what it writes for an engine whose looks have no local part (older livestyles read it)
LOCAL_FORMAT_VERSION = 4    # ... and for one where some look has a local part (its "local" tensor)
MIX_FORMAT_VERSION = 2      # a mix did not change with format 3: older livestyles read the mixes saved here
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
    """One installed look: its paths and metadata (nothing heavy is loaded).

    ``look_index``: the look's index in its engine's weight vector (None for a
    single-look format-1 pack and for a mix).  ``engine_looks``: the names of
    all looks in that engine, in weight order (empty otherwise).  ``mix``:
    for a look saved by ``livestyle mix``, its weights over base look names
    (summing to 1); None otherwise.  ``problem``: why a listed pack cannot be
    used (None for a usable one).  ``warnings``: fields of ``style.json``
    that were ignored, each said in one line.
    """

    name: str
    path: Path
    meta: dict = field(default_factory=dict, compare=False)
    bundled: bool = False
    look_index: int | None = None
    engine_looks: tuple[str, ...] = ()
    mix: dict[str, float] | None = field(default=None, compare=False)
    format_version: int = 1
    onnx_file: str = ONNX_FILE
    weights_file: str = WEIGHTS_FILE
    problem: str | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    engine_path: Path | None = field(default=None, compare=False)  # a mix: the engine folder of its base looks

    @property
    def onnx(self) -> Path:
        """The network file: a format-1 pack's student, an engine look's shared engine, a mix's base engine."""
        if self.mix is not None:
            return (self.engine_path or self.path) / ENGINE_ONNX
        return self.path / self.onnx_file

    @property
    def weights(self) -> Path:
        return self.path / self.weights_file

    @property
    def is_engine(self) -> bool:
        return self.look_index is not None

    @property
    def size_multiple(self) -> int:
        """Frame H and W must be multiples of this: 1 for a colour (LUT) look, 4 for the CNN student."""
        if self.look_index is not None or self.mix is not None:
            engine = self.meta.get("engine") if isinstance(self.meta.get("engine"), dict) else {}
            lut = engine.get("lut") if isinstance(engine.get("lut"), dict) else {}
            v = engine.get("size_multiple", lut.get("size_multiple", 1))  # the engine's own: its texture looks
            return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else 1
        return 4  # StudentConfig.size_multiple: two stride-2 stages

    @property
    def pointwise(self) -> bool:
        """True for a colour look of an engine (a 3D LUT graded per frame): each output pixel follows its own
        input pixel, so it needs no temporal filter. False for CNN looks (format 1, texture looks) and mixes."""
        return self.look_index is not None and self.meta.get("kind") != "texture"

    @property
    def default(self) -> bool:
        return self.meta.get("default") is True

    @property
    def look(self) -> str | None:
        v = self.meta.get("look")
        return v if isinstance(v, str) else None

    def to_json(self) -> dict:
        """The entry ``livestyle styles --json`` prints."""
        return {"name": self.name, "path": str(self.path), "onnx": str(self.onnx),
                "default": self.default, "bundled": self.bundled, "look": self.look,
                "format_version": self.format_version, "look_index": self.look_index,
                "engine_looks": list(self.engine_looks), "mix": self.mix, "problem": self.problem,
                "warnings": list(self.warnings), "meta": self.meta}


# ------------------------------------------------------------------------------------------ validation

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _clean_metrics(metrics, where: str, warn: list[str]) -> dict:
    """``metrics`` with every non-numeric leaf under ``quality`` dropped (each with a warning)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        warn.append(f"{where}: 'metrics' must be a JSON object, got {type(metrics).__name__}; ignored")
        return {}
    out = dict(metrics)
    q = out.get("quality")
    if q is None:
        return out
    if not isinstance(q, dict):
        warn.append(f"{where}: 'metrics.quality' must be a JSON object; ignored")
        out.pop("quality")
        return out
    clean = {}
    for k, v in q.items():
        if isinstance(v, dict):
            sub = {}
            for k2, v2 in v.items():
                if _number(v2) or v2 is None:
                    sub[k2] = v2
                else:
                    warn.append(f"{where}: metric quality.{k}.{k2} = {v2!r} is not a number; ignored")
            clean[k] = sub
        elif _number(v) or v is None or isinstance(v, str) and k in ("measured_by",):
            clean[k] = v
        elif k in ("student_gain_db", "test_images", "temporal_filter_strength", "student_gmacs_256"):
            warn.append(f"{where}: metric quality.{k} = {v!r} is not a number; ignored")
        else:
            clean[k] = v
    out["quality"] = clean
    return out


def _clean_look_meta(meta: dict, where: str, warn: list[str]) -> dict:
    """Field-by-field check of one look's metadata: bad fields dropped, each with a warning."""
    out = dict(meta)
    if "default" in out and not isinstance(out["default"], bool):
        warn.append(f"{where}: 'default' must be true or false, got {out['default']!r}; treated as false")
        out.pop("default")
    if "look" in out and out["look"] is not None and not isinstance(out["look"], str):
        warn.append(f"{where}: 'look' must be a string, got {out['look']!r}; ignored")
        out.pop("look")
    if "metrics" in out:
        out["metrics"] = _clean_metrics(out["metrics"], where, warn)
    return out


def _read_meta(p: Path) -> dict:
    meta_path = p / META_FILE
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    except (OSError, ValueError) as e:
        raise StyleError(f"Style {str(p)!r} has an unreadable {META_FILE} ({str(e).splitlines()[0][:120]}).",
                         fix="Fix or delete that file (or the folder).") from None
    if not isinstance(meta, dict):
        raise StyleError(f"Style {str(p)!r}: {META_FILE} must hold a JSON object.", fix="Fix or delete the pack.")
    return meta


def _version(meta: dict, p: Path) -> int:
    v = meta.get("format_version", 1)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise StyleError(f"Style {str(p)!r}: format_version {v!r} is not a positive whole number.",
                         fix="Fix or delete the pack.")
    if v > FORMAT_VERSION:
        raise StyleError(f"Style {str(p)!r} was made by a newer livestyle (pack format {v}; this livestyle reads up "
                         f"to {FORMAT_VERSION}).", fix="Upgrade livestyle: pip install -U livestyle.")
    return v


def _clean_mix(mix, p: Path) -> dict[str, float]:
    if not isinstance(mix, dict) or not mix:
        raise StyleError(f"Style {str(p)!r}: 'mix' must be a non-empty object of look names to weights.",
                         fix="Save it again with `livestyle mix NAME --from LOOK:W,LOOK:W --force`.")
    out = {}
    for k, v in mix.items():
        if not isinstance(k, str) or not _number(v) or v < 0:
            raise StyleError(f"Style {str(p)!r}: mix weight {k!r}: {v!r} is not a non-negative number.",
                             fix="Save it again with `livestyle mix NAME --from LOOK:W,LOOK:W --force`.")
        out[k] = float(v)
    total = sum(out.values())
    if total <= 0:
        raise StyleError(f"Style {str(p)!r}: mix weights sum to 0.",
                         fix="Save it again with `livestyle mix NAME --from LOOK:W,LOOK:W --force`.")
    return {k: v / total for k, v in out.items()}


def load_packs(path: str | os.PathLike, *, bundled: bool = False) -> list[StylePack]:
    """Every look in the pack folder ``path`` (one for a format-1 pack or a mix, K for an engine).

    Raises StyleError (one line) when the folder is missing, unreadable,
    from a newer format version, or lacks its network file.
    """
    p = Path(path)
    if not p.is_dir():
        raise StyleError(f"Style folder {str(p)!r} does not exist.",
                         fix="Run `livestyle styles` to list installed styles.")
    meta = _read_meta(p)
    version = _version(meta, p)
    warn: list[str] = []
    where = f"style pack {str(p)!r}"
    if "mix" in meta:
        mix = _clean_mix(meta["mix"], p)
        name = meta.get("name") if isinstance(meta.get("name"), str) and meta.get("name") else p.name
        look_meta = _clean_look_meta(meta, where, warn)
        return [_finish(StylePack(name=name, path=p, meta=look_meta, bundled=bundled, mix=mix,
                                  format_version=version, onnx_file="", weights_file="", warnings=tuple(warn)))]
    if "looks" in meta:
        looks = meta["looks"]
        if not isinstance(looks, list) or not looks or not all(isinstance(lk, dict) for lk in looks):
            raise StyleError(f"Style {str(p)!r}: 'looks' must be a non-empty list of objects.",
                             fix="Re-export the engine pack.")
        names = [lk.get("name") for lk in looks]
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise StyleError(f"Style {str(p)!r}: every look needs a unique name, got {names!r}.",
                             fix="Re-export the engine pack.")
        if not (p / ENGINE_ONNX).is_file():
            raise StyleError(f"Style {str(p)!r} has no {ENGINE_ONNX}.", fix="Re-export the engine pack.")
        shared = {k: v for k, v in meta.items() if k not in ("looks", "name")}
        packs = []
        for i, lk in enumerate(looks):
            look_warn: list[str] = []
            look_meta = _clean_look_meta({**shared, **lk}, f"{where}, look {lk['name']!r}", look_warn)
            warn.extend(look_warn)
            packs.append(StylePack(name=lk["name"], path=p, meta=look_meta, bundled=bundled, look_index=i,
                                   engine_looks=tuple(names), format_version=version, onnx_file=ENGINE_ONNX,
                                   weights_file=ENGINE_WEIGHTS, warnings=tuple(look_warn)))
        return [_finish(pk) for pk in packs]
    if not (p / ONNX_FILE).is_file():
        raise StyleError(f"Style {str(p)!r} has no {ONNX_FILE}.",
                         fix="A style pack needs student.onnx; re-export it with `livestyle train --resume`.")
    name = meta.get("name") if isinstance(meta.get("name"), str) and meta.get("name") else p.name
    look_meta = _clean_look_meta(meta, where, warn)
    return [_finish(StylePack(name=name, path=p, meta=look_meta, bundled=bundled, format_version=version,
                              warnings=tuple(warn)))]


def _finish(pack: StylePack) -> StylePack:
    for w in pack.warnings:
        log.warning("%s", w)
    return pack


def load_pack(path: str | os.PathLike, *, bundled: bool = False, look: str | None = None) -> StylePack:
    """The look ``look`` (default: the first) of the pack folder ``path``; see :func:`load_packs`."""
    packs = load_packs(path, bundled=bundled)
    if look is None:
        return packs[0]
    for pk in packs:
        if pk.name == look:
            return pk
    raise StyleError(f"Style folder {str(path)!r} holds no look {look!r} (it holds {', '.join(p.name for p in packs)}).",
                     fix="Pick one of those.")


def _is_pack_dir(d: Path) -> bool:
    return d.is_dir() and not d.name.startswith(".") and (
        (d / META_FILE).exists() or (d / ONNX_FILE).exists() or (d / ENGINE_ONNX).exists())


def _scan(root: Path, bundled: bool) -> list[StylePack]:
    if not root.is_dir():
        return []
    packs: list[StylePack] = []
    for d in sorted(root.iterdir()):
        if not _is_pack_dir(d):
            continue
        try:
            packs.extend(load_packs(d, bundled=bundled))
        except StyleError as e:
            log.warning("style pack %r is broken and cannot be used: %s", str(d), e)
            packs.append(StylePack(name=d.name, path=d, bundled=bundled, problem=str(e)))
    return packs


def discover(*, include_broken: bool = False) -> list[StylePack]:
    """All installed looks: the user's first, then bundled ones; a name appears once.

    A pack folder that cannot be read is logged as a warning and, with
    ``include_broken``, listed with its ``problem`` (``livestyle styles``
    shows it as broken); otherwise it is left out.
    """
    seen: set[str] = set()
    out = []
    for pack in _scan(user_styles_dir(), False) + _scan(BUNDLED_DIR, True):
        if pack.problem is not None:
            if include_broken:
                out.append(pack)
            continue
        if pack.name not in seen:
            seen.add(pack.name)
            out.append(pack)
    by_name = {pk.name: pk for pk in out if pk.problem is None}
    for i, pk in enumerate(out):
        if pk.mix is not None:
            bases = [by_name.get(n) for n in pk.mix]
            if any(b is None or b.look_index is None for b in bases):
                missing = [n for n, b in zip(pk.mix, bases) if b is None or b.look_index is None]
                problem = (f"mix {pk.name!r} names looks that are not installed engine looks: {', '.join(missing)}")
                log.warning("%s", problem)
                out[i] = replace(pk, problem=problem)
                continue
            engine = bases[0]
            out[i] = replace(pk, engine_path=engine.path, engine_looks=engine.engine_looks,
                             meta={**pk.meta, "engine": engine.meta.get("engine")})  # (its size multiple)
    if not include_broken:
        out = [pk for pk in out if pk.problem is None]
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
    """A look by name (installed) or by folder path; None gives the default style."""
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
