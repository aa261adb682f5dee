"""What a run leaves in its folder as it goes: losses.jsonl, loss curves and sample grids (PNG via OpenCV)."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import DataError
from livestyle.fsutil import write_image

log = logging.getLogger(__name__)

_COLOURS = [(200, 60, 30), (40, 160, 40), (0, 120, 240), (170, 40, 170), (160, 160, 0),
            (30, 30, 200), (0, 0, 0), (120, 120, 120)]  # BGR, distinct


class LossLog:
    """Append-only ``losses.jsonl``: one JSON object per step (``stage``, ``step``, the losses, ``lr``).

    On resume the file is cut back to the checkpoint's step so that the
    log never holds a step twice.
    """

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []

    def restore(self, keep) -> None:
        """Keep the rows for which ``keep(row)`` is true, rewrite the file atomically."""
        rows = []
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line torn by kill -9
                if isinstance(row, dict) and keep(row):
                    rows.append(row)
        self.rows = rows
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def final(self, stage: str, fraction: float = 0.1) -> dict[str, float]:
        """Mean of each loss over the last ``fraction`` of ``stage``'s steps."""
        rows = [r for r in self.rows if r.get("stage") == stage]
        if not rows:
            return {}
        tail = rows[-max(1, int(len(rows) * fraction)):]
        keys = [k for k in tail[-1] if k not in ("stage", "step", "lr", "time")]
        return {k: float(np.mean([r[k] for r in tail if k in r])) for k in keys}


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, np.float64)
    if len(v) < 2 or window <= 1:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    out = np.empty_like(v)
    for i in range(len(v)):
        lo = max(0, i - window + 1)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def draw_curves(rows: list[dict], path: Path, *, width: int = 900, panel_height: int = 320) -> None:
    """One panel per stage (in the order they ran); each loss a moving-average polyline on a log10 y axis;
    written as PNG."""
    stages = list(dict.fromkeys(r["stage"] for r in rows if r.get("stage")))
    if not stages:
        return
    img = np.full((panel_height * len(stages), width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 170, 24, 30
    for p, stage in enumerate(stages):
        sr = [r for r in rows if r.get("stage") == stage]
        keys = [k for k in sr[-1] if k not in ("stage", "step", "lr", "time")]
        y0 = p * panel_height
        cv2.putText(img, f"{stage} losses (log10, smoothed)", (left, y0 + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
        series = {}
        for k in keys:
            vals = [max(float(r[k]), 1e-6) for r in sr if k in r]
            if vals:
                series[k] = np.log10(_smooth(vals, max(1, len(vals) // 50)))
        if not series:
            continue
        lo = min(float(s.min()) for s in series.values())
        hi = max(float(s.max()) for s in series.values())
        if hi - lo < 1e-6:
            hi = lo + 1.0
        n = max(len(s) for s in series.values())
        pw, ph = width - left - right, panel_height - top - bottom
        cv2.rectangle(img, (left, y0 + top), (left + pw, y0 + top + ph), (180, 180, 180), 1)
        for tick in range(math.floor(lo), math.ceil(hi) + 1):
            ty = y0 + top + ph - int((tick - lo) / (hi - lo) * ph)
            if y0 + top <= ty <= y0 + top + ph:
                cv2.putText(img, f"1e{tick}", (5, ty + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1)
        cv2.putText(img, f"steps 1..{sr[-1]['step']}", (left, y0 + panel_height - 8), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (90, 90, 90), 1)
        for i, (k, s) in enumerate(series.items()):
            colour = _COLOURS[i % len(_COLOURS)]
            xs = left + (np.arange(len(s)) * pw / max(n - 1, 1))
            ys = y0 + top + ph - (s - lo) / (hi - lo) * ph
            pts = np.stack([xs, ys], 1).round().astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], False, colour, 1, cv2.LINE_AA)
            cv2.putText(img, f"{k} {float(10 ** s[-1]):.3g}", (left + pw + 8, y0 + top + 14 + 16 * i),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    write_png(path, img)


def to_uint8(batch: np.ndarray) -> np.ndarray:
    """float (N, 3, H, W) BGR in [-1, 1] -> uint8 (N, H, W, 3) BGR."""
    from livestyle.models.convert import unit_to_images

    return unit_to_images(batch)


def sample_grid(rows: list[np.ndarray | None], gap: int = 2) -> np.ndarray:
    """Stack rows of images (each float (N, 3, H, W) BGR in [-1, 1]; None = grey) into one uint8 BGR image."""
    real = [r for r in rows if r is not None]
    n, _, h, w = real[0].shape
    grid = np.full((len(rows) * (h + gap) - gap, n * (w + gap) - gap, 3), 128, np.uint8)
    for i, r in enumerate(rows):
        if r is None:
            continue
        for j, im in enumerate(to_uint8(r)):
            grid[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = im
    zoom = max(1, 128 // h)  # small test crops are blown up (nearest) so a person can see them
    if zoom > 1:
        grid = cv2.resize(grid, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    return grid


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a sample picture (uint8 BGR) atomically; a failure is a warning, since a sample never stops a run."""
    try:
        write_image(path, image)
    except DataError as e:
        log.warning("%s", e)
