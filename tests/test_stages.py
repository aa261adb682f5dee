"""The pipeline's stage list: a stage inserted into it, or switched off per frame, shows up everywhere by itself.

Real parts: an MJPG file read by OpenCV, the random student through ONNX Runtime, the bench's own CSV writer.
"""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

from livestyle.runconfig import RunConfig
from livestyle.sinks.base import Command, Sink
from livestyle.stages import Stage
from tests.support.videos import write_test_video

N = 24


class Probe(Stage):
    """A stand-in for a person-mask stage: real work on every frame, switched on while strength is above 0.5."""

    name = "people"

    def enabled(self, state) -> bool:
        return state.strength > 0.5

    def process(self, work) -> None:
        work.extra["luma"] = float(work.frame.image[..., 1].mean())

    def finish(self, work, image):
        assert "luma" in work.extra  # finish sees what process left, on the output thread
        return image


class Recorder(Sink):
    """Keeps every sent (output, original) pair; asks for strength 0 after ``drop_after`` frames."""

    def __init__(self, drop_after: int | None = None):
        self.pairs, self.drop_after = [], drop_after

    def open(self, size, fps):
        pass

    def send(self, frame, *, original=None, status=""):
        self.pairs.append((frame.image, original, status))

    def poll(self):
        return [Command("strength", 0.0)] if len(self.pairs) == self.drop_after else []

    def close(self):
        pass


def _run(tmp_path, *, sink, before=(), bypass=False):
    from livestyle.sources import open_source
    from livestyle.styles import discover
    from tests.support.pipe import build_pipeline

    video = tmp_path / "in.avi"
    write_test_video(video, size=(192, 128), fps=30, frames=N)
    styles = [s for s in discover() if s.name == "random"]
    src = open_source(str(video))
    src.open()
    records = []
    cfg = RunConfig(input=str(video), output="null", temporal=False)
    pipe = build_pipeline(cfg, source=src, sink=sink, styles=styles, start="random", infer_size=(96, 64),
                          out_size=(192, 128), on_frame=records.append, before=before)
    if bypass:
        pipe.controls.apply(Command("bypass", True))
    try:
        pipe.run()
    finally:
        src.close()
        pipe.stage("look").bank.close()
    return pipe, records


def test_an_inserted_stage_shows_in_the_report_state_and_bench_csv(tmp_path, livestyle_home):
    from livestyle.bench.report import frames_table, stage_colours, summarize, write_frames_csv

    pipe, records = _run(tmp_path, sink=Recorder(), before=(Probe(),))
    rep = pipe.report()
    timed = ("capture", "people", "preprocess", "infer", "postprocess", "output")
    assert rep["frames_out"] == N and len(records) == N
    assert tuple(rep["latency_ms"]["stages"]) == timed
    assert rep["latency_ms"]["stages"]["people"]["p50"] > 0
    assert [(s["name"], s["frames"], s["skipped"]) for s in rep["stages"]] == [("people", N, 0), ("look", N, 0)]
    assert [s["name"] for s in pipe.state()["stages"]] == ["people", "look"]
    assert all(tuple(r.stages) == timed and r.stages["people"] > 0 for r in records)

    write_frames_csv(tmp_path / "frames.csv", records, records[0].t_capture)
    with open(tmp_path / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    assert header[header.index("capture_ms"):header.index("output_ms") + 1] == [f"{n}_ms" for n in timed]
    assert len(rows) == N and all(float(r["people_ms"]) > 0 for r in rows)
    summary = summarize(frames_table(records, records[0].t_capture), rep, 1.0)
    assert tuple(summary["stages_ms"]) == timed
    colours = stage_colours(timed)
    assert len(set(colours)) == len(timed)  # the new stage gets its own colour in the timeline


def test_a_stage_switched_off_per_frame_is_skipped_and_counted(tmp_path, livestyle_home):
    pipe, records = _run(tmp_path, sink=Recorder(drop_after=8), before=(Probe(),))
    people = pipe.report()["stages"][0]
    assert people["name"] == "people" and people["frames"] + people["skipped"] == N
    assert people["frames"] >= 8 and people["skipped"] >= 1
    assert people["on"] is False  # the switch as the controls stand now (strength 0)
    ran = [r.stages["people"] > 0 for r in records]
    assert ran == sorted(ran, reverse=True) and sum(ran) == people["frames"]  # on, then off for good
    time.sleep(0.3)  # the status line is rebuilt at most 4 times a second
    line = pipe.status_line()
    assert "people off" in line and line.startswith("random x0.0"), line


def test_bypass_switches_the_look_stage_off(tmp_path, livestyle_home):
    sink = Recorder()
    pipe, records = _run(tmp_path, sink=sink, bypass=True)
    rep = pipe.report()
    look = rep["stages"][0]
    assert (look["name"], look["frames"], look["skipped"]) == ("look", 0, N)
    for part in ("preprocess", "infer", "postprocess"):
        assert rep["latency_ms"]["stages"][part]["p50"] == 0.0
    assert all(np.array_equal(out, original) for out, original, _ in sink.pairs)  # frames go out as captured
    assert all(r.bypass and r.strength == 0.0 for r in records)
    assert sink.pairs[-1][2].startswith("BYPASS")


@pytest.mark.parametrize("bypass", [False, True])
def test_the_look_stage_styles_only_when_on(tmp_path, livestyle_home, bypass):
    sink = Recorder()
    _run(tmp_path, sink=sink, bypass=bypass)
    changed = np.mean([np.abs(o.astype(int) - i.astype(int)).mean() for o, i, _ in sink.pairs])
    assert (changed == 0.0) if bypass else (changed > 5.0)
