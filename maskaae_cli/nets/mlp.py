"""Fully connected nets: the reference MNIST nets and the synthetic-data nets."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden`` ReLU units, then a linear output."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x (any shape) -> R^m."""

    def __init__(self, data_shape: tuple[int, ...], m: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.net = mlp(math.prod(data_shape), m, hidden, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """R^m -> x; a sigmoid output for images in [0, 1], linear for real-valued data."""

    def __init__(self, data_shape: tuple[int, ...], m: int, hidden: int, depth: int,
                 sigmoid: bool) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = mlp(m, math.prod(data_shape), hidden, depth)
        self.sigmoid = sigmoid

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        if self.sigmoid:
            out = torch.sigmoid(out)
        return out.view(z.shape[0], *self.data_shape)


class MLPCritic(nn.Module):
    """The WGAN-GP critic on (masked) latents: R^m -> R."""

    def __init__(self, m: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.net = mlp(m, 1, hidden, depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)
