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
    return v


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="stylize a live or recorded video",
                       description="Stylize a camera, file, URL or the built-in demo and send it to a virtual "
                                   "camera, a preview window, a video file or nowhere.")
    p.add_argument("--input", default="0", help="camera index (0 or camera:0), a video file, a URL, or demo (default 0)")
    p.add_argument("--output", default="vcam", help="vcam, preview, a .mp4/.avi/.mkv path, or null (default vcam)")
    p.add_argument("--style", default=None, help="style name (see `livestyle styles`) or pack folder; default: the default style")
    p.add_argument("--strength", default="1.0", help="0..1, how much of the style (default 1.0)")
    p.add_argument("--size", default=None, help="output size WxH (default: the input's)")
    p.add_argument("--fps", type=float, default=None, help="frame rate to request from the camera / declare to the output")
    p.add_argument("--backend", default="auto", help="auto|onnxruntime|torch|tensorrt (default auto: fastest available)")
    p.add_argument("--infer-size", default=None, help="inference size WxH (default: long side 512 on the CPU, the full frame on CUDA)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N output frames")
    p.add_argument("--report", default=None, help="write a JSON report (fps, drops, latency per stage) here")
    p.add_argument("--realtime", action="store_true",
                   help="pace a file (or the demo) at its native fps, as a live camera would deliver it")
    p.add_argument("--upsample", default="detail", help="detail|guided|bilinear (default detail)")
    p.add_argument("--no-temporal", action="store_true", help="turn off the motion-aware temporal filter")
    p.add_argument("--device", default=None, help="virtual camera device (e.g. /dev/video10)")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    p.set_defaults(func=cmd_run)

    s = sub.add_parser("styles", help="list installed styles")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_styles)


def cmd_run(args: argparse.Namespace) -> int:
    from livestyle.pipeline import RunConfig, parse_size, run

    cfg = RunConfig(
        input=args.input, output=args.output, style=args.style, strength=_strength(args.strength),
        size=parse_size(args.size) if args.size else None, fps=args.fps, backend=args.backend,
        infer_size=parse_size(args.infer_size, "--infer-size") if args.infer_size else None,
        max_frames=args.max_frames, report=args.report, realtime=args.realtime, upsample=args.upsample,
        temporal=not args.no_temporal, vcam_device=args.device,
    )
    rep = run(cfg)
    if not args.quiet:
        print(format_summary(rep))
    return 0


def format_summary(rep: dict) -> str:
    lat = rep["latency_ms"]["capture_to_send"]
    stages = rep["latency_ms"]["stages"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    lines = [
        f"{rep['input']} -> {rep['output']}",
        f"style {rep['style']} (strength {rep['strength']:.2f}) on {rep['backend']} [{rep['device']}], "
        f"{rep['size'][0]}x{rep['size'][1]} (inference {rep['infer_size'][0]}x{rep['infer_size'][1]})",
        f"frames: {rep['frames_in']} in, {rep['frames_out']} out, {rep['dropped']} dropped, "
        f"{rep['repeated']} repeated, {rep['reconnects']} reconnects; stopped by {rep['stopped_by']}",
        f"fps: {rep['fps_out']:.1f} out (input {rep['fps_in']:.1f})",
        f"latency capture->send: p50 {fmt(lat['p50'])} ms, p95 {fmt(lat['p95'])} ms, p99 {fmt(lat['p99'])} ms",
        "stages p50/p95 ms: " + ", ".join(f"{k} {fmt(v['p50'])}/{fmt(v['p95'])}" for k, v in stages.items()),
    ]
    return "\n".join(lines)


def cmd_styles(args: argparse.Namespace) -> int:
    from livestyle.styles import discover

    packs = discover()
    if args.json:
        json.dump([p.to_json() for p in packs], sys.stdout, indent=2)
        print()
        return 0
    if not packs:
        print("No styles installed. Train one with `livestyle train --style-images DIR --content-images DIR --name NAME`.")
        return 0
    width = max(len(p.name) for p in packs)
    for p in packs:
        flags = ("default" if p.default else "") + (" bundled" if p.bundled else "")
        look = f"look={p.look}" if p.look else ""
        print(f"{p.name:<{width}}  {flags.strip():<16} {look:<18} {_quality_line(p.meta):<34} {p.path}")
    return 0


def _quality_line(meta: dict) -> str:
    """'+8.8 dB, flicker 1.01' from a pack's measured metrics (``metrics.quality``), or ''."""
    q = meta.get("metrics", {}).get("quality") or {}
    parts = []
    if q.get("student_gain_db") is not None:
        parts.append(f"{q['student_gain_db']:+.1f} dB vs input")
    ratio = (q.get("warping_error_ratio") or {}).get("student")
    if ratio is not None:
        parts.append(f"flicker {ratio:.2f}")
    return ", ".join(parts)
