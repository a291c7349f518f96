"""FID (and KID, precision / recall) of generated samples against a set of real samples.

The real side is a tensor the caller supplies (the CLI takes it from the dataset), its
statistics cached per dataset, split and feature space; the generated side is any
iterable of batches, so memory stays bounded. Feature spaces live in
:mod:`maskaae_cli.metrics.features` (Inception-v3 for images, the raw vectors for
synthetic data, or any injected extractor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskaae_cli.errors import UserError
from maskaae_cli.metrics import stats_cache
from maskaae_cli.metrics.features import FeatureSpace
from maskaae_cli.metrics.frechet import RunningStatistics, frechet_from_statistics, statistics

Progress = Callable[[int], None]


@dataclass
class RealSide:
    """Statistics (and, for KID / precision-recall, the features) of the real samples."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: torch.Tensor | None = None
    from_cache: bool = False


@dataclass
class GeneratedSide:
    """Statistics of the generated samples' features (and the features, for KID / precision-recall)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: torch.Tensor | None = None


@dataclass
class FidResult:
    """What one evaluation measured."""

    fid: float
    n: int
    n_real: int
    features: str
    real_cached: bool
    kid: float | None = None
    kid_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    f_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def extract(space: FeatureSpace, batches: Iterable[torch.Tensor],
            progress: Progress | None = None) -> torch.Tensor:
    """Features of every batch, concatenated on the CPU."""
    feats = []
    for batch in batches:
        feats.append(space(batch))
        if progress:
            progress(len(batch))
    if not feats:
        raise UserError("no samples to compute features of")
    return torch.cat(feats)


def summarise(space: FeatureSpace, batches: Iterable[torch.Tensor], keep_features: bool = False,
              progress: Progress | None = None) -> GeneratedSide:
    """Feature statistics of every batch, accumulated as they come: memory does not grow with their
    number unless ``keep_features`` (KID and precision / recall need every feature)."""
    running, kept = RunningStatistics(), []
    for batch in batches:
        feats = space(batch)
        running.add(feats)
        if keep_features:
            kept.append(feats)
        if progress:
            progress(len(batch))
    if running.n < 2:
        raise UserError("FID needs at least 2 generated samples")
    stats = running.result()
    return GeneratedSide(stats["mu"], stats["sigma"], running.n, torch.cat(kept) if keep_features else None)


def cached_real(real: torch.Tensor, cache: Path | None, need_features: bool) -> RealSide | None:
    """The real side from the cache file, when it holds what is needed for this very data."""
    if cache is None:
        return None
    arrays = stats_cache.load(cache, stats_cache.fingerprint(real), need_features)
    if arrays is None:
        return None
    feats = torch.from_numpy(arrays["features"]) if need_features else None
    return RealSide(arrays["mu"], arrays["sigma"], int(arrays["n"]), feats, from_cache=True)


def compute_real(real: torch.Tensor, space: FeatureSpace, batch_size: int, cache: Path | None = None,
                 keep_features: bool = False, progress: Progress | None = None) -> RealSide:
    """Extract the real side's features and statistics, and write them to ``cache``."""
    feats = extract(space, real.split(batch_size), progress)
    stats = statistics(feats)
    side = RealSide(stats["mu"], stats["sigma"], len(feats), feats if keep_features else None)
    if cache is not None:
        arrays = {"mu": side.mu, "sigma": side.sigma, "n": np.array(side.n)}
        if keep_features:
            arrays["features"] = feats.numpy()
        stats_cache.save(cache, arrays, stats_cache.fingerprint(real))
    return side


def compare(fake: GeneratedSide, real: RealSide, features: str, kid: bool = False,
            prc: bool = False) -> FidResult:
    """FID between the generated side and the real side; KID and precision/recall on request.

    KID and precision/recall are torch-fidelity's own computations (input1 = generated,
    input2 = real), on the same features as the FID.
    """
    if fake.n < 2 or real.n < 2:
        raise UserError("FID needs at least 2 generated and 2 real samples")
    if fake.mu.shape != real.mu.shape:
        raise UserError(f"the generated samples have {fake.mu.shape[0]} features and the real ones "
                        f"{real.mu.shape[0]}: the real statistics come from another feature space; "
                        "run again with --no-cache")
    if not (np.isfinite(fake.mu).all() and np.isfinite(fake.sigma).all()):
        raise UserError("the generated samples' features are not finite: the model makes NaN or infinite "
                        "samples; use an earlier checkpoint, or train again with lower learning rates")
    fid = frechet_from_statistics({"mu": fake.mu, "sigma": fake.sigma}, {"mu": real.mu, "sigma": real.sigma})
    result = FidResult(fid=fid, n=fake.n, n_real=real.n, features=features,
                       real_cached=real.from_cache)
    if kid or prc:
        assert real.features is not None and fake.features is not None, \
            "features are needed for KID / precision-recall"
        f_fake, f_real = fake.features.float(), real.features.float()
    if kid:
        from torch_fidelity.metric_kid import (
            KEY_METRIC_KID_MEAN,
            KEY_METRIC_KID_STD,
            kid_features_to_metric,
        )

        size = min(1000, len(f_fake), len(f_real))
        out = kid_features_to_metric(f_fake, f_real, kid_subset_size=size, verbose=False)
        result.kid, result.kid_std = out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]
    if prc:
        from torch_fidelity.metric_prc import prc_features_to_metric

        if min(len(f_fake), len(f_real)) < 5:
            raise UserError("precision / recall need at least 5 generated and 5 real samples")
        out = prc_features_to_metric(f_fake, f_real, save_cpu_ram=True, verbose=False)
        result.precision, result.recall, result.f_score = out["precision"], out["recall"], out["f_score"]
    return result

