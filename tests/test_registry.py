"""Sinks and sources are opened by name through their registries; the base modules import no concrete class."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livestyle.errors import UsageError
from livestyle.sinks import open_sink as open_sink_pkg
from livestyle.sinks.registry import open_sink
from livestyle.sources import open_source as open_source_pkg
from livestyle.sources import parse_input as parse_input_pkg
from livestyle.sources.registry import open_source, parse_input
from tests.conftest import ROOT


def test_package_names_are_the_registry_functions():
    assert open_sink_pkg is open_sink
    assert open_source_pkg is open_source
    assert parse_input_pkg is parse_input


@pytest.mark.parametrize("module,concrete", [
    ("livestyle.sinks.base", ["livestyle.sinks.file", "livestyle.sinks.virtualcam", "livestyle.sinks.preview",
                              "livestyle.sinks.null", "livestyle.sinks.stream"]),
    ("livestyle.sources.base", ["livestyle.sources.file", "livestyle.sources.camera", "livestyle.sources.url",
                                "livestyle.sources.demo"]),
])
def test_base_modules_import_no_concrete_class(module, concrete):
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            f"print([m for m in {concrete!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_open_sink_kinds(tmp_path):
    from livestyle.sinks.file import FileSink
    from livestyle.sinks.null import NullSink
    from livestyle.sinks.stream import StreamSink

    assert isinstance(open_sink("null"), NullSink)
    assert isinstance(open_sink(str(tmp_path / "a.mp4")), FileSink)
    assert isinstance(open_sink("stream:0"), StreamSink)
    assert isinstance(open_sink("http://127.0.0.1:0/x"), StreamSink)
    with pytest.raises(UsageError, match="not an output"):
        open_sink("rtmp://example/live")
    with pytest.raises(UsageError, match="not an output"):
        open_sink(str(tmp_path / "a.gif"))


def test_parse_input_and_file_urls(tmp_path):
    assert parse_input("demo") == ("demo", "")
    assert parse_input("2") == ("camera", 2)
    assert parse_input("camera:3") == ("camera", 3)
    assert parse_input("http://127.0.0.1:8080/x.mjpg") == ("url", "http://127.0.0.1:8080/x.mjpg")
    assert parse_input("file:///tmp/my%20clip.mp4") == ("file", "/tmp/my clip.mp4")
    assert parse_input("file://localhost/tmp/a.mp4") == ("file", "/tmp/a.mp4")
    assert parse_input("clip.mp4") == ("file", "clip.mp4")


def test_file_url_opens_a_file_source(tmp_path):
    from livestyle.sources.file import FileSource
    from tests.support.videos import write_test_video  # a real video written by OpenCV

    path = tmp_path / "clip one.avi"
    write_test_video(path)
    src = open_source(path.as_uri())
    assert isinstance(src, FileSource)
    src.open()
    try:
        frame = src.read()
        assert frame is not None and frame.ndim == 3
    finally:
        src.close()
