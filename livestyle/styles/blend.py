"""Blends of looks: ``--style pastel:0.7,mono:0.3`` and ``livestyle mix``.

A blend is a dict ``{look name: weight}`` with non-negative weights summing
to 1.  :func:`parse_blend` reads the text form and checks every name against
the installed looks; :func:`expand` resolves looks saved by ``livestyle mix``
into the engine looks they are made of, so the runtime only ever sends
weights over real engine looks.  For LUT looks a blend is exact: the engine
blends the lookup tables, which equals blending the looks' outputs.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable

from livestyle.errors import StyleError, UsageError
from livestyle.styles.pack import StylePack, discover

log = logging.getLogger(__name__)


def _installed(packs: Iterable[StylePack] | None) -> dict[str, StylePack]:
    return {p.name: p for p in (discover() if packs is None else packs) if p.problem is None}


def parse_blend(text: str, *, packs: Iterable[StylePack] | None = None, flag: str = "--style") -> dict[str, float]:
    """``"pastel"`` -> ``{"pastel": 1.0}``; ``"pastel:0.7,mono:0.3"`` -> ``{"pastel": 0.7, "mono": 0.3}``.

    Names are checked against ``packs`` (default: the installed looks).  A
    name without a weight counts 1.  Weights that do not sum to 1 are
    normalised, with a warning saying so.  Raises UsageError (unparsable or
    negative weight, a name twice, weights summing to 0, more looks than are
    installed) or StyleError (unknown look), each one line.
    """
    installed = _installed(packs)
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{flag} is empty.", fix="Name a look, e.g. pastel, or a blend such as pastel:0.7,mono:0.3.")
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise UsageError(f"{flag} {text!r} has an empty entry.", fix="Write it as LOOK:WEIGHT,LOOK:WEIGHT.")
    blend: dict[str, float] = {}
    for part in parts:
        name, sep, w = part.partition(":")
        name = name.strip()
        if sep:
            try:
                weight = float(w)
            except ValueError:
                raise UsageError(f"{flag}: the weight {w.strip()!r} of {name!r} is not a number.",
                                 fix="Write weights as numbers, e.g. pastel:0.7,mono:0.3.") from None
        else:
            weight = 1.0
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(f"{flag}: the weight of {name!r} is {w.strip()}; weights must be finite and >= 0.",
                             fix="Use weights such as 0.7 and 0.3.")
        if name in blend:
            raise UsageError(f"{flag} names {name!r} twice.", fix="Name each look once.")
        if name not in installed:
            names = ", ".join(sorted(installed)) or "none installed"
            raise StyleError(f"{flag}: unknown look {name!r} (installed: {names}).",
                             fix="Pick installed looks (`livestyle styles`).")
        blend[name] = weight
    if len(blend) > len(installed):
        raise UsageError(f"{flag} blends {len(blend)} looks; only {len(installed)} are installed.",
                         fix="Blend fewer looks.")
    top = max(blend.values())
    if top <= 0:
        raise UsageError(f"{flag} {text!r}: the weights sum to 0.", fix="Give at least one look a positive weight.")
    # divided by the largest first, so huge weights (1e308 + 1e308) cannot overflow to inf and come out as 0
    scaled = {k: v / top for k, v in blend.items()}
    total = sum(scaled.values())  # in [1, number of looks]
    if len(blend) > 1 and abs(top * total - 1.0) > 1e-6:
        said = f"{top * total:g}" if math.isfinite(top * total) else f"{total:g} x {top:g}"
        log.warning("%s %r: weights sum to %s; normalised to sum 1", flag, text, said)
    return {k: v / total for k, v in scaled.items()}


def expand(pack_or_blend, *, packs: Iterable[StylePack] | None = None) -> dict[str, float]:
    """Base engine-look weights (summing to 1) for a look name, a :class:`StylePack` or a blend dict.

    Mixes (looks saved by ``livestyle mix``) are replaced by their own
    weights, recursively; a mix that names itself is refused (StyleError).
    A single-look format-1 pack expands to itself.
    """
    installed = _installed(packs)
    if isinstance(pack_or_blend, StylePack):
        start = {pack_or_blend.name: 1.0}
        installed.setdefault(pack_or_blend.name, pack_or_blend)
    elif isinstance(pack_or_blend, str):
        start = {pack_or_blend: 1.0}
    elif isinstance(pack_or_blend, dict):
        start = {str(k): float(v) for k, v in pack_or_blend.items()}
    else:
        raise TypeError(f"expand() takes a look name, a StylePack or a dict, not {type(pack_or_blend).__name__}")
    out: dict[str, float] = {}

    def walk(name: str, weight: float, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise StyleError(f"Look {trail[0]!r} is a mix that contains itself ({' -> '.join(trail + (name,))}).",
                             fix=f"Save {trail[0]!r} again from engine looks with `livestyle mix --force`.")
        pack = installed.get(name)
        if pack is None:
            raise StyleError(f"Unknown look {name!r} (installed: {', '.join(sorted(installed)) or 'none'}).",
                             fix="Pick installed looks (`livestyle styles`).")
        if pack.mix is not None:
            for sub, w in pack.mix.items():
                walk(sub, weight * w, trail + (name,))
        else:
            out[name] = out.get(name, 0.0) + weight
    for name, w in start.items():
        if not math.isfinite(w) or w < 0:
            raise UsageError(f"The weight of {name!r} is {w}; weights must be finite and >= 0.",
                             fix="Use weights such as 0.7 and 0.3.")
        walk(name, w, ())
    top = max(out.values(), default=0.0)
    if top <= 0:
        raise UsageError("The blend's weights sum to 0.", fix="Give at least one look a positive weight.")
    scaled = {k: v / top for k, v in out.items()}  # by the largest first: no overflow to inf
    total = sum(scaled.values())
    return {k: v / total for k, v in scaled.items()}


def engine_weights(blend: dict[str, float], engine_looks: tuple[str, ...]) -> list[float]:
    """The weight vector (one per look of an engine, in its order) for a blend of that engine's looks.

    Raises UsageError when the blend names a look the engine does not hold,
    or more looks than it holds.
    """
    if len(blend) > len(engine_looks):
        raise UsageError(f"The blend names {len(blend)} looks; the engine holds {len(engine_looks)}.",
                         fix="Blend looks of one engine, at most as many as it holds.")
    missing = [k for k in blend if k not in engine_looks]
    if missing:
        raise UsageError(f"The engine holds {', '.join(engine_looks)}; not {', '.join(missing)}.",
                         fix="Blend looks of one engine.")
    return [float(blend.get(n, 0.0)) for n in engine_looks]
