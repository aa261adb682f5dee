"""The pipeline's capture thread: read the source, hold --max-fps, scale to the output size, stamp, hand on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from livestyle.frame import Frame
from livestyle.ops.upsample import downscale
from livestyle.slot import NewestSlot
from livestyle.stats import RunStats

__all__ = ["Capture"]


class Capture:
    """Reads ``source`` into ``slot`` until it ends or ``stop`` is set; see :meth:`loop`.

    ``capped`` counts frames skipped on purpose to hold ``max_fps`` (not drops);
    frames a paced source skipped and frames replaced in a live ``slot`` count as
    drops in ``stats.dropped_steady`` once ``steady(t)`` says start-up is over.
    """

    def __init__(self, source, slot: NewestSlot, stats: RunStats, *, out_size: tuple[int, int], live: bool,
                 max_fps: float | None, steady: Callable[[float], bool], stop: threading.Event):
        self.source, self.slot, self.stats, self.out_size, self.live = source, slot, stats, out_size, live
        self.min_gap = 1.0 / max_fps if max_fps else 0.0
        self.steady, self.stop = steady, stop
        self.capped = 0

    def loop(self) -> None:
        """Capture thread: frames as uint8 BGR (H, W, 3) at the output size, with ``stages["capture"]`` timed."""
        src, (out_w, out_h), stats, slot = self.source, self.out_size, self.stats, self.slot
        t_last_accept, index = -1e9, 0
        while not self.stop.is_set():
            skipped_before = getattr(src, "skipped", 0)
            t0 = time.perf_counter()
            img = src.read()
            t1 = time.perf_counter()
            if img is None:
                break
            if self.steady(t1):  # frames a paced source skipped are drops too
                stats.dropped_steady += getattr(src, "skipped", 0) - skipped_before
            ready = src.frame_ready_time
            t_cap = ready if (ready is not None and ready <= t1) else (t1 if self.live else t0)
            if self.min_gap and t_cap - t_last_accept < self.min_gap * 0.95:
                self.capped += 1  # --max-fps: a deliberate skip, not a drop
                continue
            t_last_accept = t_cap
            if img.shape[1] != out_w or img.shape[0] != out_h:
                img = downscale(img, (out_w, out_h))
            t2 = time.perf_counter()
            stats.frames_in += 1
            frame = Frame(image=img, index=index, t_capture=t_cap, stages={"capture": t2 - t_cap})
            index += 1
            before = slot.dropped
            slot.put(frame)
            if slot.dropped > before and self.steady(t2):
                stats.dropped_steady += 1
