"""``livestyle mix``: save a blend of installed looks as a look of your own (no torch needed)."""

from __future__ import annotations

import argparse
import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def bundled_look_names() -> set[str]:
    """The names of the looks that come with livestyle (pastel, mono, ...)."""
    from livestyle.errors import StyleError
    from livestyle.styles.pack import BUNDLED_DIR, load_packs

    names: set[str] = set()
    for d in sorted(BUNDLED_DIR.iterdir()) if BUNDLED_DIR.is_dir() else ():
        try:
            names.update(p.name for p in load_packs(d, bundled=True))
        except StyleError:
            continue
    return names


def check_new_look_name(name: str, flag: str) -> None:
    """UsageError (one line) unless ``name`` can name a new look of the user's: the name rule, and not a bundled
    look's name (a look of the user's with that name would hide the bundled one, and `run` would lose its default)."""
    from livestyle.errors import UsageError

    if not _NAME.match(name):
        raise UsageError(f"{flag} {name!r} is not a usable look name.",
                         fix="Use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit).")
    if name in bundled_look_names():
        raise UsageError(f"{flag} {name!r} is the name of a look bundled with livestyle; a look of yours with "
                         "that name would hide it.", fix="Pick another name.")


def add_parsers(sub) -> None:
    p = sub.add_parser("mix", help="save a blend of looks as a new look of your own",
                       description="Save a blend of installed looks (e.g. --from pastel:0.6,vintage:0.4) as a new "
                                   "look, listed by `livestyle styles` and played with `livestyle run --style NAME`. "
                                   "Weights are normalised to sum 1 (with a warning when they did not).")
    p.add_argument("name", metavar="NAME", help="the new look's name (letters, digits, . _ -)")
    p.add_argument("--from", dest="blend", required=True, metavar="LOOK:W,...",
                   help="the looks and weights to blend, e.g. pastel:0.6,vintage:0.4")
    p.add_argument("--force", action="store_true",
                   help="replace an existing look of your own with that name (a bundled look's name is always "
                        "refused)")
    p.set_defaults(func=cmd_mix)


def cmd_mix(args: argparse.Namespace) -> int:
    from livestyle.errors import UsageError
    from livestyle.fsutil import atomic_dir, write_json_atomic
    from livestyle.styles.blend import expand, parse_blend
    from livestyle.styles.pack import META_FILE, MIX_FORMAT_VERSION, discover, user_styles_dir

    check_new_look_name(args.name, "NAME")
    packs = discover()
    blend = parse_blend(args.blend, packs=packs, flag="--from")
    base = expand(blend, packs=packs)
    target = user_styles_dir() / args.name
    existing = {p.name: p for p in packs}
    if (args.name in existing or target.exists()) and not args.force:
        raise UsageError(f"A look named {args.name!r} already exists (at {target}).",
                         fix="Pick another NAME, or pass --force to replace it.")
    if target.exists() and not (target.is_dir() and (target / META_FILE).is_file()):
        raise UsageError(f"{str(target)!r} exists and is not a look (no {META_FILE}); --force replaces only a look.",
                         fix="Pick another NAME, or move that away.")
    if args.name in base:
        raise UsageError(f"The mix {args.name!r} cannot contain a look of the same name.", fix="Pick another NAME.")
    meta = {"format_version": MIX_FORMAT_VERSION, "name": args.name, "mix": {k: round(v, 6) for k, v in base.items()},
            "from": args.blend}
    with atomic_dir(target, replace=True) as tmp:
        write_json_atomic(tmp / META_FILE, meta)
    parts = ", ".join(f"{k} {v:.2f}" for k, v in base.items())
    print(f"look {args.name!r} saved at {target} ({parts}); play it with: livestyle run --style {args.name}")
    return 0
