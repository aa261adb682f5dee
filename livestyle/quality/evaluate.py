"""``livestyle eval``: how well a style pack reproduces its procedural look, and how still it stays.

For a pack whose metadata names a ``look`` (see :mod:`livestyle.looks`):

* on held-out test images (from ``--data`` or generated on the fly), PSNR and
  SSIM against the look's true output of the unstyled input, the teacher
  (PyTorch, if the pack has ``teacher.safetensors``) and the student (the
  pack's ``student.onnx`` through ONNX Runtime); the student's gain over the
  input and its gap to the teacher;
* on moving clips, the warping-error ratio (Lai et al. 2018, flow on the
  input) of the student with and without the runtime temporal filter, and of
  the true look and the teacher for reference;
* a JSON report, a PNG contact sheet (input | true look | teacher | student)
  and a before/after strip from the first clip.

Heavy imports (onnxruntime, torch) happen inside the functions that need them.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from livestyle import looks
from livestyle.errors import ModelError, StyleError
from livestyle.fsutil import write_image, write_json_atomic
from livestyle.ops.temporal import TemporalFilter
from livestyle.quality.dataset import HIDDEN_LOOKS, DatasetConfig, hidden_look, make_dataset, read_clip, read_test_set
from livestyle.quality.metrics import clip_flows, psnr, ssim, warping_error, warping_error_ratio
from livestyle.styles.pack import TEACHER_FILE, StylePack

log = logging.getLogger(__name__)

Stylizer = Callable[[np.ndarray], np.ndarray]  # uint8 BGR (H, W, 3) -> uint8 BGR (H, W, 3), H, W multiples of 4


@dataclass(frozen=True)
class EvalConfig:
    """Options of :func:`evaluate`."""

    data: Path | None = None           # dataset folder (make_datasets.py); None: generate one for the look
    clip: Path | None = None           # a video file; None: the dataset's clips/
    report: Path | None = None         # JSON path; PNGs are written next to it
    n_test: int = 12                   # test images when generating on the fly
    clip_frames: int = 48              # frames per clip read / generated
    max_side: int = 512                # clips are downscaled so the longer side is at most this
    filter_strength: float = 0.8       # runtime TemporalFilter strength for the "with filter" numbers
    sheet_rows: int = 6                # test images shown on the contact sheet


def flicker_target(look: str, true_ratio: float) -> float:
    """The largest warping-error ratio a learned look may have, from its true look's own ratio.

    Drawn looks: no higher than the true look's.  Colour looks: 1.05 x the
    true look's, and 1.15 where the true look's is below 1.1 (a grade that
    barely flickers by itself may still add a little).
    """
    if look in looks.DRAWN:
        return true_ratio
    return 1.15 if true_ratio < 1.1 else 1.05 * true_ratio


def pack_look(pack: StylePack) -> str:
    """The look a pack was trained on (StyleError if absent or unknown)."""
    look = pack.look
    if not look:
        raise StyleError(f"Style {pack.name!r} has no 'look' in its {pack.path / 'style.json'} metadata, so there "
                         "is no true output to compare with.",
                         fix=f"Evaluate a style trained on a procedural look (one of: {', '.join(looks.names())}), "
                             "or add \"look\": NAME to its style.json.")
    if look not in looks.names() and look not in HIDDEN_LOOKS:
        raise StyleError(f"Style {pack.name!r} names look {look!r}, which this livestyle does not have "
                         f"(available: {', '.join(looks.names())}).",
                         fix="Upgrade livestyle or correct the 'look' in the pack's style.json.")
    return look


def _crop4(image: np.ndarray, multiple: int = 4) -> np.ndarray:
    """Crop uint8 (H, W, 3) to the largest size in multiples of ``multiple`` (the look's size multiple)."""
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[: h - h % multiple, : w - w % multiple])


def look_weights(pack: StylePack) -> np.ndarray | None:
    """The weight vector an engine needs for ``pack`` (one-hot, or a mix's blend); None for a format-1 pack."""
    if pack.look_index is None and pack.mix is None:
        return None
    from livestyle.styles.blend import engine_weights, expand

    return np.asarray(engine_weights(expand(pack), pack.engine_looks), np.float32)


def runner_stylizer(pack: StylePack, backend: str = "onnxruntime") -> Stylizer:
    """The look through the same runner ``livestyle run`` uses (:func:`create_runner`), one per frame size.

    uint8 BGR (H, W, 3) -> uint8 BGR (H, W, 3) (a copy).  Frames passed one
    after another are a video to the runner (an engine smooths its per-frame
    grade over them, as in ``livestyle run``); ``run.reset()`` starts afresh,
    before an unrelated image or a new clip.
    """
    from livestyle.runners.registry import create_runner

    runners: dict[tuple[int, int], object] = {}
    weights = look_weights(pack)

    def run(image: np.ndarray) -> np.ndarray:
        size = (image.shape[1], image.shape[0])
        if size not in runners:
            runners[size] = create_runner(backend, pack, infer_size=size).runner
        runner = runners[size]
        out = runner.infer(np.ascontiguousarray(image), weights=weights) if weights is not None \
            else runner.infer(np.ascontiguousarray(image))
        if out.shape != image.shape or out.dtype != np.uint8:
            raise ModelError(f"Style {pack.name!r}: the runner returned {out.dtype} {out.shape}; expected uint8 "
                             f"{image.shape}.", fix="Re-export the pack under the runtime contract.")
        return out.copy()

    def reset() -> None:
        for r in runners.values():
            r.reset_state()

    run.reset = reset
    return run


onnx_stylizer = runner_stylizer  # the old name


def teacher_stylizer(pack: StylePack) -> tuple[Stylizer | None, str]:
    """The pack's teacher through PyTorch, or (None, why it is absent)."""
    if not (pack.path / TEACHER_FILE).is_file():
        return None, f"the pack has no {TEACHER_FILE}"
    try:
        import torch

        from livestyle.models.convert import frames_to_unit, unit_to_frames
        from livestyle.styles.nets import load_teacher
    except ImportError as e:
        return None, f"the teacher cannot be loaded here ({e}); install livestyle[train]"
    net = load_teacher(pack)

    def run(image: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.ascontiguousarray(unit_to_frames(net(frames_to_unit(image[None])))[0])

    return run, "loaded"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.inf if values else math.nan
    return float(np.mean(finite))


def _clip_frames(path: Path, cfg: EvalConfig) -> list[np.ndarray]:
    frames = read_clip(path, max_frames=cfg.clip_frames)
    h, w = frames[0].shape[:2]
    factor = min(1.0, cfg.max_side / max(h, w))
    if factor < 1.0:
        size = (max(4, int(w * factor)), max(4, int(h * factor)))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return [_crop4(f) for f in frames]


def evaluate(pack: StylePack, cfg: EvalConfig = EvalConfig()) -> dict:
    """Run the whole evaluation of ``pack``; returns the report (also written to disk, see EvalConfig).

    Raises StyleError (no/unknown look), DataError (bad data/clip), ModelError (bad ONNX).
    """
    look = pack_look(pack)
    started = time.perf_counter()
    student = runner_stylizer(pack)
    teacher, teacher_status = teacher_stylizer(pack)
    with tempfile.TemporaryDirectory(prefix="livestyle-eval-") as tmp:
        data = cfg.data
        if data is None:
            data = make_dataset(Path(tmp) / "data", DatasetConfig(
                look=look, n_content=0, n_style=0, n_test=cfg.n_test, n_clips=2, clip_frames=cfg.clip_frames))
        tests = read_test_set(data)
        clips = [cfg.clip] if cfg.clip is not None else sorted((Path(data) / "clips").glob("*.avi"))
        clip_frames = {str(c): _clip_frames(Path(c), cfg) for c in clips}

    rows = []
    per_image = []
    for name, inp, target in tests:
        inp, target = _crop4(inp, pack.size_multiple), _crop4(target, pack.size_multiple)
        student.reset()  # held-out images are unrelated stills, not a video
        stu = student(inp)
        tea = teacher(inp) if teacher else None
        entry = {"name": name, "input": {"psnr": psnr(inp, target), "ssim": ssim(inp, target)},
                 "student": {"psnr": psnr(stu, target), "ssim": ssim(stu, target)},
                 "student_vs_teacher_psnr": psnr(stu, tea) if tea is not None else None}
        if tea is not None:
            entry["teacher"] = {"psnr": psnr(tea, target), "ssim": ssim(tea, target)}
        per_image.append(entry)
        rows.append((inp, target, tea, stu, entry))

    def agg(who: str, metric: str) -> float | None:
        vals = [e[who][metric] for e in per_image if who in e]
        return _mean(vals) if vals else None

    images = {who: {"psnr": agg(who, "psnr"), "ssim": agg(who, "ssim")} for who in ("input", "teacher", "student")}
    if teacher is None:
        images["teacher"] = None
    summary = {
        "student_gain_db": images["student"]["psnr"] - images["input"]["psnr"],
        "student_teacher_gap_db": (images["teacher"]["psnr"] - images["student"]["psnr"]) if teacher else None,
    }

    temporal = {}
    strip_source = None
    for clip_name, frames in clip_frames.items():
        flows = clip_flows(frames)
        student.reset()
        stu = [student(f) for f in frames]
        tf = TemporalFilter(cfg.filter_strength)
        stu_f = [tf.apply(a, b) for a, b in zip(frames, stu)]
        entry = {"frames": len(frames), "size": [frames[0].shape[1], frames[0].shape[0]],
                 "input_warping_error": warping_error(frames, flows=flows),
                 "student": warping_error_ratio(stu, frames, flows=flows),
                 "student_filtered": warping_error_ratio(stu_f, frames, flows=flows),
                 "true_look": warping_error_ratio([hidden_look(look)(f) for f in frames], frames, flows=flows)}
        if teacher is not None:
            entry["teacher"] = warping_error_ratio([teacher(f) for f in frames], frames, flows=flows)
        temporal[Path(clip_name).name] = entry
        if strip_source is None:
            strip_source = (Path(clip_name).name, frames, stu, stu_f)

    def mean_ratio(key: str) -> float | None:
        vals = [e[key] for e in temporal.values() if key in e]
        return _mean(vals) if vals else None

    report = {
        "style": pack.name, "pack": str(pack.path), "look": look, "random_init": bool(pack.meta.get("random_init")),
        "teacher": teacher_status,
        "data": str(cfg.data) if cfg.data else "generated on the fly (livestyle.quality.dataset, seed 0)",
        "test_images": len(tests), "images": images, "summary": summary,
        "temporal": {"clips": temporal, "filter_strength": cfg.filter_strength,
                     "mean_ratio": {k: mean_ratio(k) for k in ("student", "student_filtered", "true_look", "teacher")}},
        "per_image": per_image,
        "metrics": {"psnr": "dB, all channels, peak 255", "ssim": "Wang et al. 2004 on BT.601 luma, gauss 11x11 s=1.5",
                    "warping_error": "Lai et al. 2018, DIS flow on input, Ruder et al. occlusion mask"},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "seconds": round(time.perf_counter() - started, 2),
    }
    report_path, contact, strip = output_paths(cfg.report, pack.name)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    write_image(contact, contact_sheet(rows[: cfg.sheet_rows]), fix="Pick a writable --report location.")
    if strip_source is not None:
        write_image(strip, before_after_strip(*strip_source), fix="Pick a writable --report location.")
    report["files"] = {"report": str(report_path), "contact_sheet": str(contact),
                       "strip": str(strip) if strip_source is not None else None}
    write_json_atomic(report_path, _jsonable(report))
    return report


def output_paths(report: str | os.PathLike | None, style: str) -> tuple[Path, Path, Path]:
    """(JSON report, contact sheet PNG, before/after strip PNG) for ``--report`` (None: ./eval-STYLE.json)."""
    report_path = Path(report) if report else Path(f"eval-{style}.json")
    stem = report_path.with_suffix("")
    return report_path, Path(f"{stem}-contact.png"), Path(f"{stem}-strip.png")


def _jsonable(x):
    """Replace inf/nan (not valid JSON) with strings."""
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


# --------------------------------------------------------------------------- pictures

TILE = 192
LABEL_H = 26


def _label(image: np.ndarray, text: str, *, top: bool = False) -> np.ndarray:
    """Draw ``text`` on a dark band at the bottom (or top) of a uint8 BGR image, in place; returns it."""
    h, w = image.shape[:2]
    y0 = 0 if top else h - 18
    image[y0:y0 + 18] = (image[y0:y0 + 18] * 0.35).astype(np.uint8)
    cv2.putText(image, text, (4, y0 + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _header(texts: list[str], width: int) -> np.ndarray:
    bar = np.full((LABEL_H, width * len(texts), 3), 32, np.uint8)
    for i, t in enumerate(texts):
        cv2.putText(bar, t, (i * width + 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def _tile(image: np.ndarray | None, size: int = TILE) -> np.ndarray:
    if image is None:
        t = np.full((size, size, 3), 64, np.uint8)
        cv2.putText(t, "absent", (size // 2 - 30, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1,
                    cv2.LINE_AA)
        return t
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def contact_sheet(rows: list[tuple]) -> np.ndarray:
    """Rows of (input, true look, teacher or None, student, entry) as one labelled uint8 BGR image.

    Columns: input | true look | teacher | student; PSNR/SSIM against the true look under each tile.
    """
    lines = [_header(["input", "true look", "teacher", "student"], TILE)]
    for inp, target, tea, stu, e in rows:
        tiles = [_label(_tile(inp), f"{e['input']['psnr']:.1f} dB  {e['input']['ssim']:.3f}"),
                 _tile(target),
                 _label(_tile(tea), f"{e['teacher']['psnr']:.1f} dB  {e['teacher']['ssim']:.3f}")
                 if tea is not None else _tile(None),
                 _label(_tile(stu), f"{e['student']['psnr']:.1f} dB  {e['student']['ssim']:.3f}")]
        lines.append(np.hstack(tiles))
    return np.vstack(lines)


def before_after_strip(name: str, frames: list[np.ndarray], stylized: list[np.ndarray],
                       filtered: list[np.ndarray], count: int = 4) -> np.ndarray:
    """Frames evenly spread over a clip: row 1 input, row 2 student, row 3 student + temporal filter."""
    idx = np.linspace(0, len(frames) - 1, count).round().astype(int)
    h, w = frames[0].shape[:2]
    scale = min(1.0, 240 / h)
    size = (int(w * scale), int(h * scale))

    def row(seq, label):
        tiles = [cv2.resize(seq[i], size, interpolation=cv2.INTER_AREA) for i in idx]
        tiles = [_label(t, f"{label}  frame {i}", top=True) for t, i in zip(tiles, idx)]
        return np.hstack(tiles)

    return np.vstack([_header([f"{name}: input / student / student + temporal filter"], size[0] * count),
                      row(frames, "input"), row(stylized, "student"), row(filtered, "filtered")])
