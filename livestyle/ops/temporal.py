"""A motion-aware temporal filter that removes per-frame flicker of a stylizer.

Per-frame generators flicker: small input changes (sensor noise, compression)
change their output a lot more.  This filter blends the new stylized frame
with the PREVIOUS STYLIZED output, never with the input, so the style's
strength stays 1.0.  The blend weight is decided per pixel from the INPUT:

1. (optional, default on) motion compensation: DIS optical flow (ultrafast
   preset) from the current input to the previous input, computed at half
   the working resolution, brings the previous input and previous output onto
   the current frame;
2. where the current input matches the (warped) previous input, the pixel
   shows the same thing as before, so the previous output is reused with
   weight ``strength``; where they differ (motion the flow missed,
   occlusions, new content, lighting changes) the weight falls smoothly to 0,
   so nothing ghosts.

The recursion (out_t = w * warp(out_{t-1}) + (1 - w) * stylized_t) is an
exponential average along motion trajectories: at ``strength`` 0.8 the
variance of flicker in matched areas drops to (1-w)/(1+w) = 11 %.

Meant to run at the inference resolution (e.g. 512x288) before upsampling;
cost measured by ``benchmarks/quality/flicker_bench.py``.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.errors import UsageError


class TemporalFilter:
    """Motion-aware recursive smoothing of a stylized stream.

    ``strength``: weight in [0, 1] of the previous output where the input did
    not change (0 disables the filter).  ``threshold``: input difference in
    uint8 levels (the largest over B, G, R and a 3x3 neighbourhood) at which the weight
    is half of ``strength``: full weight below 0.5x (sensor noise), zero from
    1.5x on, where the new frame passes unchanged.  ``motion_compensation``: follow motion with
    optical flow (True) or only smooth where the input is static (False,
    cheaper).
    """

    def __init__(self, strength: float = 0.8, *, threshold: float = 12.0, motion_compensation: bool = True):
        if not 0.0 <= float(strength) <= 1.0:
            raise UsageError(f"Temporal filter strength must be in 0..1; got {strength}.",
                             fix="Pass a value such as 0.8 (0 disables the filter).")
        if not float(threshold) > 0.0:
            raise UsageError(f"Temporal filter threshold must be > 0 levels; got {threshold}.",
                             fix="Pass a value such as 12.")
        self.strength = float(strength)
        self.threshold = float(threshold)
        self.motion_compensation = bool(motion_compensation)
        # weight as a function of the uint8 input difference (0..255): a lookup table
        # full weight up to 0.5x threshold (sensor noise), half at the threshold, zero from 1.5x on
        d = np.arange(256, dtype=np.float32)
        t = np.clip((d - 0.5 * self.threshold) / self.threshold, 0.0, 1.0)
        ramp = 1.0 - t * t * (3.0 - 2.0 * t)
        self._weight_lut = (self.strength * ramp).astype(np.float32).reshape(1, 256)
        self._flow = (cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
                      if self.motion_compensation else None)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._kernel = np.ones((3, 3), np.uint8)
        self.reset()

    def reset(self) -> None:
        """Forget the history (call on a scene cut, a new source or a size change)."""
        self._prev_input: np.ndarray | None = None    # uint8 BGR (H, W, 3), the previous input frame
        self._prev_output: np.ndarray | None = None
        self._prev_grey_small: np.ndarray | None = None

    def apply(self, input_small: np.ndarray, stylized_small: np.ndarray) -> np.ndarray:
        """Filter one frame.

        ``input_small``: the frame the stylizer saw, uint8 BGR (H, W, 3), 0..255.
        ``stylized_small``: the stylizer's output for it, uint8 BGR (H, W, 3).
        Returns a new uint8 BGR (H, W, 3) array: the filtered stylized frame.
        The first frame after construction, :meth:`reset` or a size change is
        returned unchanged (as a copy).
        """
        if input_small.shape != stylized_small.shape or input_small.ndim != 3 or input_small.shape[2] != 3:
            raise UsageError(f"TemporalFilter needs input and stylized frames of the same shape (H, W, 3); "
                             f"got {input_small.shape} and {stylized_small.shape}.",
                             fix="Pass the resized input frame together with the model's output for it.")
        if input_small.dtype != np.uint8 or stylized_small.dtype != np.uint8:
            raise UsageError(f"TemporalFilter takes uint8 frames; got {input_small.dtype} and {stylized_small.dtype}.",
                             fix="Filter before converting to float.")
        if self._prev_output is not None and self._prev_output.shape != input_small.shape:
            self.reset()
        h, w = input_small.shape[:2]
        grey_small = None
        if self._flow is not None:
            half = cv2.resize(input_small, (max(8, w // 2), max(8, h // 2)), interpolation=cv2.INTER_AREA)
            grey_small = cv2.cvtColor(half, cv2.COLOR_BGR2GRAY)
        if self.strength == 0.0 or self._prev_input is None:
            out = stylized_small.copy()
        else:
            prev_in, prev_out = self._prev_input, self._prev_output
            if self._flow is not None:
                # flow from the current frame to the previous one: cur(x) ~ prev(x + f(x))
                flow = self._flow.calc(grey_small, self._prev_grey_small, None)
                flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(2.0)
                gx, gy = self._sampling_grid(h, w)
                map_x, map_y = cv2.convertMaps(gx + flow[..., 0], gy + flow[..., 1], cv2.CV_16SC2)
                prev_in = cv2.remap(prev_in, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                prev_out = cv2.remap(prev_out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # max over 3x3: a change anywhere next to a pixel stops its reuse (no ghost fringes at edges)
            b, g, r = cv2.split(cv2.absdiff(input_small, prev_in))
            diff = cv2.dilate(cv2.max(cv2.max(b, g), r), self._kernel)
            weight = cv2.LUT(diff, self._weight_lut)  # float32 (H, W) in [0, strength]
            # out = w * prev_out + (1 - w) * stylized, per pixel, rounded to uint8
            out = cv2.blendLinear(prev_out, stylized_small, weight, np.float32(1.0) - weight)
        self._prev_input = input_small.copy()
        self._prev_output = out
        self._prev_grey_small = grey_small
        return out.copy()

    def _sampling_grid(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        return self._grid
