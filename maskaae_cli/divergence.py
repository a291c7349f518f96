"""Find a non-finite loss, mask or parameter: the check a diverging run stops on with one clear line
(when it is made: :mod:`maskaae_cli.callbacks.divergence_guard`)."""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch

from maskaae_cli.errors import TrainingDiverged

__all__ = ["TrainingDiverged", "check_finite", "first_non_finite"]


def first_non_finite(named: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor holding a NaN or an infinity (one sync when all are finite)."""
    items = [(name, t) for name, t in named if t.is_floating_point()]
    if not items:
        return None
    flags = torch.stack([torch.isfinite(t).all() for _, t in items])
    if bool(flags.all()):
        return None
    return next(name for (name, _), ok in zip(items, flags.tolist(), strict=True) if not ok)


def check_finite(module: L.LightningModule, iteration: int, last_finite: int | None = None) -> None:
    """Raise :class:`TrainingDiverged` if the last losses, the mask or any parameter is not finite."""
    losses = getattr(module, "last_losses", None) or {}
    named = [*((f"the loss term {k}", v) for k, v in losses.items() if isinstance(v, torch.Tensor)),
             *((f"the parameter {n}", p) for n, p in module.named_parameters())]
    bad = first_non_finite(named)
    if bad is not None:
        raise TrainingDiverged(iteration, bad, last_finite)
