"""``livestyle build-engine`` (``livestyle doctor`` is :mod:`livestyle.doctor`).

Registration imports nothing heavy; each handler imports what it needs when
it runs.  Failures are :class:`LivestyleError` (one line, non-zero exit).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from livestyle.errors import UsageError

DEFAULT_ENGINE_SIZE = "1920x1080"


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> (w, h), both positive multiples of 4; UsageError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise UsageError(f"--size must look like WIDTHxHEIGHT (e.g. 1920x1080); got {text!r}.",
                         fix="Pass e.g. --size 1280x720.")
    from livestyle.runners.trt.cache import check_size

    return check_size((int(m.group(1)), int(m.group(2))))


def add_parsers(sub) -> None:
    """Add ``build-engine`` to the ``livestyle`` parser; imports nothing heavy."""
    p = sub.add_parser(
        "build-engine", help="compile a style into a TensorRT engine for this GPU (cached in engines/)",
        description="Build a TensorRT engine from a style's ONNX with explicit shapes and store it, with a "
                    "manifest, in the engine cache. `run --backend tensorrt` builds on first use; this "
                    "command does it ahead of time and shows progress.")
    p.add_argument("style", nargs="?", default=None, metavar="STYLE",
                   help="style name or pack folder (default: the default style)")
    p.add_argument("--size", default=DEFAULT_ENGINE_SIZE, metavar="WxH",
                   help=f"inference size the engine is built for, multiples of 4 (default {DEFAULT_ENGINE_SIZE}); "
                        "must match the inference size `run` uses")
    p.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="default fp16")
    p.add_argument("--engines-dir", default=None, metavar="DIR",
                   help="engine cache folder (default: $LIVESTYLE_HOME/engines, engines/ in a checkout, "
                        "else ~/.cache/livestyle/engines)")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid engine is cached")
    p.set_defaults(func=run_build_engine)


class _ProgressPrinter:
    """Prints TensorRT build phases to stderr: a rewritten line on a terminal, phase lines otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, phase: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.t0
        depth = phase.count(" > ")
        if self.tty:
            now = time.perf_counter()
            if done not in (0, total) and now - self._last < 0.1:
                return
            self._last = now
            text = f"[{elapsed:6.1f}s] {phase} {done}/{total}"
            self.stream.write("\r" + text[:120].ljust(120))
            self.stream.flush()
        elif depth <= 1 and (done == 0 or done == total):
            state = "start" if done == 0 else "done"
            self.stream.write(f"[{elapsed:6.1f}s] {phase}: {state} ({total} steps)\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()


def run_build_engine(args: argparse.Namespace) -> int:
    from livestyle.errors import BackendError
    from livestyle.runners.trt.cache import EngineCache, ensure_engine_entry
    from livestyle.runners.tensorrt import TensorRTRunner
    from livestyle.styles import find_style

    size = parse_size(args.size)
    style = find_style(args.style)
    status = TensorRTRunner.probe()
    if not status.available:
        raise BackendError(f"Cannot build a TensorRT engine here: {status.reason}.", fix=f"Fix: {status.fix}.")
    cache = EngineCache(args.engines_dir)
    w, h = size
    print(f"Building a {args.precision} TensorRT engine for style {style.name!r} at {w}x{h} "
          f"({status.reason}); this can take a minute.", file=sys.stderr)
    printer = _ProgressPrinter()
    t0 = time.perf_counter()
    try:
        entry = ensure_engine_entry(style.onnx, size, args.precision, cache=cache, progress=printer,
                                    force=args.force)
    finally:
        printer.close()
    took = time.perf_counter() - t0
    if entry.built:
        mb = entry.manifest.get("engine_bytes", 0) / 1e6
        print(f"built {entry.path} ({mb:.1f} MB) in {took:.1f} s")
    else:
        print(f"up to date: {entry.path} (built {entry.manifest.get('created', '?')}; --force rebuilds)")
    return 0
