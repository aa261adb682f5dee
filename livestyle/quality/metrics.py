"""Image and video quality metrics: PSNR, SSIM and the temporal warping error.

Images are uint8 BGR (H, W, 3), values 0..255, unless stated otherwise.

* :func:`psnr` -- peak signal-to-noise ratio in dB over all pixels and all
  three channels, peak 255.  Identical images give ``inf``.
* :func:`ssim` -- structural similarity of Wang, Bovik, Sheikh & Simoncelli
  (IEEE TIP 2004) computed on the BT.601 luma (Y = 0.299 R + 0.587 G +
  0.114 B, 0..255): Gaussian window 11x11 with sigma 1.5, K1 = 0.01,
  K2 = 0.03, L = 255, averaged over the "valid" region (5-pixel border
  dropped), as in the authors' reference implementation.
* :func:`warping_error` -- temporal warping error of Lai et al. (ECCV 2018,
  "Learning Blind Video Temporal Consistency", Eq. 9), with optical flow from
  OpenCV's DIS and the occlusion test of Ruder et al. (GCPR 2016) that Lai et
  al. use.  :func:`warping_error_ratio` divides the error of a stylized video
  by that of its input, with the flow always computed on the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from livestyle.errors import UsageError


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise UsageError(f"Images to compare must have the same shape; got {a.shape} and {b.shape}.",
                         fix="Resize or crop one image to the other's size first.")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise UsageError(f"Metrics take uint8 images (0..255); got {a.dtype} and {b.dtype}.",
                         fix="Convert with np.clip(x, 0, 255).astype(np.uint8).")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two uint8 images over all pixels and channels (units: levels^2)."""
    _check_pair(a, b)
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of equal shape (peak 255, all channels); ``inf`` if identical."""
    m = mse(a, b)
    if m == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / m)


def _luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 BGR (H, W, 3) or a grey (H, W) image: float64 (H, W) in 0..255."""
    if image.ndim == 2:
        return image.astype(np.float64)
    x = image.astype(np.float64)
    return 0.114 * x[..., 0] + 0.587 * x[..., 1] + 0.299 * x[..., 2]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) of the BT.601 luma of two uint8 BGR images; 1.0 if identical.

    Gaussian window 11x11, sigma 1.5; C1 = (0.01*255)^2, C2 = (0.03*255)^2;
    the mean is taken over the valid region (pixels whose whole window lies
    inside the image), so images must be at least 11x11.
    """
    _check_pair(a, b)
    if min(a.shape[:2]) < 11:
        raise UsageError(f"SSIM needs images of at least 11x11 pixels; got {a.shape[1]}x{a.shape[0]}.",
                         fix="Compare larger images.")
    x, y = _luma(a), _luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


# --------------------------------------------------------------------------- optical flow and warping

def _flow_engine() -> "cv2.DISOpticalFlow":
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def optical_flow(frame_from: np.ndarray, frame_to: np.ndarray, engine=None) -> np.ndarray:
    """DIS optical flow from ``frame_from`` to ``frame_to`` (uint8 BGR or grey, same size).

    Returns float32 (H, W, 2): (dx, dy) in pixels such that
    ``frame_from[y, x] ~ frame_to[y + dy, x + dx]``.
    """
    g0 = frame_from if frame_from.ndim == 2 else cv2.cvtColor(frame_from, cv2.COLOR_BGR2GRAY)
    g1 = frame_to if frame_to.ndim == 2 else cv2.cvtColor(frame_to, cv2.COLOR_BGR2GRAY)
    return (engine or _flow_engine()).calc(g0, g1, None)


def warp_back(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``x + flow(x)``: brings frame t+1 onto frame t given the t -> t+1 flow.

    ``image``: (H, W) or (H, W, C), any dtype OpenCV remaps; ``flow``: float32 (H, W, 2).
    Bilinear; outside pixels replicate the border.  Returns the same dtype and shape.
    """
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def non_occluded_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> np.ndarray:
    """Pixels of frame t visible in frame t+1, by the test of Ruder et al. 2016 used by Lai et al. 2018.

    ``flow_fw``: t -> t+1, ``flow_bw``: t+1 -> t, float32 (H, W, 2).  With
    ``b~ = flow_bw`` sampled at ``x + flow_fw(x)``, a pixel is occluded if

        |flow_fw + b~|^2 > 0.01 (|flow_fw|^2 + |b~|^2) + 0.5     (forward-backward mismatch)

    or it lies on a motion boundary:

        |grad u|^2 + |grad v|^2 > 0.01 |flow_fw|^2 + 0.002       (forward-difference gradients)

    Returns bool (H, W), True where the pixel is NOT occluded.
    """
    bw_warped = warp_back(flow_bw, flow_fw)
    fb = flow_fw + bw_warped
    fb_mag = (fb ** 2).sum(-1)
    fw_mag = (flow_fw ** 2).sum(-1)
    bw_mag = (bw_warped ** 2).sum(-1)
    mismatch = fb_mag > 0.01 * (fw_mag + bw_mag) + 0.5
    du = np.zeros_like(flow_fw)
    dv = np.zeros_like(flow_fw)
    du[:, :-1] = flow_fw[:, :-1] - flow_fw[:, 1:]
    dv[:-1, :] = flow_fw[:-1, :] - flow_fw[1:, :]
    grad = (du ** 2).sum(-1) + (dv ** 2).sum(-1)
    boundary = grad > 0.01 * fw_mag + 0.002
    return ~(mismatch | boundary)


@dataclass(frozen=True)
class FlowPair:
    """Forward flow and visibility mask between input frames t and t+1 (see :func:`clip_flows`)."""

    flow_fw: np.ndarray   # float32 (H, W, 2), t -> t+1
    visible: np.ndarray   # bool (H, W), True where not occluded


def clip_flows(frames: Sequence[np.ndarray]) -> list[FlowPair]:
    """Flows and occlusion masks between consecutive INPUT frames (uint8 BGR (H, W, 3), same size).

    Compute once and reuse for every stylization of the same clip.
    """
    if len(frames) < 2:
        raise UsageError(f"A warping error needs at least 2 frames; got {len(frames)}.",
                         fix="Pass a longer clip.")
    shape = frames[0].shape
    for f in frames:
        if f.shape != shape:
            raise UsageError(f"All frames of a clip must have the same shape; got {shape} and {f.shape}.",
                             fix="Resize the frames to one size.")
    engine = _flow_engine()
    greys = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f for f in frames]
    pairs = []
    for g0, g1 in zip(greys[:-1], greys[1:]):
        fw = engine.calc(g0, g1, None)
        bw = engine.calc(g1, g0, None)
        pairs.append(FlowPair(fw, non_occluded_mask(fw, bw)))
    return pairs


def warping_error(frames: Sequence[np.ndarray], flow_frames: Sequence[np.ndarray] | None = None, *,
                  flows: list[FlowPair] | None = None) -> float:
    """Temporal warping error of a video (Lai et al. 2018).

    ``frames``: T >= 2 uint8 BGR (H, W, 3) frames whose stability is measured.
    The flow comes from ``flow_frames`` (the INPUT video the frames were made
    from; default ``frames`` themselves), or from precomputed ``flows``.

    E = 1/(T-1) sum_t [ sum_x M_t(x) ||O_t(x) - O^_{t+1}(x)||^2 / (3 sum_x M_t(x)) ]

    where O^_{t+1} is frame t+1 warped back onto frame t with the input's
    t -> t+1 flow, M_t the non-occlusion mask, and colours are scaled to
    [0, 1].  (Lai et al. sum the three channels; we average them, a constant
    factor 3 that cancels in the ratio.)  Units: squared [0, 1] intensity.
    """
    if flows is None:
        flows = clip_flows(flow_frames if flow_frames is not None else frames)
    if len(flows) != len(frames) - 1:
        raise UsageError(f"{len(frames)} frames need {len(frames) - 1} flows; got {len(flows)}.",
                         fix="Compute the flows on the input clip the frames were made from.")
    total = 0.0
    for t, pair in enumerate(flows):
        a = frames[t].astype(np.float32) * (1.0 / 255.0)
        if a.shape[:2] != pair.flow_fw.shape[:2]:
            raise UsageError(f"Frame size {a.shape[1]}x{a.shape[0]} differs from the flow's "
                             f"{pair.flow_fw.shape[1]}x{pair.flow_fw.shape[0]}.",
                             fix="Stylize the clip at its own size.")
        b = warp_back(frames[t + 1].astype(np.float32) * (1.0 / 255.0), pair.flow_fw)
        m = pair.visible
        n = int(m.sum())
        if n == 0:
            continue
        d = (a - b) ** 2
        total += float(d[m].sum()) / (3.0 * n)
    return total / len(flows)


def warping_error_ratio(stylized: Sequence[np.ndarray], inputs: Sequence[np.ndarray], *,
                        flows: list[FlowPair] | None = None) -> float:
    """warping_error(stylized) / warping_error(inputs), both with the INPUT's flow.

    1.0 means the stylized video is as stable as its input; the issue's target is <= 1.15.
    """
    flows = flows if flows is not None else clip_flows(inputs)
    base = warping_error(inputs, flows=flows)
    if base <= 0.0:
        raise UsageError("The input clip has zero warping error (it is static or flow-perfect), so a ratio "
                         "is undefined.", fix="Use a clip with motion and some texture.")
    return warping_error(stylized, flows=flows) / base
