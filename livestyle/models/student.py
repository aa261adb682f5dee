"""The real-time student generator and the runtime's uint8 contract.

The student works at low resolution: two stride-2 convolutions bring the
frame to 1/4 size, a few inverted-residual blocks (MobileNetV2 style:
1x1 expand, 3x3 depthwise, 1x1 project) do the work there, and two
upsample+conv stages bring it back.  Its output is a residual on the input
(``tanh`` in [-1, 1], added to the input and clamped), which keeps the
content's detail and makes a near-identity look easy to learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from livestyle.models.convert import UInt8BGR  # noqa: F401  (re-exported: the runtime contract)


@dataclass(frozen=True)
class StudentConfig:
    """Architecture of a student; saved in every style pack so it can be rebuilt without flags."""

    stem: int = 16        # channels at 1/2 resolution
    width: int = 32       # channels at 1/4 resolution
    blocks: int = 4       # inverted-residual blocks at 1/4 resolution
    expansion: int = 4    # hidden = width * expansion inside each block
    residual: bool = True  # output = input + delta (True) or output = tanh(...) (False)

    @property
    def size_multiple(self) -> int:
        """Frame H and W must be multiples of this: two stride-2 stages."""
        return 4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "StudentConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class InvertedResidual(nn.Module):
    def __init__(self, ch: int, expansion: int):
        super().__init__()
        hidden = ch * expansion
        self.expand = nn.Conv2d(ch, hidden, 1)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, padding_mode="reflect")
        self.project = nn.Conv2d(hidden, ch, 1)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act(self.dw(self.act(self.expand(x)))))


class Student(nn.Module):
    """Float generator: (N, 3, H, W) BGR in [-1, 1] -> (N, 3, H, W) BGR in [-1, 1].

    H and W must be multiples of 4.  ``features`` (the output of the last
    block, (N, width, H/4, W/4)) is kept on the module after each forward for
    feature distillation.
    """

    def __init__(self, cfg: StudentConfig = StudentConfig()):
        super().__init__()
        self.cfg = cfg
        self.down1 = nn.Conv2d(3, cfg.stem, 3, stride=2, padding=1, padding_mode="reflect")
        self.down2 = nn.Conv2d(cfg.stem, cfg.width, 3, stride=2, padding=1, padding_mode="reflect")
        self.body = nn.Sequential(*[InvertedResidual(cfg.width, cfg.expansion) for _ in range(cfg.blocks)])
        self.up1 = nn.Conv2d(cfg.width + cfg.stem, cfg.stem, 3, padding=1, padding_mode="reflect")
        self.up2 = nn.Conv2d(cfg.stem + 3, 3, 3, padding=1, padding_mode="reflect")
        self.act = nn.ReLU(inplace=True)
        self.features: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.down1(x))
        d2 = self.act(self.down2(d1))
        f = self.body(d2)
        self.features = f
        u1 = F.interpolate(f, scale_factor=2.0, mode="bilinear", align_corners=False)
        u1 = self.act(self.up1(torch.cat([u1, d1], 1)))
        u2 = F.interpolate(u1, scale_factor=2.0, mode="bilinear", align_corners=False)
        delta = torch.tanh(self.up2(torch.cat([u2, x], 1)))
        if self.cfg.residual:
            return torch.clamp(x + 2.0 * delta, -1.0, 1.0)
        return delta
