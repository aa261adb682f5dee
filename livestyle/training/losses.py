"""Losses and the small geometric warps of the consistency loss."""

from __future__ import annotations

import math

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


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with standard deviation ``sigma`` px (reflected borders)."""
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2.0 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def split_target(teacher_out: torch.Tensor, base_out: torch.Tensor, sigma: float) -> torch.Tensor:
    """The teacher's detail on the base look's colours: ``blur(base) + teacher - blur(teacher)``, in [-1, 1].

    For a drawn look whose CPU-trained teacher paints halos and colour blobs
    (low frequencies) but draws the look's strokes and outlines (high
    frequencies), a clean colour look trained on the same photos supplies
    the low frequencies instead.
    """
    return (gaussian_blur(base_out, sigma) + teacher_out - gaussian_blur(teacher_out, sigma)).clamp(-1.0, 1.0)


def dark_strokes(x: torch.Tensor, radius: int) -> torch.Tensor:
    """The thin dark features of ``x`` (N, 3, H, W) BGR in [-1, 1]: a black top-hat of its luma, (N, 1, H, W) >= 0.

    The greyscale closing (a max then a min over a ``2 radius + 1`` square)
    fills every dark feature narrower than the square; minus the image, that
    leaves the strokes and outlines, by how much darker they are than their
    surroundings, and 0 everywhere else.
    """
    luma = 0.114 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.299 * x[:, 2:3]
    k, pad = 2 * radius + 1, (radius, radius, radius, radius)
    dilated = F.max_pool2d(F.pad(luma, pad, mode="replicate"), k, stride=1)
    closed = -F.max_pool2d(F.pad(-dilated, pad, mode="replicate"), k, stride=1)
    return closed - luma


def stroke_target(teacher_out: torch.Tensor, base_out: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """The base look with the teacher's dark strokes drawn on it: ``base - dark_strokes(teacher)``, in [-1, 1].

    Unlike :func:`split_target`, whose detail (teacher minus its blur) is an
    unsharp mask, this adds no light band beside a dark line: the strokes
    term is never negative.  The base look keeps the frame's own detail at
    full resolution; from the teacher only the strokes are taken, in grey.
    """
    return (base_out - dark_strokes(teacher_out, radius)).clamp(-1.0, 1.0)
