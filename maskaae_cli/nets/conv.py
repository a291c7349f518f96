"""DCGAN/WAE-style convolutional encoder and decoder for 32x32 and 64x64 images (any channels)."""

from __future__ import annotations

import torch
from torch import nn

from maskaae_cli.errors import UserError

SIZES = (32, 64)


def _layers(size: int) -> int:
    """Stride-2 stages between ``size`` and the 4x4 bottleneck: 3 for 32, 4 for 64."""
    return (size // 4).bit_length() - 1


class ConvEncoder(nn.Module):
    """x (C, S, S) -> R^m: 4x4 stride-2 convs doubling the channels, batch norm, ReLU, then linear."""

    def __init__(self, data_shape: tuple[int, ...], m: int, channels: int) -> None:
        super().__init__()
        c_in, size = data_shape[0], data_shape[1]
        layers: list[nn.Module] = []
        width = channels
        for _ in range(_layers(size)):
            layers += [nn.Conv2d(c_in, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            c_in, width = width, width * 2
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(c_in * 4 * 4, m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """R^m -> x in (0, 1): linear to 4x4, then 4x4 stride-2 transposed convs halving the channels."""

    def __init__(self, data_shape: tuple[int, ...], m: int, channels: int) -> None:
        super().__init__()
        c_out, size = data_shape[0], data_shape[1]
        n = _layers(size)
        width = channels * 2 ** (n - 1)
        self.start = (width, 4, 4)
        self.project = nn.Sequential(nn.Linear(m, width * 16, bias=False), nn.BatchNorm1d(width * 16),
                                     nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU()]
            width //= 2
        layers += [nn.ConvTranspose2d(width, c_out, 4, 2, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.start))


def build_conv_nets(data_shape: tuple[int, ...], m: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) for images of shape (C, S, S) with S in 32 or 64."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] not in SIZES:
        shape = "x".join(map(str, data_shape))
        raise UserError(f"the conv nets take square 32x32 or 64x64 images, not {shape}: use "
                        "--image-size 32 or 64 (folder and CelebA data) or --arch mlp")
    if channels < 1:
        raise UserError("model.conv_channels must be at least 1")
    return ConvEncoder(data_shape, m, channels), ConvDecoder(data_shape, m, channels)
