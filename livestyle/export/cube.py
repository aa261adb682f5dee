"""3D LUT files in and out: ``.cube`` (also ``.spi3d``, ``.csp``) and Hald CLUT ``.png``.

The file formats are read and written by ``colour-science`` (BSD-3,
:mod:`colour.io`), imported lazily; Hald PNGs by OpenCV.  This module holds
what livestyle adds around them: checks that give one clear line per bad
file, the conversion between a file's table and a look's lattice, and the
measured error of every resampling.

Two array layouts meet here:

* a **file table**: float64 (N, N, N, 3) indexed ``[r, g, b, c]``, output
  channel ``c`` in R, G, B order, nominally 0..1, at input colour
  ``(r, g, b) / (N - 1)`` (the ``.cube`` order: red changes fastest in the
  file's rows, which colour-science turns into this array);
* a **look lattice** (:mod:`livestyle.models.lut`): float32 (3, G, G, G)
  indexed ``[c, b, g, r]``, channel ``c`` in B, G, R order (the pipeline's
  frame order), in [-1, 1] (level ``v`` is ``v * 2 / 255 - 1``).

Both lattices span the full 8-bit range: node ``i`` of ``N`` is level
``255 i / (N - 1)``, as ffmpeg's ``lut3d`` and OBS's *Apply LUT* read a
``.cube`` on 8-bit frames.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livestyle.errors import StyleError, UsageError

log = logging.getLogger(__name__)

IMPORT_GRID = 33          # an imported look's lattice (its engine table: 32 cells, one per lattice cell)
MAX_CUBE_SIZE = 256       # larger 3D tables are refused (ffmpeg's lut3d stops at 256 too)
MAX_CURVE_SIZE = 65536    # entries of a 1-D LUT (ffmpeg's lut1d allows as many)
CHECK_STEP = 4            # resampling errors are measured on every 4th 8-bit level per axis, every level below 16
SUFFIXES = (".cube", ".spi3d", ".csp", ".png")

_SIZE_LINE = re.compile(r"^\s*(LUT_3D_SIZE|LUT_1D_SIZE)\b(.*)$", re.IGNORECASE)
_NUMBER_ROW = re.compile(r"^\s*[-+.0-9eEnNaAiIfF]")


@dataclass(frozen=True)
class LutFile:
    """A LUT read from a file, kept as the file defines it (see the module docstring for the layouts).

    Exactly one of ``table`` (float64 (N, N, N, 3) ``[r, g, b, c]`` RGB over
    the input ``domain``), ``curves`` (float64 (M, 3): one curve per
    channel over ``domain``) or ``sequence`` (a colour-science LUTSequence,
    applied as a whole) is set.  ``domain``: float64 (2, 3), the input range
    per channel (0..1 for most files).  ``kind``: "3D", "1D", "3D+shaper" or
    "Hald".  ``size``: entries per axis in the file.  ``notes``: each
    conversion livestyle makes to use it, one sentence each.
    """

    path: Path
    kind: str
    size: int
    title: str | None
    domain: np.ndarray
    table: np.ndarray | None = None
    curves: np.ndarray | None = None
    sequence: object | None = None
    notes: tuple[str, ...] = ()

    def reference(self, rgb: np.ndarray) -> np.ndarray:
        """The file applied as other tools apply it, before their final clip: rgb (..., 3) RGB 0..1 -> (..., 3).

        Inputs outside the domain are held at its edge; a 3D table is read
        trilinearly, curves linearly.
        """
        lo, hi = self.domain
        if self.sequence is not None:
            return np.asarray(self.sequence.apply(np.asarray(rgb, np.float64)), np.float64)
        unit = (np.clip(rgb, lo, hi) - lo) / (hi - lo)
        if self.curves is not None:
            m = self.curves.shape[0]
            pos = unit * (m - 1)
            return np.stack([np.interp(pos[..., c], np.arange(m), self.curves[:, c]) for c in range(3)], -1)
        return sample_trilinear(self.table, unit)

    def lattice_table(self, size: int = 33) -> np.ndarray:
        """The file as a table (size, size, size, 3) ``[r, g, b, c]`` over 0..1 (its nodes, where they line up)."""
        if self.table is not None and self.table.shape[0] == size and self._unit_domain():
            return self.table.copy()
        return self.reference(_grid_rgb(size))

    def _unit_domain(self) -> bool:
        return bool(np.allclose(self.domain[0], 0.0) and np.allclose(self.domain[1], 1.0))


_UNIT_DOMAIN = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def _bad(path: Path, what: str, fix: str = "Export the LUT again from the program that made it.") -> StyleError:
    return StyleError(f"LUT file {str(path)!r}: {what}.", fix=fix)


# ------------------------------------------------------------------------------------------ reading

def read_lut_file(path: str | os.PathLike) -> LutFile:
    """Read a ``.cube`` / ``.spi3d`` / ``.csp`` (colour-science) or a Hald CLUT ``.png`` (OpenCV).

    Raises StyleError (one line naming the file, what was wrong and how to
    fix it) for a missing file, an unknown suffix, a bad size line, the
    wrong number of rows, values that do not parse, NaN or infinite values,
    a degenerate domain, or a Hald image whose size is not a cube.  A 1-D
    LUT (one curve per channel) is converted exactly into a 3D table, and
    said so in ``notes``.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"LUT file {str(p)!r} does not exist.", fix="Check the path.")
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"LUT file {str(p)!r} has the suffix {p.suffix or '(none)'!r}; livestyle reads "
                         f"{', '.join(SUFFIXES)}.", fix="Convert it to .cube, or rename it if it is one.")
    if suffix == ".png":
        return _read_hald(p)
    if suffix == ".cube":
        _prescan_cube(p)
    try:
        import colour
    except ImportError:
        raise UsageError("Reading LUT files needs the colour-science package.",
                         fix="pip install 'livestyle[train]' (or pip install colour-science).") from None
    try:
        lut = colour.io.read_LUT(str(p))
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, UnboundLocalError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise _bad(p, f"not a readable {suffix} LUT ({first})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _bad(p, f"cannot be read ({type(e).__name__}: {str(e)[:120]})", "Check the file.") from None
    return _from_colour(p, lut)


def _prescan_cube(p: Path) -> None:
    """The checks colour-science leaves to a traceback, each as one clear line: size line, row count, NaN/inf."""
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _bad(p, "is not a text file (a .cube is plain text)") from None
    except OSError as e:
        raise _bad(p, f"cannot be read ({e.strerror or e})", "Check the file.") from None
    sizes: dict[str, int] = {}
    rows = 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = _SIZE_LINE.match(s)
        if m:
            key = m.group(1).upper()
            value = m.group(2).strip()
            top = MAX_CUBE_SIZE if key == "LUT_3D_SIZE" else MAX_CURVE_SIZE
            if not value.isdigit() or not 2 <= int(value) <= top:
                raise _bad(p, f"line {n}: {key} must be a whole number from 2 to {top}, got {value!r}")
            sizes[key] = int(value)
            continue
        if _NUMBER_ROW.match(s):
            parts = s.split()
            if len(parts) != 3:
                raise _bad(p, f"line {n}: a row needs 3 numbers (R G B), got {len(parts)}: {s[:60]!r}")
            try:
                values = [float(v) for v in parts]
            except ValueError:
                raise _bad(p, f"line {n}: {s[:60]!r} is not three numbers") from None
            if not all(math.isfinite(v) for v in values):
                raise _bad(p, f"line {n}: {s[:60]!r} holds NaN or infinity; a LUT needs finite values")
            rows += 1
    if not sizes:
        raise _bad(p, "has no LUT_3D_SIZE (or LUT_1D_SIZE) line, so it is not a .cube LUT",
                   "Check that this is the LUT file, not a preset or project file.")
    expected = sizes.get("LUT_1D_SIZE", 0) + sizes.get("LUT_3D_SIZE", 0) ** 3
    if rows != expected:
        what = " + ".join(f"{k} {v}" + ("^3" if k == "LUT_3D_SIZE" else "") for k, v in sizes.items())
        raise _bad(p, f"has {rows} rows of numbers; {what} needs {expected}",
                   "The file is cut short or damaged; export it again.")


def _read_hald(p: Path) -> LutFile:
    """A Hald CLUT image of level L: a square of L^3 x L^3 pixels holding an L^2-per-axis cube, red fastest."""
    import cv2

    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise _bad(p, "is not a readable PNG image", "Export the Hald CLUT again as a PNG.")
    if img.ndim == 2 or img.shape[2] not in (3, 4):
        raise _bad(p, f"has {1 if img.ndim == 2 else img.shape[2]} channel(s); a Hald CLUT is a colour image")
    h, w = img.shape[:2]
    level = round(w ** (1.0 / 3.0))
    if w != h or level < 2 or level ** 3 != w:
        raise _bad(p, f"is {w}x{h} pixels; a Hald CLUT is square with a side of L^3 pixels (8x8, 27x27, 64x64, "
                      f"125x125, 216x216, 343x343, 512x512 ...)", "Check that this PNG is a Hald CLUT.")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    n = level * level
    rgb = img[:, :, 2::-1].astype(np.float64) / scale          # OpenCV gives BGR(A)
    table = rgb.reshape(n, n, n, 3).transpose(2, 1, 0, 3)        # pixel r + n g + n^2 b -> [r, g, b]
    return LutFile(path=p, kind="Hald", size=n, title=None, domain=_UNIT_DOMAIN,
                   table=np.ascontiguousarray(table), notes=(f"Hald CLUT level {level} ({n}^3 entries)",))


def _from_colour(p: Path, lut) -> LutFile:
    """A colour-science LUT object (LUT3D, LUT3x1D, LUT1D, LUTSequence) as a :class:`LutFile`."""
    import colour

    title = getattr(lut, "name", None)
    if isinstance(lut, colour.LUTSequence):
        if len(lut) == 0:
            raise _bad(p, "holds no LUT")
        tables = [np.asarray(x.table, np.float64) for x in lut]
        if not all(np.isfinite(t).all() for t in tables):
            raise _bad(p, "holds NaN or infinite values; a LUT needs finite values")
        kinds = " then ".join(type(x).__name__ for x in lut)
        out = LutFile(p, "3D+shaper", max(t.shape[0] for t in tables), title, _UNIT_DOMAIN, sequence=lut,
                      notes=(f"a sequence ({kinds}) evaluated as one 3D table",))
        _check_evaluates(out)
        return out
    table = np.asarray(lut.table, np.float64)
    if not np.isfinite(table).all():
        raise _bad(p, "holds NaN or infinite values; a LUT needs finite values")
    domain = np.asarray(lut.domain, np.float64)
    notes: list[str] = []
    if isinstance(lut, colour.LUT3D):
        kind, size = "3D", table.shape[0]
        if table.ndim != 4 or table.shape[:3] != (size,) * 3 or table.shape[3] != 3:
            raise _bad(p, f"has a 3D table of shape {table.shape}; expected (N, N, N, 3)")
    elif isinstance(lut, (colour.LUT1D, colour.LUT3x1D)):
        kind, size = "1D", table.shape[0]
        if table.ndim == 1:
            table = np.repeat(table[:, None], 3, axis=1)
        if domain.ndim == 1:
            domain = np.repeat(domain.reshape(2, 1), 3, axis=1)
        notes.append(f"a 1-D LUT ({size} entries per channel) turned into a 3D table: each output channel "
                     "follows its own input channel only")
    else:  # pragma: no cover - colour.io returns only these types
        raise _bad(p, f"holds a {type(lut).__name__}, not a 1D or 3D LUT")
    if domain.shape != (2, 3):
        raise _bad(p, f"has a domain of shape {domain.shape}; livestyle reads DOMAIN_MIN/MAX with 3 values each",
                   "Export the LUT with a plain 0..1 domain.")
    lo, hi = domain
    if not (hi > lo).all():
        raise _bad(p, f"has DOMAIN_MIN {lo.tolist()} not below DOMAIN_MAX {hi.tolist()}",
                   "Fix the DOMAIN lines (usually DOMAIN_MIN 0 0 0, DOMAIN_MAX 1 1 1).")
    if not (np.allclose(lo, 0.0) and np.allclose(hi, 1.0)):
        notes.append(f"input domain {lo.tolist()}..{hi.tolist()} read onto 8-bit 0..1 (inputs outside it are "
                     "held at its edge)")
    if kind == "1D":
        return LutFile(p, kind, size, title, domain, curves=table, notes=tuple(notes))
    return LutFile(p, kind, size, title, domain, table=np.ascontiguousarray(table), notes=tuple(notes))


def _check_evaluates(lut: LutFile) -> None:
    if not np.isfinite(lut.reference(_grid_rgb(5))).all():
        raise _bad(lut.path, "gives NaN or infinite values once evaluated")


def _grid_rgb(n: int) -> np.ndarray:
    """float64 (n, n, n, 3) ``[r, g, b]`` -> its own input colour (r, g, b) / (n - 1)."""
    v = np.linspace(0.0, 1.0, n)
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([r, g, b], -1)


# ------------------------------------------------------------------------------------------ maths

def sample_trilinear(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Trilinear lookup: table (N, N, N, 3) ``[r, g, b, c]``, rgb (..., 3) in 0..1 (clamped) -> (..., 3)."""
    n = table.shape[0]
    pos = np.clip(np.asarray(rgb, np.float64), 0.0, 1.0) * (n - 1)
    i0 = np.minimum(np.floor(pos).astype(np.intp), n - 2)
    f = pos - i0
    out = np.zeros(pos.shape[:-1] + (3,))
    for dr in (0, 1):
        wr = f[..., 0] if dr else 1.0 - f[..., 0]
        for dg in (0, 1):
            wg = f[..., 1] if dg else 1.0 - f[..., 1]
            for db in (0, 1):
                wb = f[..., 2] if db else 1.0 - f[..., 2]
                out += (wr * wg * wb)[..., None] * table[i0[..., 0] + dr, i0[..., 1] + dg, i0[..., 2] + db]
    return out


def resample(table: np.ndarray, size: int) -> np.ndarray:
    """``table`` (N, N, N, 3) evaluated trilinearly at the nodes of a ``size``-per-axis lattice over 0..1.

    Exact (the same piecewise-trilinear map) when ``size - 1`` is a multiple
    of ``N - 1``: 17 -> 33 -> 65, and 2, 3, 5, 9, 17 -> 33.
    """
    if table.shape[0] == size:
        return table.copy()
    return sample_trilinear(table, _grid_rgb(size))


def check_colours() -> np.ndarray:
    """float64 (76^3, 3) RGB in 0..1: per axis every 8-bit level below 16 (where curves are steepest), then
    every 4th, and 255."""
    v = np.concatenate([np.arange(16), np.arange(16, 255, CHECK_STEP)[:-1], [255]]) / 255.0
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([r, g, b], -1).reshape(-1, 3)


def import_error(lut: LutFile, lattice: np.ndarray) -> tuple[float, float]:
    """(max, mean) in 8-bit levels between the file applied as other tools do (:meth:`LutFile.reference`,
    then clipped to 0..1) and a look built from ``lattice`` (G, G, G, 3) ``[r, g, b, c]`` (trilinear, its
    nodes clipped first, as the engine does), on :func:`check_colours`.  Not counted: the engine's own
    lookup error (its table of first-order cells) and 8-bit rounding."""
    rgb = check_colours()
    want = np.clip(lut.reference(rgb), 0.0, 1.0)
    got = sample_trilinear(np.clip(lattice, 0.0, 1.0), rgb)
    d = np.abs(want - got) * 255.0
    return float(d.max()), float(d.mean())


def table_to_lattice(table: np.ndarray) -> np.ndarray:
    """File table (G, G, G, 3) ``[r, g, b, c]`` RGB 0..1 -> look lattice float32 (3, G, G, G) ``[c, b, g, r]`` BGR
    in [-1, 1] (values outside 0..1 are clipped, as the engine clips every look's lattice)."""
    lat = np.clip(table, 0.0, 1.0).transpose(3, 2, 1, 0)[::-1] * 2.0 - 1.0
    return np.ascontiguousarray(lat, np.float32)


def lattice_to_table(lattice: np.ndarray) -> np.ndarray:
    """Look lattice (3, G, G, G) ``[c, b, g, r]`` BGR in [-1, 1] -> file table float64 (G, G, G, 3) ``[r, g, b, c]``
    RGB clipped to 0..1 (the engine clips each look's lattice to 0..255 the same way)."""
    lat = np.asarray(lattice, np.float64)
    return np.ascontiguousarray(np.clip((lat[::-1].transpose(3, 2, 1, 0) + 1.0) / 2.0, 0.0, 1.0))


# ------------------------------------------------------------------------------------------ writing

def write_cube(path: str | os.PathLike, table: np.ndarray, *, title: str, comments: list[str] = ()) -> Path:
    """Write ``table`` (N, N, N, 3) ``[r, g, b, c]`` RGB 0..1 as an Iridas/Resolve ``.cube`` atomically.

    ``LUT_3D_SIZE N``, domain 0..1, red fastest; written by colour-science.
    """
    import colour

    path = Path(path)
    lut = colour.LUT3D(np.asarray(table, np.float64), name=title, comments=list(comments))
    from livestyle.fsutil import atomic_path

    with atomic_path(path) as tmp:
        colour.io.write_LUT(lut, str(tmp), method="Iridas Cube")
    return path


# ------------------------------------------------------------------------------------------ looks (torch)

NEUTRAL_LEVEL = 128       # the flat mid-grey frame whose per-frame coefficients an export uses
PROBE_LEVELS = (16, 64, 128, 192, 240)  # flat frames on which an export measures how far the grade adapts


def fixed_look(lattice: np.ndarray):
    """A colour look that applies ``lattice`` (3, G, G, G) ``[c, b, g, r]`` BGR [-1, 1] to every frame alike.

    An :class:`~livestyle.models.lut.AdaptiveLUT` with one basis (the
    lattice) and a weight network whose output is exactly 1 whatever the
    frame (its head's weights are zero, its bias 1): no adaptation.
    """
    import torch

    from livestyle.models.lut import AdaptiveLUT, LutConfig

    g = int(lattice.shape[1])
    lk = AdaptiveLUT(LutConfig(grid=g, bases=1))
    with torch.no_grad():
        lk.basis[0] = torch.from_numpy(np.ascontiguousarray(lattice, np.float32))
        lk.weights.head.weight.zero_()
        lk.weights.head.bias.fill_(1.0)
    return lk.eval()


def flat_frame(level: int, side: int = 64) -> np.ndarray:
    """uint8 (side, side, 3) BGR, every pixel ``level``."""
    return np.full((side, side, 3), level, np.uint8)


def look_coefficients(look, frame: np.ndarray) -> np.ndarray:
    """The basis coefficients float64 (bases,) an :class:`AdaptiveLUT` gives ``frame`` (uint8 (H, W, 3) BGR)."""
    import torch

    from livestyle.models.convert import frames_to_unit

    with torch.no_grad():
        return look.mix(frames_to_unit(frame[None])).double().numpy()[0]


def look_lattice(look, coeffs: np.ndarray) -> np.ndarray:
    """The look's lattice at basis coefficients ``coeffs`` (bases,), clipped as the engine clips it:
    float32 (3, G, G, G) ``[c, b, g, r]`` BGR in [-1, 1]."""
    basis = look.basis.detach().double().numpy()
    lat = np.tensordot(np.asarray(coeffs, np.float64), basis, axes=1)
    return np.clip(lat, -1.0, 1.0).astype(np.float32)


def adaptation_range(look) -> tuple[np.ndarray, float]:
    """(neutral coefficients (bases,), the most, in 8-bit levels, the look's lattice moves from them on the
    flat frames of :data:`PROBE_LEVELS`)."""
    neutral = look_coefficients(look, flat_frame(NEUTRAL_LEVEL))
    base = look_lattice(look, neutral)
    moved = 0.0
    for level in PROBE_LEVELS:
        lat = look_lattice(look, look_coefficients(look, flat_frame(level)))
        moved = max(moved, float(np.abs(lat - base).max()) * 127.5)
    return neutral, moved


def engine_vs_table(lattices: list[np.ndarray], weights: list[float], table: np.ndarray, *,
                    cfg_table: int, slopes: str) -> tuple[float, float]:
    """(max, mean) 8-bit levels between livestyle's runtime engine and a file's table, on :func:`check_colours`.

    ``lattices``: the looks' fixed lattices (3, G, G, G) ``[c, b, g, r]``
    BGR [-1, 1], blended by ``weights`` in one :class:`LookEngine` with the
    pack's runtime ``cfg_table`` and ``slopes``; ``table``: (N, N, N, 3)
    ``[r, g, b, c]`` RGB 0..1, read trilinearly and rounded as a tool that
    rounds would.
    """
    import torch

    from livestyle.models.lut import LookEngine

    rgb = check_colours()
    bgr = np.round(rgb[:, ::-1] * 255.0).astype(np.uint8).reshape(1, 76, -1, 3)
    engine = LookEngine([fixed_look(lat) for lat in lattices], table=cfg_table, slopes=slopes).eval()
    with torch.no_grad():
        got = engine(torch.from_numpy(bgr), torch.tensor([weights], dtype=torch.float32))[0].numpy()
    want = np.round(np.clip(sample_trilinear(table, rgb), 0.0, 1.0) * 255.0)[:, ::-1].reshape(got.shape)
    d = np.abs(got.astype(np.float64) - want)
    return float(d.max()), float(d.mean())
