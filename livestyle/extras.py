"""Optional features and the pip extras that bring what they need.

A command that needs an extra calls :func:`require` before any work starts,
so a plain ``pip install livestyle`` gets one line naming the extra instead
of a traceback, or a whole benchmark measured and then thrown away.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from livestyle.errors import MissingExtraError

__all__ = ["EXTRAS", "missing", "require"]

# extra -> the top-level modules it installs that livestyle imports
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "onnx", "safetensors", "tqdm"),
    "bench": ("matplotlib",),
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder refused it, or a broken half-installed package
        return False


def missing(modules: Iterable[str]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (found without importing them)."""
    return [m for m in modules if not _importable(m)]


def require(extra: str, command: str, modules: Iterable[str] | None = None) -> None:
    """MissingExtraError (one line) when a module of ``extra`` (or of ``modules``) is missing for ``command``."""
    gone = missing(EXTRAS[extra] if modules is None else modules)
    if gone:
        raise MissingExtraError(f"`livestyle {command}` needs {', '.join(gone)}, which this installation lacks.",
                                fix=f"Install it with: pip install 'livestyle[{extra}]'")
