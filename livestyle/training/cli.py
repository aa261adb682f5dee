"""``livestyle train`` and ``livestyle capture``.

Registration imports nothing heavy: torch, OpenCV and the training code are
imported inside the handlers.
"""

from __future__ import annotations

import argparse
import re
import sys

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# flag dest -> TrainConfig field, for flags that map one to one
_SIMPLE = {
    "style_images": "style_images", "content_images": "content_images", "size": "size",
    "student_size": "student_size", "teacher_steps": "teacher_steps", "student_steps": "student_steps",
    "batch": "batch", "seed": "seed", "device": "device", "disc_width": "disc_width", "disc_layers": "disc_layers",
    "student_disc_width": "student_disc_width", "student_disc_layers": "student_disc_layers", "lr": "lr",
    "identity_weight": "lambda_identity", "cycle_weight": "lambda_cycle", "consistency_weight": "w_consistency",
    "teacher_from": "teacher_from",
    "checkpoint_every": "checkpoint_every", "sample_every": "sample_every", "look": "look", "threads": "threads",
}
_TEACHER = {"teacher_width": "width", "teacher_blocks": "blocks", "teacher_residual": "residual"}
_STUDENT = {"student_stem": "stem", "student_width": "width", "student_blocks": "blocks",
            "student_expansion": "expansion"}


def add_parsers(sub) -> None:
    """Add ``train`` and ``capture`` to the ``livestyle`` parser."""
    p = sub.add_parser("train", help="train a style pack from photos (CycleGAN teacher -> real-time student)",
                       description="Train a CycleGAN teacher on unpaired style and content photos, distil it into "
                                   "the real-time student, export ONNX and install the style pack where "
                                   "`livestyle run --style NAME` finds it.  Runs under torchrun for DDP.")
    g = p.add_argument_group("data and output")
    g.add_argument("--style-images", metavar="DIR", help="folder of photos with the look to learn (recursive)")
    g.add_argument("--content-images", metavar="DIR",
                   help="folder of your own frames (see `livestyle capture`), recursive")
    g.add_argument("--name", required=True, help="style name (letters, digits, . _ -)")
    g.add_argument("--out", metavar="DIR", help="where packs are installed (default: the user styles folder)")
    g.add_argument("--run-dir", metavar="DIR", help="checkpoints, samples, loss curves and logs (default: runs/NAME)")
    g.add_argument("--look", help="recorded in the pack metadata as the procedural look it imitates")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    g.add_argument("--teacher-from", metavar="STYLE",
                   help="distil the teacher of this style pack (name or folder) instead of training a CycleGAN; "
                        "e.g. to retrain only the student with other settings")
    g = p.add_argument_group("schedule")
    g.add_argument("--size", type=int, help="teacher crop side in px, multiple of 4 (default 128)")
    g.add_argument("--student-size", type=int, help="student crop side in px (default: --size)")
    g.add_argument("--teacher-steps", type=int, help="CycleGAN steps (default 20000)")
    g.add_argument("--student-steps", type=int, help="distillation steps (default 5000)")
    g.add_argument("--batch", type=int, help="images per step per process (default 1)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4), linear decay over the 2nd half")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--cycle-weight", type=float,
                   help="CycleGAN cycle-consistency loss weight (default 10)")
    g.add_argument("--consistency-weight", type=float,
                   help="student shift-consistency loss |S(T(x)) - T(S(x))| weight (default 10; 0 turns it off)")
    g.add_argument("--identity-weight", type=float,
                   help="CycleGAN identity loss, times the cycle weight (default 0.5); lower it for colour "
                        "grades, which the identity term pulls back towards the input")
    g.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 200)")
    g.add_argument("--sample-every", type=int, help="steps between sample grids and loss curves (default 200)")
    g = p.add_argument_group("machine")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: cuda when available, else cpu")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("architecture")
    g.add_argument("--teacher-width", type=int, help="teacher base channels (default 32)")
    g.add_argument("--teacher-blocks", type=int, help="teacher residual blocks (default 6)")
    g.add_argument("--teacher-residual", action=argparse.BooleanOptionalAction, default=None,
                   help="teacher predicts a change added to its input instead of the whole image (default: off, "
                        "the original CycleGAN)")
    g.add_argument("--disc-width", type=int, help="teacher PatchGAN base channels (default 64)")
    g.add_argument("--disc-layers", type=int, help="teacher PatchGAN stride-2 layers; 3 = 70x70 (default 3)")
    g.add_argument("--student-stem", type=int, help="student channels at 1/2 resolution")
    g.add_argument("--student-width", type=int, help="student channels at 1/4 resolution")
    g.add_argument("--student-blocks", type=int, help="student inverted-residual blocks")
    g.add_argument("--student-expansion", type=int, help="student block expansion factor")
    g.add_argument("--student-disc-width", type=int, help="student PatchGAN base channels (default 32)")
    g.add_argument("--student-disc-layers", type=int, help="student PatchGAN layers (default 3)")
    p.set_defaults(func=_train)

    c = sub.add_parser("capture", help="save your own webcam frames (spread over time) as a content set",
                       description="Save frames from a camera (or any `livestyle run --input` spec) spread over "
                                   "time, skipping near-duplicates, for `livestyle train --content-images`.")
    c.add_argument("--camera", default="0", help="camera index or any --input spec (file, URL); default 0")
    c.add_argument("--frames", type=int, default=200, help="frames to save (default 200)")
    c.add_argument("--out", required=True, metavar="DIR", help="folder for the JPEG frames")
    c.add_argument("--interval", type=float, default=0.5,
                   help="seconds between saved frames (video time for files; default 0.5)")
    c.add_argument("--min-diff", type=float, default=4.0,
                   help="skip a frame whose 64x36 grey thumbnail differs from the last saved one by less than "
                        "this mean absolute level (default 4)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_capture)


def _say(msg: str) -> None:
    """A progress line on stderr that does not tear a running tqdm bar."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the train extra
        print(f"livestyle: {msg}", file=sys.stderr, flush=True)
    else:
        tqdm.write(f"livestyle: {msg}", file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    from livestyle.errors import UsageError

    if not _NAME.match(args.name):
        raise UsageError(f"--name {args.name!r} is not a usable style name.",
                         fix="Use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit).")
    if args.teacher_from is not None and args.teacher_steps:
        raise UsageError("--teacher-from takes a finished teacher, so --teacher-steps does not apply.",
                         fix="Drop --teacher-steps, or drop --teacher-from to train a new teacher.")
    if not args.resume and (args.style_images is None or args.content_images is None):
        raise UsageError("--style-images and --content-images are required (except with --resume).",
                         fix="Pass both folders, e.g. --style-images photos/ --content-images me/.")

    import dataclasses
    from pathlib import Path

    from livestyle.models.student import StudentConfig
    from livestyle.models.teacher import TeacherConfig
    from livestyle.styles.pack import user_styles_dir
    from livestyle.training.trainer import TrainConfig, train

    explicit: set[str] = set()
    fields: dict = {}
    for dest, field_name in _SIMPLE.items():
        v = getattr(args, dest)
        if v is not None:
            fields[field_name] = v
            explicit.add(field_name)
    teacher = {f: getattr(args, d) for d, f in _TEACHER.items() if getattr(args, d) is not None}
    student = {f: getattr(args, d) for d, f in _STUDENT.items() if getattr(args, d) is not None}
    if teacher:
        explicit.add("teacher")
    if student:
        explicit.add("student")
    try:
        fields["teacher"] = dataclasses.replace(TeacherConfig(), **teacher)
        fields["student"] = dataclasses.replace(StudentConfig(), **student)
    except TypeError as e:
        raise UsageError(f"Bad architecture flag ({e}).", fix="See `livestyle train --help`.") from None
    out = args.out if args.out is not None else str(user_styles_dir())
    run_dir = args.run_dir if args.run_dir is not None else str(Path("runs") / args.name)
    explicit |= {"name", "out_dir", "run_dir"}
    cfg = TrainConfig(style_images=fields.pop("style_images", ""), content_images=fields.pop("content_images", ""),
                      name=args.name, out_dir=out, run_dir=run_dir, **fields)
    result = train(cfg, resume=args.resume, explicit=explicit, report=_say, progress=not args.no_progress)
    if result.pack is not None:
        print(f"style {args.name!r} installed at {result.pack}; play it with: livestyle run --style {args.name}")
    return 0


def _capture(args: argparse.Namespace) -> int:
    from livestyle.training.capture import CaptureConfig, capture

    cfg = CaptureConfig(source=args.camera, frames=args.frames, out_dir=args.out, interval_s=args.interval,
                        min_diff=args.min_diff)
    saved = capture(cfg, report=_say, progress=not args.no_progress)
    print(f"saved {saved} frame(s) to {args.out}; train with: livestyle train --content-images {args.out} ...")
    return 0
