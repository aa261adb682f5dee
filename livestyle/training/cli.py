"""``livestyle train`` and ``livestyle capture``.

Registration imports nothing heavy: torch, OpenCV and the training code are
imported inside the handlers.
"""

from __future__ import annotations

import argparse
import contextlib
import sys


# exit status of a colour run whose checks call the look unreliable, so nothing was installed (without --force)
UNRELIABLE_EXIT = 3

# flag dest -> TrainConfig field, for flags that map one to one
_SIMPLE = {
    "style_images": "style_images", "content_images": "content_images", "size": "size",
    "student_size": "student_size", "teacher_steps": "teacher_steps", "student_steps": "student_steps",
    "batch": "batch", "seed": "seed", "device": "device", "disc_width": "disc_width", "disc_layers": "disc_layers",
    "student_disc_width": "student_disc_width", "student_disc_layers": "student_disc_layers", "lr": "lr",
    "identity_weight": "lambda_identity", "cycle_weight": "lambda_cycle", "consistency_weight": "w_consistency",
    "teacher_from": "teacher_from", "base_from": "base_from", "split": "split", "split_sigma": "split_sigma",
    "stroke_radius": "stroke_radius", "adversarial_weight": "w_adversarial",
    "checkpoint_every": "checkpoint_every", "sample_every": "sample_every", "look": "look", "threads": "threads",
}
_TEACHER = {"teacher_width": "width", "teacher_blocks": "blocks", "teacher_residual": "residual"}
_STUDENT = {"student_stem": "stem", "student_width": "width", "student_blocks": "blocks",
            "student_expansion": "expansion"}


def add_parsers(sub) -> None:
    """Add ``train`` and ``capture`` to the ``livestyle`` parser."""
    p = sub.add_parser("train", help="learn a look from photos (colour look in minutes; or CycleGAN -> CNN student)",
                       description="Learn a look from unpaired style photos and your own content photos and install "
                                   "it where `livestyle run --style NAME` finds it.  By default (--kind auto with no "
                                   "teacher/student flag) a colour look: image-adaptive 3D LUTs trained adversarially "
                                   "with LUT regularisers and a cycle term, in a few minutes on a CPU.  --kind texture "
                                   "(or any teacher/student flag) trains a CycleGAN teacher and distils it into the "
                                   "residual CNN student, for drawn looks.  Runs under torchrun for DDP.")
    g = p.add_argument_group("data and output")
    g.add_argument("--style-images", metavar="DIR", help="folder of photos with the look to learn (recursive)")
    g.add_argument("--content-images", metavar="DIR",
                   help="folder of your own frames (see `livestyle capture`), recursive")
    g.add_argument("--name", required=True, help="style name (letters, digits, . _ -)")
    g.add_argument("--out", metavar="DIR", help="where packs are installed (default: the user styles folder)")
    g.add_argument("--run-dir", metavar="DIR", help="checkpoints, samples, loss curves and logs (default: runs/NAME)")
    g.add_argument("--look", help="recorded in the pack metadata as the procedural look it imitates")
    g.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    g.add_argument("--other-data", action="store_true",
                   help="with --resume: go on with --style-images/--content-images other than the folders the run "
                        "was trained on (refused without this flag)")
    g.add_argument("--teacher-from", metavar="STYLE",
                   help="distil the teacher of this style pack (name or folder) instead of training a CycleGAN; "
                        "e.g. to retrain only the student with other settings")
    g.add_argument("--base-from", metavar="STYLE",
                   help="drawn looks: the student takes colours and tone from this colour look (trained on the same "
                        "photos) and only strokes and edges from the teacher, so a teacher's halos and colour blobs "
                        "are not learned")
    g.add_argument("--split", choices=["strokes", "blur"],
                   help="with --base-from: what the teacher gives. strokes (default): only its thin dark strokes "
                        "and outlines, drawn on the colour look; blur: all its detail finer than --split-sigma (an "
                        "unsharp mask, which leaves a light band beside dark lines)")
    g.add_argument("--split-sigma", type=float, metavar="PX",
                   help="with --split blur: the blur (px at the student crop) that splits colour from detail "
                        "(default 4)")
    g.add_argument("--stroke-radius", type=int, metavar="PX",
                   help="with --split strokes: strokes narrower than 2 PX + 1 (at the student crop) come from the "
                        "teacher (default 2)")
    g.add_argument("--adversarial-weight", type=float, metavar="W",
                   help="the student's adversarial term against the style photos (default 1; 0 with --split "
                        "strokes, where it draws a light band beside dark lines)")
    g.add_argument("--kind", choices=["auto", "colour", "texture"], default="auto",
                   help="colour: adaptive 3D LUT look (minutes); texture: CycleGAN teacher + CNN student (hours); "
                        "auto (default): colour unless a teacher/student flag is given")
    g = p.add_argument_group("schedule")
    g.add_argument("--steps", type=int, help="colour look: training steps (default 800)")
    g.add_argument("--init", choices=["transfer", "identity"], default=None,
                   help="colour look: start from a distribution transfer of the two folders (default) or from no "
                        "change at all")
    g.add_argument("--check", action=argparse.BooleanOptionalAction, default=None,
                   help="colour look: after training, keep the safest good look (the learned one, a colour-only "
                        "transfer, or none) and warn when the folders differ by more than a look (default on)")
    g.add_argument("--local", action=argparse.BooleanOptionalAction, default=None,
                   help="colour look: where the held-out photos show a vignette, take it out of the style photos "
                        "before the LUT learns and add it back to the look as its local part (default on)")
    g.add_argument("--force", action="store_true",
                   help="colour look: install it even when the checks call it unreliable (folders too different, "
                        "a colour cast on greys far beyond the style photos' own, flicker far above the input's); "
                        "without it such a run installs nothing, says why, keeps the look in RUN_DIR/pack and "
                        f"exits with status {UNRELIABLE_EXIT}")
    g.add_argument("--size", type=int, help="crop side in px (colour: default 64, at least 32; texture: teacher crop, "
                                             "multiple of 4, default 128)")
    g.add_argument("--student-size", type=int, help="student crop side in px (default: --size)")
    g.add_argument("--teacher-steps", type=int, help="CycleGAN steps (default 20000)")
    g.add_argument("--student-steps", type=int, help="distillation steps (default 5000)")
    g.add_argument("--batch", type=int, help="images per step per process (default 1)")
    g.add_argument("--lr", type=float, help="Adam learning rate (colour 2e-3, texture 2e-4), decayed over the 2nd half")
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


# flags that only the texture path (CycleGAN teacher -> CNN student) understands
_TEXTURE_ONLY = ("student_size", "teacher_steps", "student_steps", "teacher_from", "base_from", "split", "split_sigma",
                 "stroke_radius", "adversarial_weight",
                 "cycle_weight", "consistency_weight",
                 "identity_weight", "teacher_width", "teacher_blocks", "teacher_residual", "student_stem",
                 "student_width", "student_blocks", "student_expansion", "student_disc_width", "student_disc_layers")
_COLOUR_SIMPLE = {"style_images": "style_images", "content_images": "content_images", "size": "size",
                  "steps": "steps", "batch": "batch", "seed": "seed", "device": "device", "disc_width": "disc_width",
                  "disc_layers": "disc_layers", "lr": "lr", "checkpoint_every": "checkpoint_every",
                  "sample_every": "sample_every", "look": "look", "threads": "threads", "init": "init",
                  "check": "check", "local": "local"}


def _kind(args: argparse.Namespace) -> str:
    """'colour' or 'texture': from --kind, the flags given, or (on --resume) the checkpoint."""
    import json
    from pathlib import Path

    if args.kind != "auto":
        return args.kind
    if any(getattr(args, d) is not None for d in _TEXTURE_ONLY):
        return "texture"
    if args.resume:
        side = Path(args.run_dir if args.run_dir is not None else Path("runs") / args.name) / "checkpoint.json"
        try:
            state = json.loads(side.read_text())
        except (OSError, ValueError):
            state = {}
        return "colour" if state.get("trainer") == "colour" else ("texture" if state else "colour")
    return "colour"


def _check_flags(args: argparse.Namespace, kind: str) -> None:
    """One clear line for a flag value that cannot work, before any data is read or any step runs."""
    from livestyle.errors import UsageError

    def bad(flag: str, value, need: str, example: str) -> None:
        raise UsageError(f"{flag} {value} is not usable: {need}.", fix=f"Use e.g. {flag} {example}.")

    if args.size is not None:
        low = 32 if kind == "colour" else 16
        if args.size < low:
            bad("--size", args.size, f"crops must be at least {low} px", "96" if kind == "colour" else "128")
    if args.lr is not None and not (args.lr > 0 and args.lr < float("inf")):
        bad("--lr", args.lr, "the learning rate must be a positive number", "0.002" if kind == "colour" else "0.0002")
    if args.threads is not None and args.threads < 1:
        bad("--threads", args.threads, "at least 1 thread is needed", "2")
    if args.seed is not None and args.seed < 0:
        bad("--seed", args.seed, "seeds are whole numbers >= 0", "0")
    for flag, dest in (("--disc-layers", "disc_layers"), ("--student-disc-layers", "student_disc_layers"),
                       ("--disc-width", "disc_width"), ("--student-disc-width", "student_disc_width"),
                       ("--batch", "batch"), ("--checkpoint-every", "checkpoint_every"),
                       ("--sample-every", "sample_every")):
        v = getattr(args, dest)
        if v is not None and v < 1:
            bad(flag, v, "it must be at least 1", "3" if "layers" in dest else "1")
    for flag, dest in (("--steps", "steps"), ("--teacher-steps", "teacher_steps"), ("--student-steps", "student_steps")):
        v = getattr(args, dest)
        if v is not None and v < 0:
            bad(flag, v, "a step count is >= 0", "1200")
    if kind == "colour":
        given = [d for d in _TEXTURE_ONLY if getattr(args, d) is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} belongs to the texture path, but --kind colour was chosen.",
                             fix="Drop it, or use --kind texture.")
    elif args.force:
        raise UsageError("--force overrides the checks of a colour look; the texture path has none.",
                         fix="Drop --force, or use --kind colour.")
    elif args.steps is not None:
        raise UsageError("--steps sets a colour look's steps; the texture path uses --teacher-steps and "
                         "--student-steps.", fix="Use those, or --kind colour.")


def _resume_command(args: argparse.Namespace) -> str:
    import shlex

    cmd = ["livestyle", "train", "--name", args.name]
    if args.run_dir is not None:
        cmd += ["--run-dir", args.run_dir]
    if args.out is not None:
        cmd += ["--out", args.out]
    return " ".join(shlex.quote(c) for c in cmd + ["--resume"])


@contextlib.contextmanager
def _write_errors(args: argparse.Namespace):
    """A failed write while training or exporting (full disk, ...) becomes one line saying what is kept and how to
    go on: checkpoints and packs are written atomically, so the last checkpoint and any look installed before stay."""
    from livestyle.errors import LivestyleError, OutputError, TrainingError
    from livestyle.training.checkpoint import io_error

    try:
        yield
    except Exception as exc:
        e = io_error(exc) if not isinstance(exc, LivestyleError) or isinstance(exc, OutputError) else None
        if e is None:
            raise
        if isinstance(e, OutputError):
            what = e.message.rstrip(".")
        else:
            where = repr(e.filename) if e.filename else "the run's files or the look"
            what = f"Training could not write {where} ({e.strerror or e})"
        raise TrainingError(f"{what}; the last checkpoint and any look installed before are kept.",
                            fix=f"Free some disk space (or pick another --out / --run-dir), then go on with: "
                                f"{_resume_command(args)}") from None


def _check_pack_target(target) -> None:
    """The pack folder ``--out/NAME`` is new, empty or an earlier look (replaced); anything else is refused."""
    from livestyle.errors import UsageError
    from livestyle.styles.pack import ENGINE_ONNX, META_FILE, ONNX_FILE

    if not target.exists():
        return
    if not target.is_dir():
        raise UsageError(f"--out: {str(target)!r} is a file, and the look would be a folder of that name.",
                         fix="Pick another --name or --out.")
    entries = {e.name for e in target.iterdir()}
    if entries and not entries & {META_FILE, ONNX_FILE, ENGINE_ONNX}:
        raise UsageError(f"--out: {str(target)!r} is a folder of other files ({', '.join(sorted(entries)[:3])}), "
                         "not a look; training would replace it.", fix="Pick another --name or --out.")


def _resolve_data_folders(args: argparse.Namespace) -> None:
    """Make --style-images / --content-images absolute (symlinks resolved), so the checkpoint records the folders
    themselves; on --resume refuse folders other than the ones the run was trained on, unless --other-data."""
    import os
    from pathlib import Path

    from livestyle.errors import UsageError
    from livestyle.training.checkpoint import read_state

    for dest in ("style_images", "content_images"):
        if getattr(args, dest) is not None:
            setattr(args, dest, str(Path(getattr(args, dest)).resolve()))
            run_dir = Path(args.run_dir if args.run_dir is not None else Path("runs") / args.name).resolve()
            if run_dir.is_relative_to(getattr(args, dest)):
                flag = "--" + dest.replace("_", "-")
                raise UsageError(f"The run folder {str(run_dir)!r} is inside {flag} {getattr(args, dest)!r}: its "
                                 "sample pictures would become training photos.",
                                 fix="Pass a --run-dir outside the photo folders.")
    if not args.resume:
        if args.other_data:
            raise UsageError("--other-data only applies with --resume.", fix="Drop --other-data.")
        return
    run_dir = Path(args.run_dir if args.run_dir is not None else Path("runs") / args.name)
    state = read_state(run_dir / "checkpoint.safetensors")
    config = state.get("config") if state else None
    if not isinstance(config, dict) or args.other_data:
        return  # no readable checkpoint: the trainer says so in one line
    for dest in ("style_images", "content_images"):
        given, saved = getattr(args, dest), config.get(dest)
        if given is None or not isinstance(saved, str) or not saved:
            continue
        same = Path(saved).resolve() == Path(given)
        try:
            same = same or os.path.samefile(saved, given)
        except OSError:
            pass
        if not same:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"--resume with {flag} {given!r}, but the run in {str(run_dir)!r} was trained on "
                             f"{saved!r}.", fix=f"Drop {flag} to continue on the same photos, start a new run (other "
                                               "--name or --run-dir), or add --other-data to go on with the new ones.")


def _train(args: argparse.Namespace) -> int:
    from livestyle.errors import UsageError
    from livestyle.extras import require
    from livestyle.styles.cli import check_new_look_name

    require("train", "train")  # before anything imports torch: one line naming the extra, not a traceback
    check_new_look_name(args.name, "--name")
    if args.teacher_from is not None and args.teacher_steps:
        raise UsageError("--teacher-from takes a finished teacher, so --teacher-steps does not apply.",
                         fix="Drop --teacher-steps, or drop --teacher-from to train a new teacher.")
    for flag in ("split", "split_sigma", "stroke_radius"):
        if getattr(args, flag) is not None and args.base_from is None:
            name = "--" + flag.replace("_", "-")
            raise UsageError(f"{name} only applies with --base-from.",
                             fix=f"Add --base-from COLOUR_LOOK, or drop {name}.")
    split = args.split or ("strokes" if args.base_from is not None else "blur")
    if args.split_sigma is not None and split != "blur":
        raise UsageError("--split-sigma only applies with --split blur.", fix="Drop --split-sigma, or use --split blur.")
    if args.stroke_radius is not None and split != "strokes":
        raise UsageError("--stroke-radius only applies with --split strokes.",
                         fix="Add --split strokes, or drop --stroke-radius.")
    if not args.resume and (args.style_images is None or args.content_images is None):
        raise UsageError("--style-images and --content-images are required (except with --resume).",
                         fix="Pass both folders, e.g. --style-images photos/ --content-images me/.")
    kind = _kind(args)
    _check_flags(args, kind)
    _resolve_data_folders(args)

    from pathlib import Path

    from livestyle.fsutil import check_output_path
    from livestyle.styles.pack import user_styles_dir

    out = args.out if args.out is not None else str(user_styles_dir())
    run_dir = args.run_dir if args.run_dir is not None else str(Path("runs") / args.name)
    # both destinations must be writable before hours (or minutes) of training, not after
    check_output_path(Path(out) / args.name, flag="--out", allow_dir=True)
    _check_pack_target(Path(out) / args.name)
    check_output_path(Path(run_dir) / "checkpoint.safetensors", flag="--run-dir")
    if kind == "colour":
        return _train_colour(args, out, run_dir)

    import dataclasses

    from livestyle.models.student import StudentConfig
    from livestyle.models.teacher import TeacherConfig
    from livestyle.training.signals import stop_on_signals
    from livestyle.training.trainer import TrainConfig, train

    explicit: set[str] = set()
    fields: dict = {}
    for dest, field_name in _SIMPLE.items():
        v = getattr(args, dest)
        if v is not None:
            fields[field_name] = v
            explicit.add(field_name)
    # defaults that depend on other flags; not explicit, so a resumed run keeps what it started with
    if args.base_from is not None and args.split is None:
        fields["split"] = "strokes"
    if fields.get("split") == "strokes" and args.adversarial_weight is None:
        fields["w_adversarial"] = 0.0
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
    explicit |= {"name", "out_dir", "run_dir"}
    cfg = TrainConfig(style_images=fields.pop("style_images", ""), content_images=fields.pop("content_images", ""),
                      name=args.name, out_dir=out, run_dir=run_dir, **fields)
    with stop_on_signals() as stop, _write_errors(args):
        result = train(cfg, resume=args.resume, explicit=explicit, report=_say, progress=not args.no_progress,
                       stop=stop, resume_command=_resume_command(args))
    if result.pack is not None:
        print(f"style {args.name!r} installed at {result.pack}; play it with: livestyle run --style {args.name}")
    return 0


def _train_colour(args: argparse.Namespace, out: str, run_dir: str) -> int:
    """Train (or resume) a colour look; install it at ``out/NAME`` unless its checks call it unreliable.

    The pack is built in ``run_dir/pack/NAME`` and moved into place only when
    :func:`livestyle.training.transfer.unreliable` finds nothing wrong, or with
    ``--force``; otherwise one line says why, the pack stays in the run
    folder (``livestyle run --style RUN_DIR/pack/NAME`` plays it), any look
    installed before under that name is left as it was, and the status is
    :data:`UNRELIABLE_EXIT`.
    """
    from pathlib import Path

    from livestyle.training import transfer
    from livestyle.training.colour import ColourConfig, train_colour
    from livestyle.training.signals import stop_on_signals

    staged_dir = Path(run_dir) / "pack"
    fields = {f: getattr(args, d) for d, f in _COLOUR_SIMPLE.items() if getattr(args, d) is not None}
    explicit = set(fields) | {"name", "out_dir", "run_dir"}
    cfg = ColourConfig(style_images=fields.pop("style_images", ""), content_images=fields.pop("content_images", ""),
                       name=args.name, out_dir=str(staged_dir), run_dir=run_dir, **fields)
    with stop_on_signals() as stop, _write_errors(args):
        result = train_colour(cfg, resume=args.resume, explicit=explicit, report=_say,
                              progress=not args.no_progress, stop=stop, resume_command=_resume_command(args))
        if result.pack is None:
            return 0  # not the main process of a torchrun: rank 0 reports and installs
        for line in result.summary:
            print(line)
        reasons = transfer.unreliable(result.metrics.get("check"),
                                      (result.metrics.get("heldout") or {}).get("warping_error_ratio"))
        if reasons and not args.force:
            _record_verdict(Path(result.pack), reasons, forced=False)
            print(f"livestyle: the look could not be learned from these folders: {'; and '.join(reasons)}. Nothing "
                  f"was installed; style photos of the same kinds of scene as your camera's (faces, rooms, light) "
                  f"let it be learned. Try it with: livestyle run --style {result.pack}; install it anyway with: "
                  f"{_resume_command(args)} --force", file=sys.stderr)
            return UNRELIABLE_EXIT
        if reasons:
            _record_verdict(Path(result.pack), reasons, forced=True)
        final = _install(Path(result.pack), Path(out) / args.name)
    if reasons:
        print(f"warning: installed although unreliable (--force): {'; and '.join(reasons)}")
    print(f"style {args.name!r} installed at {final}; play it with: livestyle run --style {args.name}")
    return 0


def _record_verdict(pack, reasons: list[str], *, forced: bool) -> None:
    """Write the checks' verdict into the pack's metadata (its first look's ``metrics.check``)."""
    import json

    from livestyle.fsutil import write_json_atomic
    from livestyle.styles.pack import META_FILE

    meta = json.loads((pack / META_FILE).read_text())
    look = meta["looks"][0]
    check = look.setdefault("metrics", {}).setdefault("check", {})
    check.update(unreliable=reasons, installed_by_force=forced)
    write_json_atomic(pack / META_FILE, meta)


def _install(staged, final):
    """Move the pack folder ``staged`` to ``final`` (replacing an earlier look there in one rename); returns
    ``final``."""
    import shutil

    from livestyle.fsutil import atomic_dir

    with atomic_dir(final, replace=True) as tmp:  # beside final: its rename into place is one step
        for entry in staged.iterdir():
            shutil.move(str(entry), str(tmp / entry.name))  # a rename, or a copy across file systems
    staged.rmdir()
    return final


def _capture(args: argparse.Namespace) -> int:
    from livestyle.extras import require

    require("train", "capture", ["tqdm"])  # its progress bar
    from livestyle.training.capture import CaptureConfig, capture

    cfg = CaptureConfig(source=args.camera, frames=args.frames, out_dir=args.out, interval_s=args.interval,
                        min_diff=args.min_diff)
    saved = capture(cfg, report=_say, progress=not args.no_progress)
    print(f"saved {saved} frame(s) to {args.out}; train with: livestyle train --content-images {args.out} ...")
    return 0
