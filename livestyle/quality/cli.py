"""``livestyle eval``: registration (imports nothing heavy) and the handler."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub) -> None:
    """Add ``eval`` to the ``livestyle`` parser; imports nothing heavy."""
    p = sub.add_parser(
        "eval", help="measure a style against its procedural look (PSNR/SSIM, warping error)",
        description="Compare a style pack's student (ONNX Runtime) and teacher (PyTorch, if present) with the true "
                    "output of the procedural look the pack was trained on, on held-out images, and measure the "
                    "warping-error ratio (Lai et al. 2018) on moving clips with and without the runtime temporal "
                    "filter.  Writes a JSON report, a contact sheet PNG and a before/after strip PNG.")
    p.add_argument("style", metavar="STYLE", help="installed style name or pack folder")
    p.add_argument("--clip", type=Path, help="video file for the temporal metric (default: the dataset's clips)")
    p.add_argument("--report", type=Path, help="JSON report path: a new name or an existing JSON file (default: ./eval-STYLE.json); the PNGs go "
                        "next to it")
    p.add_argument("--data", type=Path,
                   help="dataset folder from benchmarks/quality/make_datasets.py (default: generate test data now)")
    p.add_argument("--test-images", type=int, default=12, metavar="N",
                   help="test images to generate when --data is not given (default 12)")
    p.add_argument("--frames", type=int, default=48, metavar="N", help="frames per clip (default 48)")
    p.add_argument("--filter-strength", type=float, default=0.8, metavar="S",
                   help="temporal filter strength for the 'filtered' numbers (default 0.8)")
    p.set_defaults(func=run_eval)


def _check_outputs(args: argparse.Namespace, style: str) -> None:
    """Refuse, before any work, a --report (or the PNGs beside it) that is an input, a device, a pipe, a folder
    or another kind of file (see livestyle.fsutil.check_output_path)."""
    from livestyle.fsutil import check_output_path
    from livestyle.quality.evaluate import output_paths

    inputs = [("--clip", args.clip)] if args.clip is not None else []
    report, contact, strip = output_paths(args.report, style)
    check_output_path(report, flag="--report", inputs=inputs, kind="json")
    for png in (contact, strip):
        check_output_path(png, flag="--report", inputs=inputs + [("--report", report)])


def run_eval(args: argparse.Namespace) -> int:
    from livestyle.errors import DataError, UsageError
    from livestyle.quality.evaluate import EvalConfig, evaluate
    from livestyle.styles import find_style

    if args.test_images < 1 or args.frames < 2:
        raise UsageError(f"--test-images must be >= 1 and --frames >= 2; got {args.test_images} and {args.frames}.",
                         fix="Pass positive counts.")
    if not 0.0 <= args.filter_strength <= 1.0:
        raise UsageError(f"--filter-strength must be in 0..1; got {args.filter_strength}.", fix="Pass e.g. 0.8.")
    if args.data is not None and not args.data.is_dir():
        raise DataError(f"--data {str(args.data)!r} is not a folder.",
                        fix="Make one with `benchmarks/quality/make_datasets.py OUT --look NAME`, or omit --data.")
    if args.clip is not None and not args.clip.is_file():
        raise DataError(f"--clip {str(args.clip)!r} is not a file.", fix="Pass a video file OpenCV can read.")
    pack = find_style(args.style)
    _check_outputs(args, pack.name)
    cfg = EvalConfig(data=args.data, clip=args.clip, report=args.report, n_test=args.test_images,
                     clip_frames=args.frames, filter_strength=args.filter_strength)
    report = evaluate(pack, cfg)
    print(format_report(report))
    return 0


def format_report(r: dict) -> str:
    """A short human-readable summary of an evaluation report."""
    from livestyle import looks
    from livestyle.quality.evaluate import flicker_target

    def num(x, fmt="{:.2f}"):
        return "-" if x is None else fmt.format(x)

    im = r["images"]
    lines = [f"style {r['style']}  look {r['look']}  ({r['test_images']} held-out images; teacher: {r['teacher']})",
             f"  {'':8s} {'PSNR dB':>8s} {'SSIM':>7s}   (vs the true look)"]
    for who in ("input", "teacher", "student"):
        m = im.get(who)
        lines.append(f"  {who:8s} {num(m and m['psnr']):>8s} {num(m and m['ssim'], '{:.4f}'):>7s}"
                     if m else f"  {who:8s} {'absent':>8s}")
    s = r["summary"]
    lines.append(f"  student gain over input: {num(s['student_gain_db'], '{:+.2f}')} dB;  "
                 f"student-teacher gap: {num(s['student_teacher_gap_db'], '{:.2f}')} dB")
    t = r["temporal"]
    mr = t["mean_ratio"]
    target = None
    if isinstance(mr.get("true_look"), float) and r.get("look") in looks.names():
        target = flicker_target(r["look"], mr["true_look"])
    goal = f"target <= {target:.2f}" if target is not None else "no target"
    lines.append(f"  warping-error ratio (stylized / input; {goal}), filter strength {t['filter_strength']}:")
    for name, c in t["clips"].items():
        lines.append(f"    {name:14s} student {c['student']:.3f}  filtered {c['student_filtered']:.3f}  "
                     f"true look {c['true_look']:.3f}" + (f"  teacher {c['teacher']:.3f}" if "teacher" in c else ""))
    lines.append(f"    {'mean':14s} student {num(mr['student'], '{:.3f}')}  filtered "
                 f"{num(mr['student_filtered'], '{:.3f}')}  true look {num(mr['true_look'], '{:.3f}')}")
    if target is not None and isinstance(mr.get("student"), float):
        lines.append(f"  flicker target {'met' if mr['student'] <= target else 'MISSED'}: {mr['student']:.3f} "
                     f"against {target:.3f}")
    f = r["files"]
    lines.append(f"  wrote {f['report']}, {f['contact_sheet']}" + (f", {f['strip']}" if f.get("strip") else ""))
    return "\n".join(lines)
