"""Frame sinks: virtual camera, preview window, video file, null.

:func:`open_sink` turns the ``--output`` spec into a :class:`Sink`.
"""

from livestyle.sinks.base import Command, Sink, open_sink

__all__ = ["Command", "Sink", "open_sink"]
