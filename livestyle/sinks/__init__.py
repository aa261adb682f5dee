"""Frame sinks: virtual camera, preview window, video file, network stream, null.

:func:`open_sink` (in :mod:`livestyle.sinks.registry`) turns the ``--output`` spec into a :class:`Sink`.
"""

from livestyle.sinks.base import Command, Sink
from livestyle.sinks.registry import open_sink

__all__ = ["Command", "Sink", "open_sink"]
