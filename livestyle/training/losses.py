"""Losses and the small geometric warps of the consistency loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss: mean (scores - target)^2 (target 1 = real, 0 = fake)."""
    return torch.mean((scores - target) ** 2)


def random_similarity(rng: np.random.Generator, n: int, size: int, *, max_shift_px: float = 4.0,
                      max_scale: float = 0.05) -> torch.Tensor:
    """``n`` random affine matrices (n, 2, 3) float32 for ``F.affine_grid``.

    Each is a scale in [1 - max_scale, 1 + max_scale] about the centre and a
    translation of up to ``max_shift_px`` pixels (of a ``size``-pixel image)
    in x and y: the movements a webcam picture makes between frames.
    """
    theta = np.zeros((n, 2, 3), np.float32)
    for i in range(n):
        s = 1.0 + rng.uniform(-max_scale, max_scale)
        tx, ty = rng.uniform(-max_shift_px, max_shift_px, 2) * 2.0 / size  # normalised coordinates
        theta[i] = [[s, 0.0, tx], [0.0, s, ty]]
    return torch.from_numpy(theta)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample (N, C, H, W) images with (N, 2, 3) affine ``theta`` (bilinear, border padding)."""
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def consistency(student_of_warped: torch.Tensor, warped_student: torch.Tensor, border: int) -> torch.Tensor:
    """Mean |G(T(x)) - T(G(x))| over the interior (``border`` pixels cut on every side)."""
    b = border
    if b > 0:
        student_of_warped = student_of_warped[..., b:-b, b:-b]
        warped_student = warped_student[..., b:-b, b:-b]
    return torch.mean(torch.abs(student_of_warped - warped_student))
