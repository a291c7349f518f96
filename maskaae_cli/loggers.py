"""Experiment loggers: CSV always; TensorBoard or W&B on request (what they get beyond the losses:
:mod:`maskaae_cli.callbacks.dashboard`).

Every run writes ``metrics.csv``; ``--logger tensorboard`` adds event files under
``tensorboard/`` and ``--logger wandb`` a W&B run (``WANDB_MODE=offline`` needs no account)
whose id is kept in ``logger.json`` so that ``--resume`` continues the same W&B run.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only

from maskaae_cli.atomic_io import atomic_write_text, write_json
from maskaae_cli.config import Config
from maskaae_cli.lightning_seam import ContinuingWriter, csv_experiment
from maskaae_cli.run_files import LOGGER_RECORD, TENSORBOARD_DIR
from maskaae_cli.run_folder import read_record


class _KeepingWriter(ContinuingWriter):
    """Lightning's CSV writer, except that an existing metrics.csv is continued, not deleted.

    Rows logged at or after ``resume_step`` (written after the checkpoint a run resumes
    from, and about to be logged again) are dropped; every earlier row is kept.
    """

    def __init__(self, log_dir: str, resume_step: int | None) -> None:
        self.resume_step = resume_step
        super().__init__(log_dir)

    def continue_existing(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        if self.resume_step is not None:
            rows = [r for r in rows if not r.get("step") or int(r["step"]) < self.resume_step]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())
        self.metrics_keys = sorted(header)


class KeepingCSVLogger(CSVLogger):
    """metrics.csv in the run folder itself, continued (not replaced) when a run resumes."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        # written at every logging step, so a hard kill loses no row the checkpoint covers
        super().__init__(run_dir, name="", version="", flush_logs_every_n_steps=1)
        self._resume_step = resume_step
        self._staged: tuple[int, dict[str, Any]] | None = None

    def stage(self, metrics: dict[str, Any], step: int) -> None:
        """Hold ``metrics`` for the row Lightning logs next at ``step``, so each step stays one row."""
        self._flush_staged()
        self._staged = (step, dict(metrics))

    def _flush_staged(self) -> None:
        if self._staged is not None:
            step, metrics = self._staged
            self._staged = None
            super().log_metrics(metrics, step)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._staged is not None and self._staged[0] == step:
            metrics = {**self._staged[1], **metrics}
            self._staged = None
        self._flush_staged()  # held for a step that Lightning did not log: a row of its own
        super().log_metrics(metrics, step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self._flush_staged()
        super().finalize(status)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        return csv_experiment(self, lambda: _KeepingWriter(self.log_dir, self._resume_step))


def build_loggers(cfg: Config, run_dir: Path, resume_step: int | None = None,
                  wandb_id: str | None = None) -> list[Logger]:
    """The run's loggers. ``resume_step``: the iteration a resumed run continues from."""
    t = cfg.train
    loggers: list[Logger] = [KeepingCSVLogger(run_dir, resume_step)]
    tags = [tag.strip() for tag in t.tags.split(",") if tag.strip()]
    name = t.run_name or run_dir.resolve().name
    if t.logger == "tensorboard":
        loggers.append(TensorBoardLogger(run_dir, name=TENSORBOARD_DIR, version="", default_hp_metric=False,
                                         purge_step=resume_step))
    elif t.logger == "wandb":
        loggers.append(WandbLogger(project=t.wandb_project or "maskaae", entity=t.wandb_entity, name=name,
                                   tags=tags or None, id=wandb_id, resume="allow", save_dir=str(run_dir)))
    return loggers


def new_wandb_id() -> str:
    """A fresh W&B run id (8 lowercase hex characters, as W&B's own ids)."""
    return secrets.token_hex(4)


def read_logger_record(run_dir: Path) -> dict[str, Any]:
    return read_record(run_dir / LOGGER_RECORD)


def write_logger_record(run_dir: Path, cfg: Config, wandb_id: str | None) -> None:
    """logger.json: which logger the run uses and, for W&B, the run id that --resume continues."""
    record: dict[str, Any] = {"logger": cfg.train.logger}
    if wandb_id:
        record |= {"wandb_id": wandb_id, "wandb_project": cfg.train.wandb_project or "maskaae",
                   "wandb_entity": cfg.train.wandb_entity,
                   "wandb_mode": os.environ.get("WANDB_MODE", "online")}
    write_json(run_dir / LOGGER_RECORD, record)
