"""Open a source by name: the ``--input`` spec to a (not yet opened) :class:`~livestyle.sources.base.Source`.

Only this module knows every concrete source; each is imported lazily, so
importing :mod:`livestyle.sources.base` never imports a concrete class.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from livestyle.sources.base import Source


def parse_input(spec: str) -> tuple[str, str | int]:
    """Classify an ``--input`` spec: ('camera', index) | ('url', url) | ('file', path) | ('demo', '').

    A ``file://`` URL is a file (its path, percent-decoded); any other
    ``scheme://`` is a network stream.
    """
    s = spec.strip()
    if s == "demo":
        return "demo", ""
    if s.isdigit():
        return "camera", int(s)
    if s.startswith("camera:") and s[7:].isdigit():
        return "camera", int(s[7:])
    if s.lower().startswith("file://"):
        parts = urlsplit(s)
        return "file", unquote(parts.path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{parts.path}")
    if "://" in s:
        return "url", s
    return "file", s


def open_source(spec: str, *, size: tuple[int, int] | None = None, fps: float | None = None,
                realtime: bool = False) -> Source:
    """Build (not yet open) the source for ``spec``.

    ``size``/``fps`` are requests for cameras and the demo (files and URLs
    keep their own).  ``realtime`` paces files, URLs to recorded files and
    the demo at their native fps; cameras and live streams are always live.
    """
    kind, arg = parse_input(spec)
    if kind == "camera":
        from livestyle.sources.camera import CameraSource
        return CameraSource(int(arg), size=size, fps=fps)
    if kind == "url":
        from livestyle.sources.url import UrlSource
        return UrlSource(str(arg), realtime=realtime)
    if kind == "demo":
        from livestyle.sources.demo import DemoSource
        return DemoSource(size=size or (1280, 720), fps=fps or 30.0, realtime=realtime)
    from livestyle.sources.file import FileSource
    return FileSource(str(arg), realtime=realtime)
