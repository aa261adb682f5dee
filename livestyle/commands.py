"""The runtime subcommands: ``run`` and ``styles`` (no torch is imported here)."""

from __future__ import annotations

import argparse
import json
import sys


def _strength(text: str) -> float:
    from livestyle.errors import UsageError
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"--strength {text!r} is not a number.", fix="Use a value in 0..1, such as 0.8.") from None
    if not 0.0 <= v <= 1.0:
        raise UsageError(f"--strength {text} is outside 0..1.", fix="Use a value in 0..1, such as 0.8.")
    return v + 0.0  # -0.0 -> 0.0


def _unit(text: str, flag: str) -> float:
    """A 0..1 flag value (finite; -0 becomes 0), or one UsageError line."""
    import math

    from livestyle.errors import UsageError
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a number.", fix="Use a value in 0..1, such as 0.5.") from None
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise UsageError(f"{flag} {text} is outside 0..1.", fix="Use a value in 0..1, such as 0.5.")
    return v + 0.0


def _host_port(text: str) -> tuple[str, int]:
    """``--control`` value: ``PORT``, ``HOST:PORT`` or ``[::1]:PORT`` -> (host, port)."""
    from livestyle.errors import UsageError

    t = text.strip()
    host, port = "127.0.0.1", t
    if t.startswith("["):
        end = t.find("]")
        host, port = t[1:end], t[end + 2:] if end > 0 else ""
    elif ":" in t:
        host, port = t.rsplit(":", 1)
    if not port.isdigit() or not 0 <= int(port) < 65536 or not host:  # 0: any free port
        raise UsageError(f"--control {text!r} is not [HOST:]PORT.", fix="Write it like --control 8765 or "
                                                                        "--control 127.0.0.1:8765.")
    return host, int(port)


def add_parsers(sub) -> None:
    from livestyle.runners.registry import backend_help

    p = sub.add_parser("run", help="stylize a live or recorded video",
                       description="Stylize a camera, file, URL or the built-in demo and send it to a virtual "
                                   "camera, a preview window, a video file, a network stream or nowhere.")
    p.add_argument("--input", default="0", help="camera index (0 or camera:0), a video file, a URL, or demo (default 0)")
    p.add_argument("--output", default="vcam",
                   help="vcam, preview, a .mp4/.avi/.mkv path, stream:PORT / http://127.0.0.1:PORT/PATH, or null "
                        "(default vcam)")
    p.add_argument("--style", default=None,
                   help="look name (see `livestyle styles`), pack folder, or a blend such as pastel:0.7,mono:0.3; "
                        "default: the default look")
    p.add_argument("--strength", default="1.0", help="0..1, how much of the style (default 1.0)")
    p.add_argument("--size", default=None, help="output size WxH (default: the input's)")
    p.add_argument("--fps", type=float, default=None, help="frame rate to request from the camera / declare to the output")
    p.add_argument("--backend", default="auto", help=backend_help())
    p.add_argument("--infer-size", default=None, help="inference size WxH (default: long side 512 on the CPU, the full frame on CUDA)")
    p.add_argument("--quality", default="auto", choices=("auto", "fixed"),
                   help="auto (default): on live sources, lower the inference size when the machine is too busy to "
                        "hold the frame rate, and raise it again when it is not; fixed: never change it")
    p.add_argument("--max-fps", type=float, default=None, help="cap the frames processed per second (hot laptops, long streams)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N output frames")
    p.add_argument("--report", default=None, help="write a JSON report (fps, drops, latency per stage) here: a new "
                                                   "name, or an existing JSON file to replace")
    p.add_argument("--realtime", action="store_true",
                   help="pace a file (or the demo) at its native fps, as a live camera would deliver it")
    p.add_argument("--upsample", default="detail", help="detail|guided|bilinear (default detail)")
    p.add_argument("--temporal", default="auto", choices=("auto", "on", "off"),
                   help="the motion-aware temporal filter: auto (default) runs it while a look with a CNN (a drawn "
                        "look, a format-1 pack) is on screen and skips it for colour looks, which do not flicker; "
                        "on; off")
    p.add_argument("--no-temporal", action="store_true", help="the same as --temporal off")
    p.add_argument("--device", default=None, help="virtual camera device (e.g. /dev/video10)")
    p.add_argument("--control", nargs="?", const="127.0.0.1:8765", default=None, metavar="[HOST:]PORT",
                   help="serve the control API and web panel (default 127.0.0.1:8765 when given alone)")
    p.add_argument("--control-token", default=None,
                   help="the control API's token (default: a new random one each run, printed with the panel URL)")
    p.add_argument("--obs", nargs="?", const="ws://127.0.0.1:4455", default=None, metavar="URL",
                   help="link to OBS over obs-websocket (default ws://127.0.0.1:4455 when given alone)")
    p.add_argument("--obs-password", default=None,
                   help="obs-websocket password (default: $LIVESTYLE_OBS_PASSWORD)")
    p.add_argument("--obs-mic", default=None,
                   help="OBS audio input whose sync offset livestyle keeps equal to its own delay (lip-sync)")
    p.add_argument("--background", default="keep", metavar="MODE",
                   help="what happens behind the person: keep (default), blur, image:PATH, color:#RRGGBB, or "
                        "transparent (alpha, for the network stream into OBS); needs the person model "
                        "(`livestyle models`)")
    p.add_argument("--blur", default="0.5", help="the blur mode's strength, 0..1 (default 0.5)")
    p.add_argument("--look-on", default="both", choices=("both", "person", "background"),
                   help="where the look is applied (default both)")
    p.add_argument("--beauty", default=None, metavar="KEY=V,...",
                   help="skin smoothing, skin tone, slimmer face, bigger eyes, each 0..1: e.g. "
                        "smooth=0.5,tone=0.2,slim=0.2,eyes=0.1 (default all 0); needs the face models")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    p.set_defaults(func=cmd_run)

    s = sub.add_parser("styles", help="list installed styles")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_styles)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the pipeline; exit 0, or 128 + the signal number when SIGINT/SIGTERM/SIGHUP stopped it."""
    import os

    from livestyle.session import RunConfig, parse_size, run

    from livestyle.fsutil import check_output_path

    import math

    from livestyle.errors import UsageError

    if args.fps is not None and not (args.fps > 0 and math.isfinite(args.fps)):
        raise UsageError(f"--fps {args.fps} must be a finite number above 0.", fix="Use e.g. --fps 30, or leave it out.")
    if args.report is not None:  # a new name or a JSON file, never a device, a pipe or a video (pipeline checks inputs)
        check_output_path(args.report, flag="--report", kind="json")
    control = _host_port(args.control) if args.control is not None else None
    if control is not None and control[0] not in ("127.0.0.1", "localhost", "::1"):
        print(f"livestyle: warning: the control API listens on {control[0]}, not only on this machine: anyone who "
              "can reach it and knows the token can change your stream.", file=sys.stderr)
    cfg = RunConfig(
        input=args.input, output=args.output, style=args.style, strength=_strength(args.strength),
        size=parse_size(args.size) if args.size else None, fps=args.fps, backend=args.backend,
        infer_size=parse_size(args.infer_size, "--infer-size") if args.infer_size else None,
        max_frames=args.max_frames, report=args.report, realtime=args.realtime, upsample=args.upsample,
        temporal="off" if args.no_temporal else args.temporal, vcam_device=args.device, control=control,
        control_token=args.control_token,
        obs=args.obs, obs_password=args.obs_password or os.environ.get("LIVESTYLE_OBS_PASSWORD"),
        obs_mic=args.obs_mic, quality=args.quality, max_fps=args.max_fps,
        background=args.background, blur=_unit(args.blur, "--blur"), look_on=args.look_on, beauty=args.beauty,
    )
    rep = run(cfg)
    if not args.quiet:
        print(format_summary(rep))
    sig = rep.get("stop_signal")
    return 128 + int(sig) if sig else 0


def format_summary(rep: dict) -> str:
    lat = rep["latency_ms"]["capture_to_send"]
    stages = rep["latency_ms"]["stages"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    cpu = rep.get("cpu_ms_per_frame") or {}
    lines = [
        f"{rep['input']} -> {rep['output']}",
        f"style {rep['style']} (strength {rep['strength']:.2f}) on {rep['backend']} [{rep['device']}], "
        f"{rep['size'][0]}x{rep['size'][1]} (inference {rep['infer_size'][0]}x{rep['infer_size'][1]})",
        f"frames: {rep['frames_in']} in, {rep['frames_out']} out, {rep['dropped']} dropped, "
        f"{rep['repeated']} repeated, {rep['reconnects']} reconnects; stopped by {rep['stopped_by']}",
        f"fps: {rep['fps_out']:.1f} out (input {rep['fps_in']:.1f}); CPU {fmt(cpu.get('p50'))} ms per frame (p50)",
        f"latency capture->send: p50 {fmt(lat['p50'])} ms, p95 {fmt(lat['p95'])} ms, p99 {fmt(lat['p99'])} ms",
        "stages p50/p95 ms: " + ", ".join(f"{k} {fmt(v['p50'])}/{fmt(v['p95'])}" for k, v in stages.items()),
    ]
    q = rep.get("quality") or {}
    if q.get("n_changes"):
        lines.append(f"quality {q['mode']}: {q['n_changes']} inference-size changes (see the report)")
    if rep.get("look_error"):
        lines.append(f"look not changed: {rep['look_error']}")
    if rep.get("obs"):
        from livestyle.obs.link import summary_line  # says "restored" only when OBS confirmed it

        lines += [summary_line(rep["obs"])] if summary_line(rep["obs"]) else []
    return "\n".join(lines)


def cmd_styles(args: argparse.Namespace) -> int:
    from livestyle.styles import discover

    packs = discover(include_broken=True)
    if args.json:
        json.dump([p.to_json() for p in packs], sys.stdout, indent=2)
        print()
        return 0
    if not packs:
        print("No styles installed. Train one with `livestyle train --style-images DIR --content-images DIR --name NAME`.")
        return 0
    width = max(len(p.name) for p in packs)
    for p in packs:
        if p.problem is not None:
            print(f"{p.name:<{width}}  {'BROKEN':<16} {'':<18} {'':<34} {p.path}")
            continue
        flags = ("default" if p.default else "") + (" bundled" if p.bundled else "") + \
            (" drawn" if p.meta.get("kind") == "texture" else "")
        if p.mix is not None:
            look = "mix " + "+".join(f"{k}:{v:.2f}" for k, v in p.mix.items())
        else:
            look = f"look={p.look}" if p.look else ""
        print(f"{p.name:<{width}}  {flags.strip():<16} {look:<18} {_quality_line(p.meta):<34} {p.path}")
    return 0


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _quality_line(meta: dict) -> str:
    """'+8.8 dB, flicker 1.01' from a pack's measured metrics (``metrics.quality``), or ''; never raises."""
    metrics = meta.get("metrics") if isinstance(meta, dict) else None
    q = metrics.get("quality") if isinstance(metrics, dict) else None
    q = q if isinstance(q, dict) else {}
    parts = []
    gain = _num(q.get("student_gain_db"))
    if gain is not None:
        parts.append(f"{gain:+.1f} dB vs input")
    wer = q.get("warping_error_ratio")
    ratio = _num(wer.get("student")) if isinstance(wer, dict) else None
    if ratio is not None:
        parts.append(f"flicker {ratio:.2f}")
    return ", ".join(parts)
