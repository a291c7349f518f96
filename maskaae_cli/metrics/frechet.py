"""The Frechet distance between two sets of vectors (torch-fidelity's computation)."""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID,
    fid_features_to_statistics,
    fid_statistics_to_metric,
)


def statistics(features: torch.Tensor) -> dict[str, np.ndarray]:
    """Mean and covariance (float64) of a (N, D) feature matrix."""
    return fid_features_to_statistics(features.detach().to("cpu", torch.float64))


def frechet_from_statistics(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    return float(fid_statistics_to_metric(a, b, verbose=False)[KEY_METRIC_FID])


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between the Gaussians fitted to two (N, D) samples."""
    return frechet_from_statistics(statistics(a), statistics(b))


class RunningStatistics:
    """Mean and covariance of features that arrive in batches, in memory independent of their number.

    Sums are kept in float64 about a shift (the first batch's mean), which keeps the one-pass
    covariance as accurate as the two-pass one for features far from the origin.
    """

    def __init__(self) -> None:
        self.n = 0
        self._shift: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._outer: torch.Tensor | None = None

    def add(self, features: torch.Tensor) -> None:
        x = features.detach().to("cpu", torch.float64).reshape(len(features), -1)
        if self._shift is None:
            self._shift = x.mean(0)
            self._sum = torch.zeros_like(self._shift)
            self._outer = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
        assert self._sum is not None and self._outer is not None
        centred = x - self._shift
        self._sum += centred.sum(0)
        self._outer += centred.T @ centred
        self.n += len(x)

    def result(self) -> dict[str, np.ndarray]:
        """{"mu", "sigma"} as :func:`statistics` gives them (covariance with n - 1)."""
        if self.n < 2 or self._shift is None or self._sum is None or self._outer is None:
            raise ValueError("a covariance needs at least 2 samples")
        d = self._sum / self.n
        sigma = (self._outer - self.n * torch.outer(d, d)) / (self.n - 1)
        return {"mu": (self._shift + d).numpy(), "sigma": sigma.numpy()}
