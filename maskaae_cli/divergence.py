"""Stop a diverging run: a non-finite loss, mask or parameter ends training with one clear line.

The check costs one host-device sync and is made only where the state is about to be read:
on logging, evaluation and checkpoint iterations, at the last iteration and before a signal's
checkpoint. So no checkpoint, evaluation or summary ever sees a non-finite model, and
``checkpoints/last.ckpt`` keeps the last finite state.
"""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch

from maskaae_cli.errors import TrainingDiverged

__all__ = ["DivergenceGuard", "TrainingDiverged", "check_finite", "first_non_finite"]


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


class DivergenceGuard(L.Callback):
    """Checks for divergence on the iterations where the state is read (see the module docstring)."""

    def __init__(self, log_every: int, eval_every: int, ckpt_every: int, max_steps: int) -> None:
        self.periods = (log_every, eval_every, ckpt_every)
        self.max_steps = max_steps
        self.last_finite: int | None = None

    def due(self, iteration: int) -> bool:
        return iteration >= self.max_steps or any(iteration % p == 0 for p in self.periods)

    def check(self, trainer: L.Trainer, module: L.LightningModule, iteration: int) -> None:
        """Raise :class:`TrainingDiverged` on every process when any one of them sees a non-finite value."""
        try:
            check_finite(module, iteration, self.last_finite)
            error = None
        except TrainingDiverged as exc:
            error = exc
        if trainer.world_size > 1:  # the processes stop together, or the others would hang
            flag = torch.tensor(float(error is not None), device=module.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            if error is None and flag.item() > 0:
                error = TrainingDiverged(iteration, "a value on another process", self.last_finite)
        if error is not None:
            raise error
        self.last_finite = iteration

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        iteration = module.iteration  # type: ignore[attr-defined]
        if self.due(iteration):
            self.check(trainer, module, iteration)
