"""``livestyle import-lut`` and ``livestyle export-lut``: looks in and out as standard 3D LUT files.

``.cube`` is how colour grades travel between OBS (its *Apply LUT* filter),
DaVinci Resolve, Premiere, ffmpeg (``lut3d``) and phone editors.  An
imported LUT becomes a colour look of its own (a one-look engine pack in the
user's style folder: one basis, a fixed weight, no per-frame adaptation),
listed by ``livestyle styles`` and blendable live with every other look.
An exported look is its grade at fixed (neutral) weights as a ``.cube``.

Registration imports nothing heavy; the handlers import colour-science and
torch when they run.  Failures are :class:`LivestyleError` (one line,
non-zero exit).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from livestyle.errors import StyleError, UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EXPORT_SIZES = (17, 33, 65)  # entries per axis export-lut writes (each exact for the 17- and 33-node looks)


def add_parsers(sub) -> None:
    """Add ``import-lut`` and ``export-lut`` to the ``livestyle`` parser; imports nothing heavy."""
    p = sub.add_parser("import-lut", help="make a look from a 3D LUT file (.cube, .spi3d, .csp, Hald .png)",
                       description="Read a 3D LUT (.cube from Resolve, Premiere, OBS, phone editors; .spi3d; .csp; "
                                   "a Hald CLUT .png) and install it as a colour look of your own, listed by "
                                   "`livestyle styles`, played with `livestyle run --style NAME` and blendable "
                                   "with other looks (--style NAME:0.5,pastel:0.5). The file is never modified. "
                                   "Needs the train extra (torch, onnx) and colour-science.")
    p.add_argument("file", metavar="FILE", help="the LUT file")
    p.add_argument("--name", default=None, help="the look's name (default: the file's name without its suffix)")
    p.add_argument("--force", action="store_true", help="replace an existing look of your own with that name")
    p.set_defaults(func=cmd_import_lut)

    e = sub.add_parser("export-lut", help="write a colour look as a standard 3D LUT (.cube)",
                       description="Write a colour look (or a blend, e.g. pastel:0.6,vintage:0.4) as an Iridas/"
                                   "Resolve .cube 3D LUT, RGB, domain 0..1, for OBS's Apply LUT filter, ffmpeg's "
                                   "lut3d, Resolve or Premiere. A look that adapts its grade to each frame is "
                                   "written at its neutral weights (those it gives a flat mid-grey frame), and "
                                   "the command says how much it adapts. Drawn looks (pencil) are not colour maps "
                                   "and cannot be written as a LUT.")
    e.add_argument("look", metavar="LOOK",
                   help="an installed look, a saved mix, or a blend such as pastel:0.6,mono:0.4")
    e.add_argument("--out", required=True, metavar="FILE.cube", help="the .cube file to write")
    e.add_argument("--size", type=int, default=33, choices=EXPORT_SIZES, help="entries per axis (default 33)")
    e.add_argument("--force", action="store_true", help="replace FILE.cube if it exists")
    e.set_defaults(func=cmd_export_lut)


def _need_torch(what: str) -> None:
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} needs torch and onnx (a look is an ONNX graph built with PyTorch).",
                         fix="pip install 'livestyle[train]'.") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def cmd_import_lut(args: argparse.Namespace) -> int:
    from livestyle.export.cube import IMPORT_GRID, import_error, read_lut_file, table_to_lattice
    from livestyle.styles.pack import discover, user_styles_dir

    src = Path(args.file)
    name = args.name if args.name is not None else re.sub(r"[^A-Za-z0-9._-]", "_", src.stem).lstrip("._-")[:64]
    if not _NAME.match(name or ""):
        raise UsageError(f"--name {name!r} is not a usable look name.",
                         fix="Use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit).")
    packs = discover()
    existing = {p.name: p for p in packs}
    target = user_styles_dir() / name
    if (name in existing or target.exists()) and not args.force:
        where = "bundled with livestyle" if name in existing and existing[name].bundled else f"at {target}"
        raise UsageError(f"A look named {name!r} already exists ({where}).",
                         fix="Pick another --name, or pass --force to replace your own (a bundled look is only "
                             "hidden behind yours).")
    if _inside(src, target):
        raise UsageError(f"{str(src)!r} lies inside the look folder {str(target)!r} that importing would replace.",
                         fix="Copy the LUT file elsewhere first, or pick another --name.")
    lut = read_lut_file(src)          # one clear line for every bad file, before anything heavy
    _need_torch("import-lut")
    from livestyle.export.cube import fixed_look
    from livestyle.export.engine_pack import write_engine_pack

    table = lut.lattice_table(IMPORT_GRID)
    err_max, err_mean = import_error(lut, table)
    lattice = table_to_lattice(table)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    meta = {"description": f"imported from {src.name}" + (f" ({lut.title})" if lut.title else ""),
            "imported": {"file": src.name, "sha256": sha, "kind": lut.kind, "size": lut.size,
                         "grid": IMPORT_GRID, "notes": list(lut.notes),
                         "error_levels": {"max": round(err_max, 3), "mean": round(err_mean, 4)}}}
    folder, _ = write_engine_pack(user_styles_dir(), [(name, fixed_look(lattice), meta)], folder_name=name)
    how = f"{lut.kind} LUT, {lut.size} per axis" + (f"; {'; '.join(lut.notes)}" if lut.notes else "")
    print(f"look {name!r} imported from {src} ({how}) at {folder}")
    print(f"it follows the file within {err_max:.2f} levels (mean {err_mean:.3f}) of trilinear lookup on "
          f"{IMPORT_GRID}^3 nodes, before the engine's own rounding")
    if err_max > 2.0:
        print(f"note: the file has detail (or values outside 0..1) that {IMPORT_GRID}^3 clipped nodes do not hold; "
              "a few colours differ from other tools by the amount above")
    print(f"play it with: livestyle run --style {name}  (blend: --style {name}:0.5,OTHER:0.5)")
    return 0


def cmd_export_lut(args: argparse.Namespace) -> int:
    from livestyle import __version__
    from livestyle.fsutil import check_output_path
    from livestyle.styles.blend import expand, parse_blend
    from livestyle.styles.pack import discover

    out = Path(args.out)
    if out.suffix.lower() != ".cube":
        raise UsageError(f"--out {str(out)!r} must end in .cube (livestyle writes Iridas/Resolve .cube files).",
                         fix="Name the file like look.cube.")
    check_output_path(out, flag="--out")
    if out.exists() and not args.force:
        raise UsageError(f"--out {str(out)!r} already exists.", fix="Pick another file, or pass --force to replace it.")
    packs = discover()
    installed = {p.name: p for p in packs}
    blend = parse_blend(args.look, packs=packs, flag="LOOK")
    base = expand(blend, packs=packs)
    for look_name in base:
        pack = installed[look_name]
        if pack.meta.get("kind") == "texture":
            raise StyleError(f"{look_name!r} is a drawn look: a network that reads each pixel's neighbours to draw "
                             "strokes and edges, which no 3D LUT (one colour in, one colour out) can hold.",
                             fix="Export a colour look (see `livestyle styles`); keep drawn looks in livestyle.")
        if pack.look_index is None:
            raise StyleError(f"{look_name!r} is a CNN look (format 1): it reads each pixel's neighbours, which no 3D "
                             "LUT can hold.", fix="Export a colour look (see `livestyle styles`).")
    _need_torch("export-lut")
    import numpy as np

    from livestyle.export.cube import (NEUTRAL_LEVEL, PROBE_LEVELS, adaptation_range, engine_vs_table,
                                       lattice_to_table, look_lattice, resample, write_cube)
    from livestyle.models.lut import describe_local
    from livestyle.styles.nets import load_engine_luts

    loaded: dict[str, dict] = {}
    table = np.zeros((args.size,) * 3 + (3,))
    notes = []
    lattices, grids, runtime = [], set(), set()
    for look_name, w in base.items():
        pack = installed[look_name]
        key = str(pack.path)
        if key not in loaded:
            loaded[key] = load_engine_luts(pack.path)
        look = loaded[key][look_name]
        neutral, moved = adaptation_range(look)
        lattice = look_lattice(look, neutral)
        lattices.append(lattice)
        grids.add(lattice.shape[1])
        lut_cfg = (pack.meta.get("engine") or {}).get("lut") or {}
        runtime.add((int(lut_cfg.get("table", 32)), str(lut_cfg.get("slopes", "cell"))))
        table += w * resample(lattice_to_table(lattice), args.size)
        if moved >= 0.5:
            notes.append(f"{look_name!r} adapts its grade to each frame (by up to {moved:.1f} levels between flat "
                         f"frames of levels {PROBE_LEVELS[0]} and {PROBE_LEVELS[-1]}); the file holds its neutral "
                         f"weights, those it gives a flat mid-grey ({NEUTRAL_LEVEL}) frame, for every frame; "
                         "the per-frame adaptation is lost")
        if look.has_local:
            notes.append(f"{look_name!r} has a local part, {describe_local(look.local)}, which depends on where a "
                         "pixel sits in the frame and on the bright parts around it: a 3D LUT (one colour in, one "
                         "colour out) cannot hold it, so the file has the colour part only and the local part is lost")
    comments = [f"livestyle look {args.look} (livestyle {__version__})",
                "grade at neutral weights: the per-frame coefficients of a flat mid-grey (128) frame",
                "RGB, input domain 0..1, red changes fastest"]
    write_cube(out, np.clip(table, 0.0, 1.0), title=args.look, comments=comments)
    parts = ", ".join(f"{k} {v:.2f}" for k, v in base.items())
    print(f"wrote {out} ({args.size}^3 .cube, RGB, domain 0..1) from {args.look!r} ({parts})")
    if len(grids) == 1 and len(runtime) == 1:  # looks of one kind of engine: compare the file with it
        (cells, slopes), = runtime
        err_max, err_mean = engine_vs_table(lattices, list(base.values()), np.clip(table, 0.0, 1.0),
                                            cfg_table=cells, slopes=slopes)
        print(f"the file applied trilinearly (rounded) and livestyle's engine at these weights differ by up to "
              f"{err_max:.0f} levels (mean {err_mean:.2f}) over 76^3 test colours")
    for n in notes:
        print(f"note: {n}")
    if not notes:
        print("nothing lost: the look's grade is the same on every frame (within 0.5 levels on flat test frames) "
              "and it has no local part")
    return 0
