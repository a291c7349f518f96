"""The paper's synthetic test bed: x = f(z), z ~ N(0, I_n), f a fixed random 2-layer net."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from maskaae_cli.data.splits import Splits

if TYPE_CHECKING:
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.registry import Dataset


class SyntheticGenerator(nn.Module):
    """f: R^n -> R^d, two hidden layers of ``hidden`` leaky-ReLU units, weights from ``seed``.

    Outputs are scaled so the data has unit average variance per coordinate.
    """

    def __init__(self, n_true: int, data_dim: int, hidden: int = 128, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        dims = [n_true, hidden, hidden, data_dim]
        self.weights = [torch.randn(i, o, generator=g) / i**0.5 for i, o in zip(dims, dims[1:], strict=False)]
        self.biases = [0.1 * torch.randn(o, generator=g) for o in dims[1:]]
        z = torch.randn(20_000, n_true, generator=g)
        raw = self._raw(z)
        self.mean = raw.mean(0)
        self.scale = raw.std(0).pow(2).mean().sqrt()
        self.n_true = n_true

    def _raw(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = torch.nn.functional.leaky_relu(h, 0.2)
        return h

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self._raw(z) - self.mean) / self.scale


def synthetic_splits(n_true: int, data_dim: int, hidden: int, seed: int,
                     sizes: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, validation and test sets of x = f(z), each with its own draws of z."""
    f = SyntheticGenerator(n_true, data_dim, hidden, seed)
    g = torch.Generator().manual_seed(seed + 1)
    return tuple(f(torch.randn(n, n_true, generator=g)) for n in sizes)  # type: ignore[return-value]


def load_synthetic(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """The config's synthetic data, generated (nothing is read or written)."""
    return Splits(*synthetic_splits(cfg.n_true, cfg.data_dim, cfg.data_hidden, cfg.data_seed,
                                    (cfg.n_train, cfg.n_val, cfg.n_test)))
