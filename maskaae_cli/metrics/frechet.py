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
