"""Open a sink by name: the ``--output`` spec to a (not yet opened) :class:`~livestyle.sinks.base.Sink`.

The concrete sink modules import :mod:`livestyle.sinks.base`; only this
module knows them all, and it imports each one lazily, so importing the base
never drags in OpenCV windows, pyvirtualcam or the network server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from livestyle.errors import UsageError
from livestyle.sinks.base import Sink

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv")

# Names for --help and error messages, in the order they are matched.
SINK_KINDS = ("vcam", "preview", "null", "http://HOST:PORT/PATH or stream:PORT", "a .mp4/.avi/.mkv path")


def is_stream_spec(spec: str) -> bool:
    """True for ``stream:PORT``, ``stream:HOST:PORT`` and ``http://HOST:PORT[/PATH]``."""
    s = spec.strip()
    return s.startswith("stream:") or s.lower().startswith("http://")


def open_sink(spec: str, *, device: str | None = None, token: str | None = None) -> Sink:
    """Build (not yet open) the sink for ``spec``.

    ``spec`` is ``vcam`` | ``preview`` | ``null`` | ``stream:[HOST:]PORT`` |
    ``http://HOST:PORT[/PATH]`` | a path ending in .mp4/.avi/.mkv.
    ``device`` names the v4l2 device for ``vcam``; ``token`` fixes the network
    output's access token (else the URL's ``?token=``, else a random one).
    """
    s = spec.strip()
    if s == "vcam":
        from livestyle.sinks.virtualcam import VirtualCamSink
        return VirtualCamSink(device=device)
    if s == "preview":
        from livestyle.sinks.preview import PreviewSink
        return PreviewSink()
    if s == "null":
        from livestyle.sinks.null import NullSink
        return NullSink()
    if is_stream_spec(s):
        from livestyle.sinks.stream import StreamSink, parse_stream_spec
        host, port, path, url_token = parse_stream_spec(s)
        return StreamSink(host=host, port=port, path=path, token=token or url_token)
    if "://" not in s and Path(s).suffix.lower() in VIDEO_SUFFIXES:
        from livestyle.sinks.file import FileSink
        return FileSink(s)
    scheme = urlsplit(s).scheme if "://" in s else ""
    hint = f" (the scheme {scheme!r} is not served; use http://)" if scheme else ""
    raise UsageError(
        f"--output {spec!r} is not an output I know{hint}.",
        fix="Use vcam, preview, null, stream:PORT, http://127.0.0.1:PORT/PATH, "
            "or a video path ending in .mp4, .avi or .mkv.",
    )
