"""Train / validation / test splits: the one type every loader returns, and the ways to make one."""

from __future__ import annotations

from typing import NamedTuple

import torch

from maskaae_cli.errors import UserError


class Splits(NamedTuple):
    """A dataset's three splits: uint8 images (N, C, H, W) or float vectors (N, d)."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def carve_validation(train: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val): a random ``fraction`` of ``train`` (at least one sample), fixed by ``seed``."""
    n_val = max(1, round(len(train) * fraction))
    if n_val >= len(train):
        raise UserError(f"only {len(train)} training images: too few to hold out a validation set")
    perm = _permutation(len(train), seed)
    return train[perm[n_val:]], train[perm[:n_val]]


def with_validation(train: torch.Tensor, test: torch.Tensor, fraction: float, seed: int) -> Splits:
    """Official train and test splits, with the validation split carved from train."""
    return Splits(*carve_validation(train, fraction, seed), test)


def three_way_split(data: torch.Tensor, fraction: float, seed: int) -> Splits:
    """Train / val / test of one pool: ``fraction`` of it for test, then ``fraction`` of the rest for val."""
    if len(data) < 3:
        raise UserError(f"only {len(data)} images: at least 3 are needed for train, validation and test")
    n_test = min(len(data) - 2, max(1, round(len(data) * fraction)))
    perm = _permutation(len(data), seed)
    train, val = carve_validation(data[perm[n_test:]], fraction, seed + 1)
    return Splits(train, val, data[perm[:n_test]])


def split_by_partition(data: torch.Tensor, partition: torch.Tensor) -> Splits:
    """Split by labels 0 / 1 / 2; sorted labels (the official CelebA order) give views, not copies."""
    if bool((partition[1:] >= partition[:-1]).all()):
        counts = [int((partition == k).sum()) for k in range(3)]
        parts = torch.split(data, counts)
    else:
        parts = tuple(data[partition == k] for k in range(3))
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        if len(part) == 0:
            raise UserError(f"the official partition leaves the {name} split empty: remove or fix "
                            "list_eval_partition.txt")
    return Splits(*parts)
