"""The ``livestyle`` command.

Subcommands register themselves through small ``add_parser`` functions that
import nothing heavy; each handler imports what it needs when it runs, so
``livestyle run`` never loads torch.  Every :class:`LivestyleError` becomes
one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from livestyle.errors import LivestyleError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as argparse does, but with our prefix
        self.exit(2, f"livestyle: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from livestyle import __version__
    from livestyle import commands
    from livestyle import bench as bench_cli
    from livestyle import doctor
    from livestyle.export import cli as export_cli
    from livestyle.export import lut_cli
    from livestyle.obs import cli as obs_cli
    from livestyle.people import cli as people_cli
    from livestyle.quality import cli as quality_cli
    from livestyle.styles import cli as styles_cli
    from livestyle.training import cli as training_cli

    parser = _Parser(prog="livestyle", description="Real-time style filter for live video.")
    parser.add_argument("--version", action="version", version=f"livestyle {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    commands.add_parsers(sub)
    training_cli.add_parsers(sub)
    quality_cli.add_parsers(sub)
    export_cli.add_parsers(sub)
    doctor.add_parsers(sub)
    lut_cli.add_parsers(sub)
    styles_cli.add_parsers(sub)
    bench_cli.add_parsers(sub)
    obs_cli.add_parsers(sub)
    people_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # OpenCV prints its own warnings on stderr (e.g. for a missing camera); our errors say it in one line.
    # Set before the first cv2 import, which happens inside the handlers.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT" if args.verbose == 0 else "INFO")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8" if args.verbose == 0 else "24")  # FFmpeg's own log
    try:
        return int(args.func(args) or 0)
    except LivestyleError as e:
        print(f"livestyle: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a failed read or write that no command turned into a LivestyleError: still one line
        logging.getLogger("livestyle").debug("unhandled OSError", exc_info=True)
        where = f" {e.filename!r}" if e.filename else ""
        print(f"livestyle: error: {e.strerror or e}{where}. Check the path, its permissions and the free space "
              "(run with -vv for details).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("livestyle: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
