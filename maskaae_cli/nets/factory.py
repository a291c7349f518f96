"""Pick encoder, decoder and critic for a data shape and a model config."""

from __future__ import annotations

from torch import nn

from maskaae_cli.config import ARCHS, ModelConfig
from maskaae_cli.errors import UserError
from maskaae_cli.nets.mlp import MLPCritic, MLPDecoder, MLPEncoder


def resolve_arch(arch: str, data_shape: tuple[int, ...]) -> str:
    """``auto`` is the MLP for vectors and 28x28 grey images, conv nets for colour images."""
    if arch not in ARCHS:
        raise UserError(f"unknown --arch {arch!r}: use one of {', '.join(ARCHS)}")
    if arch != "auto":
        return arch
    return "conv" if len(data_shape) == 3 and data_shape[0] == 3 else "mlp"


def build_nets(cfg: ModelConfig, data_shape: tuple[int, ...],
               is_image: bool) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Return (encoder, decoder, critic) for ``data_shape`` (C, H, W) or (d,)."""
    arch = resolve_arch(cfg.arch, data_shape)
    critic = MLPCritic(cfg.m, cfg.critic_hidden, cfg.critic_depth)
    if arch == "mlp":
        return (MLPEncoder(data_shape, cfg.m, cfg.hidden, cfg.depth),
                MLPDecoder(data_shape, cfg.m, cfg.hidden, cfg.depth, sigmoid=is_image),
                critic)
    from maskaae_cli.nets.conv import build_conv_nets

    encoder, decoder = build_conv_nets(data_shape, cfg.m, cfg.conv_channels)
    return encoder, decoder, critic
