"""The live progress display of `maskaae train`: Lightning's rich bar, counting iterations."""

from __future__ import annotations

from typing import Any

import lightning as L

from maskaae_cli.lightning_seam import IterationProgressBar

# Redraws per second. Lightning's default (100) redraws on a background thread after nearly
# every iteration: 5-10% of the synthetic default's training time.
REFRESH_PER_SECOND = 4


class TrainingProgress(IterationProgressBar):
    """Rich progress bar that re-reads the displayed metrics only when they change.

    The module puts its metrics on the bar every ``log_every`` iterations, so reading the
    trainer's metrics after every other iteration (about 1.5% of a small net's time) only
    redraws the same numbers. The bar is labelled "train" rather than with Lightning's epoch
    count (one epoch spans a maskaae run).
    """

    def __init__(self, log_every: int) -> None:
        super().__init__(refresh_rate=REFRESH_PER_SECOND, leave=True)
        self.log_every = max(1, log_every)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        iteration = getattr(pl_module, "iteration", batch_idx + 1)
        if not self.has_train_bar or iteration % self.log_every == 0:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        self.advance_to(batch_idx + 1)
