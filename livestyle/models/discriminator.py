"""PatchGAN discriminator (Isola et al. 2017), as used by CycleGAN."""

from __future__ import annotations

import torch
from torch import nn

from livestyle.models.teacher import init_weights


class PatchDiscriminator(nn.Module):
    """(N, 3, H, W) BGR in [-1, 1] -> (N, 1, h, w) float realness scores (no sigmoid: LSGAN).

    ``layers=3`` with ``width=64`` is the 70x70 PatchGAN of the paper (each
    output score sees a 70x70 input patch).  Fewer layers shrink the patch
    (``layers=2``: 34x34, ``layers=1``: 16x16) for small crops and tiny
    test configurations.  Instance normalisation, LeakyReLU(0.2).
    """

    def __init__(self, width: int = 64, layers: int = 3, in_channels: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError("PatchDiscriminator needs layers >= 1")
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers):
            nxt = width * min(2 ** i, 8)
            seq += [nn.Conv2d(ch, nxt, 4, stride=2, padding=1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True)]
            ch = nxt
        nxt = width * min(2 ** layers, 8)
        seq += [nn.Conv2d(ch, nxt, 4, stride=1, padding=1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, True),
                nn.Conv2d(nxt, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*seq)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
