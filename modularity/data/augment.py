"""Image augmentation of the CIFAR-10 VGG (Filan et al., after geifmany/cifar-vgg): Keras'
``ImageDataGenerator(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)``
— per image a rotation of up to ±15°, a shift of up to 10% of the side in each direction and a horizontal
flip with probability ½; pixels that come from outside the image take the nearest edge pixel (Keras'
``fill_mode="nearest"``). Drawn from ``generator``, so a (seed, step) pair always gives the same batch.
"""

from __future__ import annotations

import math

import torch

__all__ = ["rotate_shift_flip"]


def rotate_shift_flip(x: torch.Tensor, generator: torch.Generator, degrees: float = 15.0, shift: float = 0.1,
                      flip: bool = True) -> torch.Tensor:
    """Augmented copies of a batch of images (N × C × H × W, float)."""
    n = x.shape[0]
    draw = lambda: torch.rand(n, generator=generator, device=generator.device)  # noqa: E731
    angle = (2 * draw() - 1) * math.radians(degrees)
    dx, dy = (2 * draw() - 1) * 2 * shift, (2 * draw() - 1) * 2 * shift  # grid coordinates span 2 per side
    mirror = torch.where(draw() < 0.5, -1.0, 1.0) if flip else torch.ones(n, device=generator.device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * mirror, -sin, dx], 1), torch.stack([sin * mirror, cos, dy], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
