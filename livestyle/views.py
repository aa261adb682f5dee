"""What a running pipeline shows: the preview's status line, the control API's state, the end-of-run report.

All three read fixed-size statistics only.  Stages are listed from the
pipeline's stage list: ``latency_ms.stages`` holds capture, each stage's
parts, then output; ``stages`` (report and state) holds one entry per stage
with its switch and the frames it ran on or skipped.  The look stage's own
fields (look, weights, loading, error, infer size) keep their old keys.
"""

from __future__ import annotations

import time

__all__ = ["StatusLine", "report", "stage_latency", "state", "status_line"]


class StatusLine:
    """The preview's status strip; rebuilt at most 4 times a second (it costs a percentile over the window),
    and at once when a stage's look state changes (a look loads, fails, switches)."""

    def __init__(self, pipe):
        self.pipe, self.look = pipe, pipe.stage("look")
        self._text, self._t, self._seen = "", -1.0, None

    def line(self) -> str:
        pipe, now = self.pipe, time.perf_counter()
        seen = self.look.switcher.changes if self.look is not None else None
        if now - self._t < 0.25 and seen == self._seen:
            return self._text
        rec = pipe.stats.recent(now)
        s = pipe.controls.snapshot()
        leads, notes = [], []
        for stage in pipe.stages:
            lead, more = stage.status(s)
            if lead:
                leads.append(lead)
            notes += more
        p50 = rec["p50_ms"] or 0.0
        self._text = (f"{' | '.join(leads) or 'live'} | {rec['fps']:.1f} fps | {p50:.0f} ms | {pipe.backend}"
                      + "".join(f" | {n}" for n in notes))
        self._t, self._seen = now, seen
        return self._text


def status_line(pipe) -> str:
    """The pipeline's status line (its :class:`StatusLine`, rebuilt at most 4 times a second)."""
    return pipe.status.line()


def _look(pipe) -> dict:
    look = pipe.stage("look")
    if look is None:
        return {"look": None, "weights": {}, "loading": None, "error": None, "infer_size": list(pipe.out_size)}
    return look.state()


def _stage_list(pipe, s) -> list[dict]:
    return [{"name": st.name, "parts": list(st.timed), "on": st.enabled(s), "frames": st.meter.ran,
             "skipped": st.meter.skipped, **st.state()} for st in pipe.stages]


def state(pipe) -> dict:
    """The live state the control API serves (cheap: fixed-size windows only)."""
    s = pipe.controls.snapshot()
    rec = pipe.stats.recent()
    look = _look(pipe)
    return {
        "look": look["look"],
        "weights": look["weights"],
        "requested": s.label,
        "loading": look["loading"],
        "error": look["error"],
        "strength": s.strength,
        "bypass": s.bypass,
        "fps_out": rec["fps"],
        "fps_target": pipe.fps,
        "latency_ms": {"p50": rec["p50_ms"], "p95": rec["p95_ms"], "window_s": pipe.stats.recent_latency.seconds},
        "added_delay_ms": rec["p50_ms"],
        "dropped": pipe.dropped_total,
        "frames_out": pipe.stats.frames_out,
        "backend": pipe.backend,
        "size": list(pipe.out_size),
        "infer_size": look["infer_size"],
        "cpu_percent": pipe.cpu.percent(),
        "looks": list(pipe.controls.looks),
        "background": s.background,
        "blur": s.blur,
        "background_color": s.background_color,
        "look_on": s.look_on,
        "background_modes": list(pipe.controls.background_modes),
        "beauty": s.beauty_amounts if s.beauty_on else dict(zip(("smooth", "tone", "slim", "eyes"), s.beauty)),
        "beauty_on": s.beauty_on,
        "beauty_available": "beauty" in pipe.controls.features,
        "version": s.version,
        "stages": [{k: v for k, v in e.items() if k in ("name", "on", "frames", "skipped")}
                   for e in _stage_list(pipe, s)],
        "obs": pipe.obs.state() if pipe.obs is not None else None,
    }


def stage_latency(pipe) -> dict[str, dict]:
    """p50/p95 ms per timed name, in the run's order: capture, each stage's parts, output."""
    st = pipe.stats
    out = {"capture": st.stages["capture"].percentiles_ms((50, 95))}
    for stage in pipe.stages:
        for name, hist in stage.meter.parts.items():
            out[name] = hist.percentiles_ms((50, 95))
    out["output"] = st.stages["output"].percentiles_ms((50, 95))
    return out


def report(pipe, *, backend_choice=None) -> dict:
    """The end-of-run report (``--report`` JSON); ``backend_choice`` adds how the backend was chosen."""
    st, cfg = pipe.stats, pipe.cfg
    dur = max(1e-6, (st.t_last_out or time.perf_counter()) - st.t_start)
    out_span = (st.t_last_out - st.t_first_out) if (st.t_first_out and st.frames_out > 1) else None
    skipped = int(getattr(pipe.source, "skipped", 0) or 0)
    s = pipe.controls.snapshot()
    written = getattr(pipe.sink, "written_size", None)
    look_stage = pipe.stage("look")
    look = _look(pipe)
    rep = {
        "frames_in": st.frames_in,
        "frames_out": st.frames_out,
        "dropped": pipe.dropped_total,
        "dropped_at": {"capture_slot": pipe.slot_in.dropped, "output_slot": pipe.slot_out.dropped,
                       "source_skipped": skipped},
        "dropped_steady": st.dropped_steady,
        "capped_by_max_fps": pipe.capture.capped,
        "repeated": st.repeated,
        "fps_in": round(st.frames_in / dur, 2),
        "fps_out": round((st.frames_out - 1) / out_span, 2) if out_span else 0.0,
        "fps_target": pipe.fps,
        "duration_s": round(dur, 3),
        "size": list(written) if written else list(pipe.out_size),
        "infer_size": look["infer_size"],
        "input": getattr(pipe.source, "description", "") or cfg.input,
        "output": getattr(pipe.sink, "description", "") or cfg.output,
        "live": pipe.live,
        "style": look["look"],
        "weights": look["weights"],
        "look_error": look["error"],
        "strength": s.strength,
        "bypass": s.bypass,
        "upsample": cfg.upsample,
        "temporal_filter": cfg.temporal_mode,
        "temporal_filtered_frames": look_stage.temporal_frames if look_stage is not None else 0,
        "stages": _stage_list(pipe, s),
        "latency_ms": {
            "capture_to_send": st.latency.percentiles_ms(),
            "stages": stage_latency(pipe),
            "control_to_frame": {**pipe.control_latency.percentiles_ms((50, 95)),
                                 "count": pipe.control_latency.count},
        },
        "cpu_ms_per_frame": st.cpu_per_frame.percentiles_ms((50, 95)),
        "opencv_threads": _opencv_threads(),
        "quality": (pipe.quality.to_json() if pipe.quality is not None else
                    {"mode": "fixed", "changes": [], "n_changes": 0, "started_at_remembered": None}),
        "reconnects": int(getattr(pipe.source, "reconnects", 0) or 0),
        "stopped_by": pipe.stop_reason,
    }
    for attr in ("frames_promised", "frames_read"):
        v = getattr(pipe.source, attr, None)
        if v is not None:
            rep.setdefault("source", {})[attr] = v
    for attr in ("errors", "recoveries"):
        v = getattr(pipe.sink, attr, None)
        if isinstance(v, int):
            rep.setdefault("sink", {})[attr] = v
    if backend_choice is not None:
        rep["backend"] = backend_choice.backend
        rep["device"] = backend_choice.device
        rep["backend_reason"] = backend_choice.reason
        rep["backends_not_used"] = backend_choice.skipped
    return rep


def _opencv_threads() -> int:
    """The threads OpenCV's own loops use in this run (:func:`livestyle.session.opencv_threads`)."""
    import cv2

    return cv2.getNumThreads()
