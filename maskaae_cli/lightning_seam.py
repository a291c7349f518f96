"""Every use of Lightning's private API, in one place.

maskaae reaches past Lightning's public API in five spots, each for speed or for a behaviour the
public API lacks; all of them are here, so a Lightning upgrade is checked in one file
(pyproject.toml allows the minor release they were tested against; tests/test_lightning_seam.py
exercises each one):

- counting an optimiser step in ``global_step`` without Lightning's strategy and precision layers
  (the hot path of a single-device 32-bit run, and steps taken inside a CUDA graph);
- whether a LightningModule is attached to a Trainer (``trainer`` raises when it is not);
- whether a W&B logger has started its run (``experiment`` would start one);
- a CSV writer that continues an existing metrics.csv instead of deleting it (``--resume``);
- a progress bar that counts iterations and updates without re-reading the metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


def count_step(opt: LightningOptimizer, step: Callable[[], Any] | None = None) -> None:
    """Run ``step`` (None: nothing, the step already happened elsewhere) between the manual
    optimisation loop's own before/after hooks, so ``global_step`` and the profiler count it."""
    opt._on_before_step()
    if step is not None:
        step()
    opt._on_after_step()


def attached_trainer(module: L.LightningModule) -> L.Trainer | None:
    """The Trainer ``module`` is attached to, or None (outside a fit, in tests)."""
    return module._trainer


def wandb_run_started(logger: WandbLogger) -> bool:
    """Whether ``logger`` has started its W&B run (reading ``logger.experiment`` would start one)."""
    return logger._experiment is not None


class ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer with its 'delete an existing metrics.csv' step replaced by
    :meth:`continue_existing`."""

    def continue_existing(self) -> None:
        raise NotImplementedError

    def _check_log_dir_exists(self) -> None:
        self.continue_existing()


def csv_experiment(logger: CSVLogger, make_writer: Callable[[], ExperimentWriter]) -> ExperimentWriter:
    """``logger``'s writer, made with ``make_writer`` on first use (in place of Lightning's own)."""
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = make_writer()
    return logger._experiment


class IterationProgressBar(RichProgressBar):
    """Lightning's rich progress bar with a fixed label and an update that skips the metrics."""

    label = "train"

    def _get_train_description(self, current_epoch: int) -> str:
        return f"{self.label:{len(self.validation_description)}}"

    @property
    def has_train_bar(self) -> bool:
        return self.train_progress_bar_id is not None

    def advance_to(self, completed: int) -> None:
        """Move the training bar to ``completed`` batches and redraw, reading no metric."""
        self._update(self.train_progress_bar_id, completed)
        self.refresh()
