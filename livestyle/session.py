"""One ``livestyle run``: open the source, the looks, the sink, the control server and the OBS link; run; close.

:func:`run` is the command's whole life; :func:`build_pipeline` wires a
:class:`~livestyle.pipeline.Pipeline` over an opened source and sink and a
runner bank (the stage list, the adaptive controller); tests that drive a
pipeline by hand use it too.  Outputs that would overwrite an input or each
other are refused before anything opens.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from livestyle.adaptive import QualityRun
from livestyle.controls import Controls, format_weights
from livestyle.errors import UsageError
from livestyle.frame import MIN_SIDE
from livestyle.fsutil import check_output_path, write_json_atomic
from livestyle.pipeline import Pipeline
from livestyle.runconfig import RunConfig, align_infer_size, default_infer_size, parse_size
from livestyle.stages import Stage
from livestyle.stages.look import LookStage
from livestyle.stats import FrameRecord

log = logging.getLogger(__name__)

__all__ = ["RunConfig", "build_pipeline", "parse_size", "run"]


def build_pipeline(cfg: RunConfig, *, source, sink, bank, controls: Controls, out_size: tuple[int, int],
                   infer_size: tuple[int, int], fps: float, backend: str = "",
                   on_frame: Callable[[FrameRecord], None] | None = None,
                   before: tuple[Stage, ...] = (), after: tuple[Stage, ...] = ()) -> Pipeline:
    """A pipeline whose stages are ``before``, the look stage over ``bank``, then ``after``.

    The adaptive quality controller runs (``--quality auto``) for a live
    source with no ``--infer-size`` on a bank that can change size; a person
    stage among ``before`` has its rate lowered first.
    """
    live = bool(source.live)
    look = LookStage(bank, controls.snapshot(), infer_size=infer_size, live=live, temporal=cfg.temporal_mode,
                     method=cfg.upsample)
    quality = None
    if cfg.quality == "auto" and live and cfg.infer_size is None and bank.resizable:
        person = next((s for s in before if s.name == "person"), None)
        quality = QualityRun(look, backend=backend, out_size=out_size, fps=fps,
                             cnn=not bank.pointwise(controls.snapshot().weight_map), remember=cfg.remember_quality,
                             rate_stage=person, controls=controls)
    return Pipeline(cfg, source=source, sink=sink, controls=controls, stages=[*before, look, *after],
                    out_size=out_size, fps=fps, backend=backend, quality=quality, on_frame=on_frame)


def _resolve_style(spec: str | None, styles) -> tuple[dict[str, float], object]:
    """``--style`` -> (look weights, the pack to build the first runner from)."""
    from livestyle.styles import find_style, parse_blend

    if spec and ("," in spec or (":" in spec and not Path(spec).exists())):
        weights = parse_blend(spec, packs=styles)
        first = next(s for s in styles if s.name == max(weights, key=weights.get))
        return weights, first
    style = find_style(spec)  # unknown style: fail before opening devices
    return {style.name: 1.0}, style


def _check_paths(cfg: RunConfig) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other."""
    from livestyle.sinks.registry import VIDEO_SUFFIXES

    inputs = [("--input", cfg.input)] if "://" not in cfg.input else []
    if Path(cfg.output).suffix.lower() in VIDEO_SUFFIXES:
        check_output_path(cfg.output, flag="--output", inputs=inputs)
        inputs = inputs + [("--output", cfg.output)]
    if cfg.report:
        check_output_path(cfg.report, flag="--report", inputs=inputs, kind="json")


@dataclass(frozen=True)
class People:
    """The person and background stages of a run (empty when it needs none), the background modes it can
    show, why it cannot show the others, and the mode and look-on it starts with."""

    before: tuple[Stage, ...] = ()
    after: tuple[Stage, ...] = ()
    modes: tuple[str, ...] = ("keep",)
    why: dict = field(default_factory=dict)
    background: str = "keep"
    colour: str = "#00b140"
    look_on: str = "both"
    beauty: dict | None = None      # the amounts to start with
    beauty_why: str = ""            # why beauty is not available ("" when it is)


#: Frame rates up to this run OpenCV's own loops on one thread (see :func:`opencv_threads`).
ONE_THREAD_FPS = 50.0


def opencv_threads(fps: float) -> int:
    """Set OpenCV's thread pool for a run at ``fps``; returns the threads it now uses.

    The stages already run on threads of their own, one frame each, so at 30 fps OpenCV's pool only adds
    CPU: its workers wait for each other inside every resize and blur.  With one OpenCV thread, 720p30 with
    the person stage and background blur cost 6.1-6.3 ms of CPU a frame more than the plain run, against
    9.6-11.3 with the pool, and beauty 3.1-4.0 against 6.7-9.6 (AMD EPYC, 2 cores; RESULTS.md, session 11).
    Above :data:`ONE_THREAD_FPS` a frame's interval is too short for the person stage on one core (1080p60
    with the blur: 29 fps with one thread, 38 with the pool, same machine), so the pool stays.  A user's
    ``OPENCV_FOR_THREADS_NUM`` is left as it is.
    """
    import os

    import cv2

    if "OPENCV_FOR_THREADS_NUM" not in os.environ and fps <= ONE_THREAD_FPS:
        cv2.setNumThreads(1)
    return cv2.getNumThreads()


def _check_people(cfg: RunConfig, sink) -> tuple[str, str | None, object, dict | None]:
    """Before any device opens: refuse what cannot work (``transparent`` on an output without alpha, an
    ``image:`` that is no picture) and return (background mode, its argument, the image or None, the
    beauty amounts asked for or None).  Changes nothing."""
    from livestyle.controls import parse_beauty_items
    from livestyle.runconfig import parse_background
    from livestyle.stages.background import load_background_image

    mode, arg = parse_background(cfg.background)
    if mode == "transparent":
        if not getattr(sink, "carries_alpha", False):
            raise UsageError(f"--background transparent needs an output that carries alpha, and {cfg.output!r} "
                             "does not (a virtual camera and video files are opaque).",
                             fix="Use --output stream:PORT with an OBS Media Source, or --background "
                                 "color:#00b140 and OBS's Color Key filter.")
    image = load_background_image(arg) if mode == "image" else None
    return mode, arg, image, (parse_beauty_items(cfg.beauty) if cfg.beauty else None)


def _people(cfg: RunConfig, sink, checked: tuple, *, out_size: tuple[int, int], fps: float) -> People:
    """The person, background and beauty stages for what :func:`_check_people` found ``cfg`` asks.

    The person and background stages are built when a background mode or a one-part look is asked for, the
    beauty stage when a beauty amount is, and all of them when a control server runs (so the panel and the
    OBS script can turn them on during the stream).  Without the model files the run goes on without them,
    saying so in one line when they were asked for.
    """
    from livestyle.people.models import ModelMissing

    mode, arg, image, beauty = checked
    asked = mode != "keep" or cfg.look_on != "both"
    beauty_asked = bool(beauty) and any(v > 0 for v in beauty.values())
    live_controls = cfg.control is not None
    if not (asked or beauty_asked or live_controls):
        return People(beauty=beauty)
    from livestyle.stages.background import BackgroundStage
    from livestyle.stages.beauty import BeautyStage
    from livestyle.stages.person import PersonStage

    before, after, modes, why = [], [], ("keep",), {}
    start = {"background": "keep", "colour": "#00b140", "look_on": "both"}  # without the person stage
    if asked or live_controls:
        try:
            before.append(PersonStage(out_size))
        except ModelMissing as e:
            if asked:
                log.warning("%s Running without the person stage: the background is kept and the look covers the "
                            "whole frame.", e)
            else:
                log.info("no person stage: %s", e)
            why = {m: str(e) for m in ("blur", "image", "color", "transparent")}
        else:
            alpha = bool(getattr(sink, "carries_alpha", False))
            modes = ("keep", "blur", "color") + (("image",) if image is not None else ()) + \
                (("transparent",) if alpha else ())
            why = {"image": "no picture was given (start the run with --background image:PATH)",
                   "transparent": "this output cannot carry alpha (use --output stream:PORT)"}
            after.append(BackgroundStage(out_size, image=image))
            start = {"background": mode, "colour": arg if mode == "color" else "#00b140", "look_on": cfg.look_on}
    beauty_why = ""
    if beauty_asked or live_controls:
        try:
            before.append(BeautyStage(out_size, fps=fps))
        except ModelMissing as e:
            beauty_why = str(e)
            if beauty_asked:
                log.warning("%s Running without beauty.", e)
                beauty = None
            else:
                log.info("no beauty stage: %s", e)
    return People(tuple(before), tuple(after), modes, why, beauty=beauty, beauty_why=beauty_why, **start)


def _obs_tick(pipe: Pipeline, obs, sink) -> Callable[[], None]:
    """Twice a second: tell the OBS link the delay to set on the mic (capture->send p50 + the sink's own)."""
    last = [0.0]

    def tick():
        now = time.perf_counter()
        if now - last[0] >= 0.5:
            last[0] = now
            rec = pipe.stats.recent(now)
            if rec["p50_ms"] is not None:
                obs.update_delay(rec["p50_ms"] / 1000.0 + float(getattr(sink, "extra_delay_s", 0.0)))
    return tick


def run(cfg: RunConfig, *, on_frame: Callable[[FrameRecord], None] | None = None,
        on_ready: Callable[[Pipeline], None] | None = None) -> dict:
    """Open everything ``cfg`` names, run the pipeline, close everything, return (and write) the report.

    ``on_frame`` gets a :class:`FrameRecord` per sent frame (output thread);
    ``on_ready`` gets the :class:`Pipeline` just before it starts.  The
    report's ``stop_signal`` holds the number of the signal that stopped the
    run (SIGINT, SIGTERM, SIGHUP), else None.
    """
    from livestyle.runners.bank import RunnerBank
    from livestyle.runners.registry import create_runner
    from livestyle.sinks import open_sink
    from livestyle.sources import open_source
    from livestyle.styles import discover, expand

    cfg.validate()
    _check_paths(cfg)
    styles = discover()
    weights, first = _resolve_style(cfg.style, styles)
    if first not in styles:
        styles = [first] + styles
    packs = {s.name: s for s in styles}

    source = open_source(cfg.input, size=cfg.size, fps=cfg.fps, realtime=cfg.realtime)
    sink = open_sink(cfg.output, device=cfg.vcam_device)
    checked = _check_people(cfg, sink)  # refuse what cannot work before any device opens
    if checked[0] == "transparent":
        sink.alpha = True  # the network output then names its raw BGRA stream, which carries the alpha into OBS
    choice = bank = server = obs = pipe = None
    try:
        source.open()
        out_size = cfg.size or tuple(source.size)
        if min(out_size) < MIN_SIDE:
            raise UsageError(f"The input is {out_size[0]}x{out_size[1]}, too small: livestyle needs at least "
                             f"{MIN_SIDE} pixels on each side.", fix=f"Add --size {max(out_size[0], MIN_SIDE)}x"
                                                                  f"{max(out_size[1], MIN_SIDE)} to scale it up.")
        # the size every installed look accepts (a blend or a switch may reach any of them)
        multiple = math.lcm(*(int(getattr(s, "size_multiple", 4)) for s in styles))
        infer_size = align_infer_size(cfg.infer_size or default_infer_size(out_size), multiple)
        fps = float(cfg.fps or source.fps or 30.0)
        opencv_threads(fps)
        # a GPU runs the student at full resolution in a few ms: no need to trade detail for speed
        cuda_size = align_infer_size(out_size, multiple) if cfg.infer_size is None else None
        choice = create_runner(cfg.backend, first, infer_size=infer_size, cuda_infer_size=cuda_size)
        infer_size = choice.runner.infer_size

        def make_runner(pack):  # later looks: same backend, the inference size of the moment
            look = pipe.stage("look") if pipe is not None else None
            return create_runner(choice.backend, pack, infer_size=look.infer_size if look else infer_size).runner

        # ONNX Runtime runs a multi-look engine with its weight vector; the torch runner builds one look's network
        engines = choice.backend == "onnxruntime"
        bank = RunnerBank(packs, make_runner, expand=lambda name: expand(name, packs=styles), engines=engines)
        bank.add(first, choice.runner)
        people = _people(cfg, sink, checked, out_size=out_size, fps=fps)
        controls = Controls([s.name for s in styles], weights=weights, strength=cfg.strength,
                            background=people.background, blur=cfg.blur, background_color=people.colour,
                            look_on=people.look_on, background_modes=people.modes, background_why=people.why,
                            beauty=people.beauty, beauty_available=any(s.name == "beauty" for s in people.before),
                            beauty_why=people.beauty_why)
        sink.open(out_size, fps)
        if getattr(sink, "url", None):  # a network output: say where to point OBS or a browser
            alpha = " (raw BGRA with alpha, for an OBS Media Source)" if getattr(sink, "alpha", False) else ""
            print(f"livestyle: network output {sink.url}{alpha}", flush=True)
        pipe = build_pipeline(cfg, source=source, sink=sink, bank=bank, controls=controls, out_size=out_size,
                              infer_size=infer_size, fps=fps, backend=choice.backend, on_frame=on_frame,
                              before=people.before, after=people.after)
        bank.load(weights)  # every look of the start blend is loaded before the first frame
        if source.live:  # the other looks load in the background, so switching on air is instant
            bank.preload([s.name for s in styles])
        tick = None
        if cfg.control is not None:
            from livestyle.control.server import ControlServer

            server = ControlServer(pipe, host=cfg.control[0], port=cfg.control[1], token=cfg.control_token,
                                   styles=styles)
            server.start()
            pipe.server = server
            print(f"livestyle: control panel {server.panel_url}", flush=True)
        if cfg.obs is not None:
            from livestyle.obs.link import ObsLink

            obs = ObsLink(cfg.obs, cfg.obs_password, cfg.obs_mic, frame_interval_s=1.0 / fps)
            obs.start()
            pipe.obs = obs
            tick = _obs_tick(pipe, obs, sink)
        log.info("running %s -> %s with %s on %s at %s (infer %s)", source.description, sink.description,
                 format_weights(weights), choice.backend, out_size, infer_size)
        if on_ready is not None:
            on_ready(pipe)
        pipe.run(tick=tick)
        if pipe.quality is not None:
            pipe.quality.remember_run(pipe.stats)
    finally:
        source.close()
        try:
            sink.close()
        finally:
            if obs is not None:
                obs.close()
            if server is not None:
                server.stop()
            if bank is not None:
                bank.close()
            elif choice is not None:
                choice.runner.deactivate()
    rep = pipe.report(backend_choice=choice)
    rep["stop_signal"] = pipe.stop_signal
    if obs is not None:
        rep["obs"] = obs.state()
    if server is not None:
        n = max(1, rep["frames_out"])
        rep["control"] = {"url": server.base_url, "requests": server.requests, "cpu_s": round(server.cpu_s, 4),
                          "cpu_ms_per_frame": round(1000.0 * server.cpu_s / n, 4)}
    if cfg.report:
        write_json_atomic(cfg.report, rep)
    return rep
