"""What a feature extractor returns is checked before any statistic is made of it.

A user's extractor (``--features FILE``, ``--eval-features FILE``) or a damaged weights file can
return NaN or infinite features, one feature per image, or a width that changes between batches.
Each is one line naming the option and what to fix, not a LinAlgError or an AssertionError later.
Non-finite features of non-finite input (a diverged model's samples) pass: the caller reports those.
"""

from __future__ import annotations

import torch

from maskaae_cli.errors import UserError


def check_features(features: torch.Tensor, batch: torch.Tensor, label: str, width: int | None = None) -> int:
    """Raise :class:`UserError` unless ``features`` is (len(batch), D), D > 1 (and ``width`` when given),
    finite wherever ``batch`` is; returns D."""
    n = len(batch)
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != n:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise UserError(f"{label} returned {shape} for {n} images: it must return one feature vector per "
                        f"image, shape ({n}, D)")
    d = int(features.shape[1])
    if d < 2:
        raise UserError(f"{label} returns {d} feature per image: a Frechet distance needs at least 2; use "
                        "an extractor with more outputs")
    if width is not None and d != width:
        raise UserError(f"{label} returned {d} features per image after {width} before: it must return the "
                        "same number for every batch")
    if not bool(torch.isfinite(features).all()) and bool(torch.isfinite(batch.float()).all()):
        raise UserError(f"{label} returned NaN or infinite features for finite images: fix the extractor "
                        "(or its weights file)")
    return d


class CheckedFeatures:
    """A feature space whose every output goes through :func:`check_features` (same ``name``)."""

    def __init__(self, space: object, label: str) -> None:
        self.space = space
        self.label = label
        self.name: str = space.name  # type: ignore[attr-defined]
        self.weights: str = getattr(space, "weights", "")  # what describe() records of the weights
        self.weights_sha256: str = getattr(space, "weights_sha256", "")
        self.width: int | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        out = self.space(batch)  # type: ignore[operator]
        self.width = check_features(out, batch, self.label, self.width)
        return out

    def compile_cpu(self, height: int, width: int) -> str | None:
        """The wrapped space's CPU compile (Inception's: ``FidelityFeatures.compile_cpu``)."""
        return self.space.compile_cpu(height, width)  # type: ignore[attr-defined]
