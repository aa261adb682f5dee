"""Frame sources: camera, video file, URL, and the built-in demo.

:func:`open_source` (in :mod:`livestyle.sources.registry`) turns the ``--input`` spec into a :class:`Source`.
"""

from livestyle.sources.base import Source
from livestyle.sources.registry import open_source, parse_input

__all__ = ["Source", "open_source", "parse_input"]
