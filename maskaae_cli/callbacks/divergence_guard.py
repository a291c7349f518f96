"""Stop a diverging run: a non-finite loss, mask or parameter ends training with one clear line.

The check costs one host-device sync and is made only where the state is about to be read:
on logging, evaluation and checkpoint iterations, at the last iteration and before a signal's
checkpoint. So no checkpoint, evaluation or summary ever sees a non-finite model, and
``checkpoints/last.ckpt`` keeps the last finite state.
"""

from __future__ import annotations

import lightning as L
import torch

from maskaae_cli.divergence import check_finite
from maskaae_cli.errors import TrainingDiverged


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
