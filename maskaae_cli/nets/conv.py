"""DCGAN/WAE-style convolutional encoder and decoder for 32x32 and 64x64 colour images."""

from __future__ import annotations

from torch import nn

from maskaae_cli.errors import UserError


def build_conv_nets(data_shape: tuple[int, ...], m: int, channels: int) -> tuple[nn.Module, nn.Module]:
    raise UserError("the convolutional nets are not available yet: use --arch mlp")
