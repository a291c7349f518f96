"""Intrinsic-dimension estimators (scikit-dimension): MLE at several k and TwoNN, on one sample of data.

One exact nearest-neighbour search (scikit-learn, k = the largest k asked for) serves every
estimator: MLE (Levina & Bickel, MacKay & Ghahramani's pooling; skdim's default ``comb="mle"``) reads
the first k distances of each point, TwoNN (Facco et al. 2017; skdim's default linear fit with the 10%
largest ratios discarded) the first two. Exact duplicates are dropped first: a zero distance makes both
estimators undefined. An auto-encoder's count of latent dimensions need not equal these estimates;
they are reported beside it, not instead of it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from maskaae_cli.errors import UserError

MIN_K = 2  # MLE with k = 1 divides 0 by 0


@dataclass(frozen=True)
class Estimate:
    """One estimator's figure: ``estimator`` is "mle" (with its ``k``) or "twonn" (k None)."""

    estimator: str
    k: int | None
    dimension: float

    @property
    def label(self) -> str:
        return f"MLE k={self.k}" if self.estimator == "mle" else "TwoNN"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Estimates:
    """Every estimate on one sample, with what the sample was."""

    estimates: list[Estimate]
    n: int  # points given
    n_used: int  # after dropping exact duplicates
    features: int

    def to_dict(self) -> dict:
        return {"n": self.n, "n_used": self.n_used, "duplicates_dropped": self.n - self.n_used,
                "features": self.features, "estimates": [e.to_dict() for e in self.estimates]}


def parse_ks(text: str) -> list[int]:
    """``"5,10,20"`` -> [5, 10, 20]: distinct whole numbers of at least 2, in the order given."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--k {text!r}: give whole numbers separated by commas, such as 5,10,20") from None
    if not ks:
        raise UserError("--k is empty: give neighbour counts such as 5,10,20")
    if any(k < MIN_K for k in ks):
        raise UserError(f"--k {text}: each k must be at least {MIN_K} (MLE needs two neighbours)")
    if len(set(ks)) != len(ks):
        raise UserError(f"--k {text}: a k is repeated")
    return ks


def check_sizes(n: int, ks: Sequence[int], available: int) -> None:
    """Refuse ``n`` larger than the data, fewer than 3 points, or a k that is not below n."""
    if n > available:
        raise UserError(f"-n {n}: the data has only {available} samples; use -n {available} or less")
    if n < 3:
        raise UserError(f"-n {n}: the estimators need at least 3 samples")
    if max(ks) >= n:
        raise UserError(f"--k {max(ks)} with -n {n}: every k must be smaller than n")


def subsample(data: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows of ``data`` drawn without replacement (fixed by ``seed``), flattened to float64."""
    rows = np.random.default_rng(seed).permutation(len(data))[:n]
    return np.asarray(data[np.sort(rows)], dtype=np.float64).reshape(n, -1)


def estimate(x: np.ndarray, ks: Sequence[int], progress: Callable[[int], None] | None = None) -> Estimates:
    """MLE at each k and TwoNN on the rows of ``x`` (n, D). ``progress`` is told of each finished step
    (the neighbour search, then each estimator: ``len(ks) + 2`` in all)."""
    import skdim  # (numba and scikit-learn: seconds to import)
    from sklearn.neighbors import NearestNeighbors

    n = len(x)
    unique = np.unique(x, axis=0)
    if max(ks) >= len(unique):
        raise UserError(f"--k {max(ks)}: only {len(unique)} of the {n} samples are distinct; every k "
                        "must be smaller than that")
    dists, idx = NearestNeighbors(n_neighbors=max(ks)).fit(unique).kneighbors(return_distance=True)
    tick = progress or (lambda k: None)
    tick(1)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in ks:
            mle = skdim.id.MLE().fit(unique, precomputed_knn_arrays=(dists[:, :k], idx[:, :k]))
            out.append(Estimate("mle", k, float(mle.dimension_)))
            tick(1)
        two = skdim.id.TwoNN(dist=True).fit(dists[:, :2])
        out.append(Estimate("twonn", None, float(two.dimension_)))
        tick(1)
    return Estimates(out, n, len(unique), x.shape[1])
