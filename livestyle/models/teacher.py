"""The CycleGAN teacher generator (Zhu et al. 2017, ResNet variant).

A 7x7 stem, two stride-2 downsampling convolutions, ``blocks`` residual
blocks at 1/4 resolution, two upsamplers (resize-conv by default) and a 7x7
head with ``tanh``; optionally the head's output is a change added to the
input (``TeacherConfig.residual``).  Reflection padding and instance normalisation
throughout, as in the paper.  The canonical 256x256 configuration
(``width=64, blocks=9``) costs about 56.8 G multiply-accumulates per frame;
on a CPU we train smaller ones (see :class:`TeacherConfig`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TeacherConfig:
    """Architecture of a teacher generator; saved in the checkpoint and the style pack."""

    width: int = 32    # channels after the stem; 2x and 4x after the two downsamplers
    blocks: int = 6    # residual blocks at 1/4 resolution
    # "resize": bilinear x2 then a 3x3 conv, free of the checkerboard artifacts of transposed
    # convolutions (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"), which short CPU
    # runs never train away; "transposed": the original CycleGAN decoder.
    upsample: str = "resize"
    # True: the generator predicts a change, output = clamp(x + 2 * tanh(head)), with the head's
    # last conv zero-initialised so training starts from the identity (as the student does).  Off by
    # default: in 800-step CPU runs (benchmarks/RESULTS.md, section 3) it stayed sharp but also
    # stayed at the identity -- the cycle and identity terms hold it there -- so it learnt less of
    # the look than the original decoder.  False: the original CycleGAN output.
    residual: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TeacherConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known.setdefault("upsample", "transposed")  # configs saved before the fields existed
        known.setdefault("residual", False)
        return cls(**known)

    @property
    def feature_channels(self) -> int:
        """Channels of :attr:`ResnetGenerator.features` (the residual blocks' output)."""
        return self.width * 4


def _norm(ch: int) -> nn.Module:
    # affine=False, no running stats: the normalisation of the original CycleGAN code
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + (pad, conv3, IN, ReLU, pad, conv3, IN)(x); keeps shape (N, C, H, W)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Float generator: (N, 3, H, W) BGR in [-1, 1] -> (N, 3, H, W) BGR in [-1, 1].

    H and W must be multiples of 4.  After each forward, ``features`` holds
    the residual blocks' output, (N, 4*width, H/4, W/4) float32, for feature
    distillation into the student.
    """

    def __init__(self, cfg: TeacherConfig = TeacherConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), _norm(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), _norm(2 * w), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), _norm(4 * w), nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(cfg.blocks)])
        if cfg.upsample not in ("resize", "transposed"):
            raise ValueError(f"TeacherConfig.upsample must be 'resize' or 'transposed', not {cfg.upsample!r}")

        def up(cin: int, cout: int) -> list[nn.Module]:
            if cfg.upsample == "transposed":
                return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
            return [nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
                    nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]

        self.decoder = nn.Sequential(
            *up(4 * w, 2 * w), _norm(2 * w), nn.ReLU(inplace=True),
            *up(2 * w, w), _norm(w), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7), nn.Tanh(),
        )
        self.features: torch.Tensor | None = None
        init_weights(self)
        if cfg.residual:
            head = self.decoder[-2]
            nn.init.zeros_(head.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(self.encoder(x))
        self.features = f
        y = self.decoder(f)
        if self.cfg.residual:
            return torch.clamp(x + 2.0 * y, -1.0, 1.0)
        return y


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """CycleGAN's initialisation: conv weights ~ N(0, 0.02), biases 0 (uses torch's global RNG)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
