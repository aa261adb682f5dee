"""Low-resolution stylization back to full resolution, blended by strength.

All functions take and return uint8 BGR arrays of shape (H, W, 3).  The
network sees ``small_in`` (the full frame downscaled to the inference size)
and returns ``small_out``; these functions build the full-size output from
the full-size input ``full`` and that low-resolution pair:

* :func:`detail_transfer` adds the upsampled *change* the network made to the
  full-resolution input: ``full + strength * up(small_out - small_in)``.
  Whatever the network did not change keeps its full-resolution detail, and
  the strength blend is applied at low resolution, for free.
* :func:`guided_upsample` fits, in every local window of the low-resolution
  pair, a linear map from the input's luma to each output channel (the fast
  guided filter of He & Sun, 2015, arXiv:1505.00996), upsamples the
  coefficients and applies them to the full-resolution luma.  It follows
  edges of the full-resolution frame, and can also remove detail (useful for
  flat cel-shaded looks), but costs more.
* :func:`bilinear_upsample`: the plain baseline.

benchmarks/upsample_bench.py measures cost and fidelity of each.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

METHODS = ("detail", "guided", "bilinear")


def downscale(full: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``full`` (uint8 BGR) down to ``size`` = (w, h); a copy if the size already matches.

    OpenCV's area average is fast for whole-number ratios and slow for others
    (1920x1080 -> 512x288, a ratio of 3.75, cost 9.6-13.7 ms of CPU on the 2-core
    Xeon host). When both ratios are 2 or more and not whole, the frame is first
    resized bilinearly to exactly twice ``size`` (a ratio under 2, so every pixel
    still counts), then averaged 2x2: 2.5 ms for the same frame, within 42-53 dB
    PSNR of the one-step area average (benchmarks/RESULTS.md, "Full-frame steps").
    """
    h, w = full.shape[:2]
    tw, th = int(size[0]), int(size[1])
    if (w, h) == (tw, th):
        return full.copy()
    if tw > w or th > h:
        return cv2.resize(full, (tw, th), interpolation=cv2.INTER_LINEAR)
    if w >= 2 * tw and h >= 2 * th and (w % tw or h % th):
        full = cv2.resize(full, (2 * tw, 2 * th), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(full, (tw, th), interpolation=cv2.INTER_AREA)


def blend(full: np.ndarray, styled: np.ndarray, strength: float) -> np.ndarray:
    """``full + strength * (styled - full)`` as uint8; strength in [0, 1]."""
    if strength >= 1.0:
        return styled
    if strength <= 0.0:
        return full
    return cv2.addWeighted(styled, float(strength), full, 1.0 - float(strength), 0.0)


def detail_transfer(full: np.ndarray, small_in: np.ndarray, small_out: np.ndarray,
                    strength: float = 1.0, *, size: tuple[int, int] | None = None,
                    box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``full + strength * up(small_out - small_in)``, saturated to uint8.

    With ``box`` (x0, y0, x1, y1) in a frame of ``size`` (W, H), ``full`` is that box's crop and only the box
    is made: the same pixels as the whole frame's result cropped (:func:`resize_box`).
    """
    delta = cv2.subtract(small_out, small_in, dtype=cv2.CV_16S)
    if strength != 1.0:
        delta = cv2.multiply(delta, float(strength), dtype=cv2.CV_16S)
    if box is None:
        h, w = full.shape[:2]
        up = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        up = resize_box(delta, size, box)
    return add_saturated(full, up)


# OpenCV adds uint8 and int16 on one thread: 5.2 ms for a 1080p frame on the 2-core Xeon host, 2.9 ms in two
# row bands on two threads (benchmarks/RESULTS.md, "Session 7"). Smaller frames stay on one call.
SPLIT_MIN_VALUES = 1280 * 720 * 3
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def add_saturated(full: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``full`` (uint8) + ``up`` (int16), saturated to uint8; frames of 720p or more in two bands at once."""
    if full.size < SPLIT_MIN_VALUES:
        return cv2.add(full, up, dtype=cv2.CV_8U)
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livestyle-add")
    out = np.empty_like(full)
    mid = full.shape[0] // 2
    top = _pool.submit(cv2.add, full[:mid], up[:mid], out[:mid], None, cv2.CV_8U)
    cv2.add(full[mid:], up[mid:], out[mid:], None, cv2.CV_8U)
    top.result()
    return out


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_upsample(full: np.ndarray, small_in: np.ndarray, small_out: np.ndarray,
                    strength: float = 1.0, *, radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Fast guided filter upsampling with the input's luma as guide (radius at low resolution)."""
    h, w = full.shape[:2]
    guide = cv2.cvtColor(small_in, cv2.COLOR_BGR2GRAY).astype(np.float32) * (1.0 / 255.0)
    p = small_out.astype(np.float32) * (1.0 / 255.0)
    g3 = cv2.merge([guide, guide, guide])
    mean_i1 = _box(guide, radius)
    mean_i = cv2.merge([mean_i1, mean_i1, mean_i1])
    mean_p = _box(p, radius)
    cov_ip = _box(g3 * p, radius) - mean_i * mean_p
    var_i1 = _box(guide * guide, radius) - mean_i1 * mean_i1
    var_i = cv2.merge([var_i1, var_i1, var_i1])
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    a = _box(a, radius) * 255.0
    b = _box(b, radius) * 255.0
    a_up = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    b_up = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    g_full = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY).astype(np.float32) * (1.0 / 255.0)
    q = cv2.add(cv2.multiply(a_up, cv2.merge([g_full, g_full, g_full])), b_up)
    out = cv2.convertScaleAbs(cv2.max(q, 0.0))  # rounds and saturates at 255
    return blend(full, out, strength)


def bilinear_upsample(full: np.ndarray, small_in: np.ndarray, small_out: np.ndarray,
                      strength: float = 1.0) -> np.ndarray:
    """Plain bilinear upsampling of the network output (loses full-resolution detail)."""
    h, w = full.shape[:2]
    return blend(full, cv2.resize(small_out, (w, h), interpolation=cv2.INTER_LINEAR), strength)


def upsample(method: str, full: np.ndarray, small_in: np.ndarray, small_out: np.ndarray,
             strength: float = 1.0) -> np.ndarray:
    if method == "detail":
        return detail_transfer(full, small_in, small_out, strength)
    if method == "guided":
        return guided_upsample(full, small_in, small_out, strength)
    if method == "bilinear":
        return bilinear_upsample(full, small_in, small_out, strength)
    raise ValueError(f"unknown upsampling method {method!r}; expected one of {METHODS}")


def resize_box(small: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """``cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]`` for ``box`` = (x0, y0, x1, y1),
    made by scaling only a crop of ``small``: the crop's sides fall where a whole number of ``small``'s pixels
    meets a whole number of the result's, so the crop scales on the same sampling grid as the whole picture."""
    W, H = int(size[0]), int(size[1])
    sh, sw = small.shape[:2]
    x0, y0, x1, y1 = box

    def span(lo: int, hi: int, n: int, N: int) -> tuple[int, int]:
        g = math.gcd(n, N)
        src_step, dst_step = n // g, N // g
        # two source pixels of margin: bilinear reads one to each side, and the crop's own border must not clamp
        a = max(0, (lo * n // N - 2) // src_step * src_step)
        b = min(n, -(-(-(-hi * n // N) + 2) // src_step) * src_step)
        return a, b

    cx0, cx1 = span(x0, x1, sw, W)
    cy0, cy1 = span(y0, y1, sh, H)
    dx0, dx1, dy0, dy1 = cx0 * W // sw, cx1 * W // sw, cy0 * H // sh, cy1 * H // sh
    up = cv2.resize(small[cy0:cy1, cx0:cx1], (dx1 - dx0, dy1 - dy0), interpolation=cv2.INTER_LINEAR)
    return up[y0 - dy0:y1 - dy0, x0 - dx0:x1 - dx0]
