"""Frames that carry their index as a bar code, and a reader for it (also from OBS screenshots).

16 bits in two rows of eight big blocks (white = 1) on a dark grey frame, with
a white guide bar on top so that a blank/black picture is never read as frame 0.
The blocks are large enough to survive JPEG, OBS's colour conversion and a
downscaled screenshot.
"""

from __future__ import annotations

import threading
import time

import numpy as np

BITS = 16


def _blocks(width: int, height: int):
    bw, bh = width / 8, (height - height / 6) / 2
    top = height / 6
    for b in range(BITS):
        r, c = divmod(b, 8)
        x0, y0 = c * bw, top + r * bh
        yield b, int(x0 + bw * 0.12), int(y0 + bh * 0.12), int(x0 + bw * 0.88), int(y0 + bh * 0.88)


def barcode_frame(index: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """uint8 BGR (H, W, 3) showing ``index`` (mod 2**16) as a bar code; values 40 (background) / 255 (ones)."""
    width, height = size
    img = np.full((height, width, 3), 40, np.uint8)
    img[int(height / 24):int(height / 12), int(width * 0.05):int(width * 0.95)] = 255  # guide bar
    v = index % (1 << BITS)
    for b, x0, y0, x1, y1 in _blocks(width, height):
        if (v >> b) & 1:
            img[y0:y1, x0:x1] = 255
    return img


def read_barcode(img: np.ndarray | None) -> int | None:
    """The index shown by a :func:`barcode_frame` picture of any size, or None when there is no bar code."""
    if img is None:
        return None
    height, width = img.shape[:2]
    grey = img.mean(axis=2) if img.ndim == 3 else img
    guide = grey[int(height / 24) + 1:int(height / 12) - 1, int(width * 0.1):int(width * 0.9)]
    if guide.size == 0 or guide.mean() < 150:
        return None
    v = 0
    for b, x0, y0, x1, y1 in _blocks(width, height):
        patch = grey[y0 + 2:y1 - 2, x0 + 2:x1 - 2]
        if patch.mean() > 148:
            v |= 1 << b
    return v


class PacedFeeder:
    """Sends bar-code frames to a sink at ``fps`` from a thread; ``last_index`` is the newest sent.

    ``send_times`` keeps the duration of each ``sink.send`` call (seconds).
    """

    def __init__(self, sink, fps: float, size: tuple[int, int] = (640, 360), frames: list | None = None):
        self.sink, self.fps, self.size = sink, float(fps), size
        self.last_index = -1
        self.send_times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cache = frames

    def _run(self) -> None:
        from livestyle.frame import Frame

        t0 = time.perf_counter()
        i = 0
        while not self._stop.is_set():
            due = t0 + i / self.fps
            d = due - time.perf_counter()
            if d > 0:
                time.sleep(d)
            img = self._cache[i % len(self._cache)] if self._cache else barcode_frame(i, self.size)
            t = time.perf_counter()
            self.sink.send(Frame(image=img, index=i))
            self.send_times.append(time.perf_counter() - t)
            self.last_index = i
            i += 1

    def start(self) -> "PacedFeeder":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
