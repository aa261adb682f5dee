"""CycleGAN's history pool of generated images (Shrivastava et al. 2017)."""

from __future__ import annotations

import numpy as np
import torch


class ImagePool:
    """Up to ``capacity`` past generated images, float32 (3, H, W) BGR in [-1, 1] each.

    :meth:`query` returns, per image, the image itself or (with probability
    0.5 once the pool is full) a stored older one that it replaces: the
    discriminator then sees a history of generators, which damps oscillation.
    The choice comes from the ``rng`` handed in, and :attr:`images` can be
    saved and restored, so a resumed run draws the same images.
    """

    def __init__(self, capacity: int = 50):
        self.capacity = capacity
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``batch`` (N, 3, H, W) -> (N, 3, H, W), detached."""
        if self.capacity <= 0:
            return batch.detach()
        out = []
        for img in batch.detach():
            img = img.clone()
            if len(self.images) < self.capacity:
                self.images.append(img)
                out.append(img)
            elif rng.random() < 0.5:
                j = int(rng.integers(self.capacity))
                out.append(self.images[j].clone())
                self.images[j] = img
            else:
                out.append(img)
        return torch.stack(out)

    def state_tensor(self, shape: tuple[int, int, int], device) -> tuple[torch.Tensor, int]:
        """(capacity, 3, H, W) padded with zeros, and the count of real entries."""
        full = torch.zeros((max(self.capacity, 1),) + tuple(shape), device=device)
        for i, img in enumerate(self.images):
            full[i] = img
        return full, len(self.images)

    def load(self, stacked: torch.Tensor, count: int, device) -> None:
        self.images = [stacked[i].to(device).clone() for i in range(count)]
