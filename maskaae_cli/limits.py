"""Sizes that cannot fit, refused before a run makes its folder (the allocator would fail, or the
kernel kill the process, part way into the first iteration)."""

from __future__ import annotations

import math

from maskaae_cli.config import Config
from maskaae_cli.errors import UserError
from maskaae_cli.sample_io import available_memory, human_size

ACTIVATIONS_PER_VALUE = 16  # a generous count of float tensors one sample's widest layer keeps per step


def step_memory(cfg: Config, data_shape: tuple[int, ...]) -> int:
    """A rough upper estimate of the bytes one training iteration holds (its mini-batches and the
    activations of the widest layer, forward and backward)."""
    m = cfg.model
    widest = max(math.prod(data_shape), m.m, m.hidden, m.critic_hidden)
    samples = cfg.optim.batch_size * (1 + cfg.optim.n_critic)
    return samples * widest * 4 * ACTIVATIONS_PER_VALUE


def check_step_memory(cfg: Config, data_shape: tuple[int, ...]) -> None:
    """Refuse a --batch-size whose iteration cannot fit in the memory this machine has free."""
    need, free = step_memory(cfg, data_shape), available_memory()
    if need > free:
        raise UserError(f"--batch-size {cfg.optim.batch_size}: one training iteration would need about "
                        f"{human_size(need)} of memory and {human_size(free)} is available: lower "
                        "--batch-size")
