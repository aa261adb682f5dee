"""The one conversion between uint8 BGR frames and the float tensors the networks use.

Frames: uint8 (N, H, W, 3) BGR, 0..255 (NHWC, as OpenCV gives them).
Network tensors: float (N, 3, H, W) BGR in [-1, 1] (NCHW).

``to_unit`` / ``from_unit`` work on torch tensors (and are what
:class:`UInt8BGR` puts inside exported graphs); ``frames_to_unit`` /
``unit_to_frames`` take and give numpy arrays; ``images_to_unit`` makes
(N, 3, H, W) float32 numpy batches for training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SCALE = 2.0 / 255.0


def to_unit(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (N, H, W, 3) BGR 0..255 -> ``dtype`` (N, 3, H, W) BGR in [-1, 1]."""
    return x.permute(0, 3, 1, 2).to(dtype) * SCALE - 1.0


def from_unit(y: torch.Tensor) -> torch.Tensor:
    """float (N, 3, H, W) BGR in [-1, 1] -> uint8 (N, H, W, 3) BGR, rounded to nearest, clamped to 0..255."""
    y = torch.clamp((y + 1.0) * 127.5 + 0.5, 0.0, 255.0)
    return y.to(torch.uint8).permute(0, 2, 3, 1)


def frames_to_unit(frames: np.ndarray) -> torch.Tensor:
    """numpy uint8 (N, H, W, 3) BGR -> torch float32 (N, 3, H, W) in [-1, 1]."""
    return to_unit(torch.from_numpy(np.ascontiguousarray(frames)))


def unit_to_frames(y: torch.Tensor) -> np.ndarray:
    """torch float (N, 3, H, W) in [-1, 1] -> numpy uint8 (N, H, W, 3) BGR."""
    return from_unit(y.detach().to("cpu", torch.float32)).contiguous().numpy()


def images_to_unit(images: np.ndarray) -> np.ndarray:
    """numpy uint8 (N, H, W, 3) or (H, W, 3) BGR -> float32 (N, 3, H, W) / (3, H, W) in [-1, 1] (numpy)."""
    x = np.asarray(images)
    axes = (0, 3, 1, 2) if x.ndim == 4 else (2, 0, 1)
    return x.transpose(axes).astype(np.float32) * np.float32(SCALE) - np.float32(1.0)


def unit_to_images(x: np.ndarray) -> np.ndarray:
    """float (N, 3, H, W) numpy in [-1, 1] -> uint8 (N, H, W, 3) BGR (numpy; rounded, clamped)."""
    return np.clip((np.asarray(x) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


class UInt8BGR(nn.Module):
    """Wraps a float generator into the runtime contract.

    In: uint8 (N, H, W, 3) BGR, 0..255.  Out: uint8 (N, H, W, 3) BGR.
    Normalisation (in ``dtype``: float16 on a GPU), layout change and rounding
    all live in the graph, so the runtime does no per-pixel float work in Python.
    """

    def __init__(self, net: nn.Module, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.net = net
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return from_unit(self.net(to_unit(x, self.dtype)))
