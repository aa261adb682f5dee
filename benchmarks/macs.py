"""Multiply-accumulate counter for the generators (forward hooks, no extra dependency).

Counts the MACs of every Conv2d, ConvTranspose2d and Linear layer in one
forward pass of a (1, 3, H, W) input; normalisation, activations, padding
and interpolation are not counted (they are a few % at most and are not
multiply-accumulates).

    .venv/bin/python benchmarks/macs.py [--size 256]

prints the canonical CycleGAN ResNet-9 teacher (64 channels, 9 blocks),
livestyle's default CPU teacher, the default student, and the ratios.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


def count_macs(model: nn.Module, size: tuple[int, int] = (256, 256)) -> int:
    """MACs of one forward pass of ``model`` on a (1, 3, H, W) input, ``size`` = (H, W)."""
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        total += out.numel() * (m.in_channels // m.groups) * k

    def tconv_hook(m: nn.ConvTranspose2d, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        total += inp[0].numel() * (m.out_channels // m.groups) * k

    def linear_hook(m: nn.Linear, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            handles.append(m.register_forward_hook(tconv_hook))
        elif isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size[0], size[1]))
    finally:
        for h in handles:
            h.remove()
    return total


def main(argv: list[str] | None = None) -> int:
    from livestyle.models.student import Student, StudentConfig
    from livestyle.models.teacher import ResnetGenerator, TeacherConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="square input side in pixels (default 256)")
    args = ap.parse_args(argv)
    hw = (args.size, args.size)
    reference = count_macs(ResnetGenerator(TeacherConfig(width=64, blocks=9, upsample="transposed")), hw)
    cpu_teacher = count_macs(ResnetGenerator(TeacherConfig()), hw)
    student = count_macs(Student(StudentConfig()), hw)
    print(f"MACs at {args.size}x{args.size}:")
    print(f"  teacher CycleGAN ResNet-9 (64 ch, 9 blocks): {reference / 1e9:8.3f} G")
    print(f"  teacher livestyle default {TeacherConfig()}: {cpu_teacher / 1e9:8.3f} G")
    print(f"  student default {StudentConfig()}: {student / 1e9:8.3f} G")
    print(f"  student / ResNet-9 teacher: {100 * student / reference:.3f} %  (budget: <= 1 %)")
    print(f"  student / livestyle teacher: {100 * student / cpu_teacher:.3f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
