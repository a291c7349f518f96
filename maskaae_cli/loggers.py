"""Experiment loggers (CSV always; TensorBoard or W&B on request) and what maskaae logs to them.

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

import lightning as L
import numpy as np
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only

from maskaae_cli.atomic_io import atomic_write_text, write_json
from maskaae_cli.config import Config
from maskaae_cli.lightning_seam import ContinuingWriter, csv_experiment
from maskaae_cli.model import MaskAAE
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


class DashboardLogging(L.Callback):
    """Per-dimension curves ``alpha/00``.. (one W&B / TensorBoard section), every learning rate,
    and every ``image_every`` iterations a mask heatmap (dimensions x iterations) and, for
    image data, a grid of samples and the latent traversal of the active dimensions."""

    def __init__(self, log_every: int, image_every: int, history: Any) -> None:
        self.log_every = log_every
        self.image_every = image_every
        self.history = history  # the MaskHistory callback: its recorded alphas make the heatmap

    def on_train_batch_end(self, trainer: L.Trainer, module: MaskAAE, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = module.iteration
        if step % self.log_every == 0:
            alpha = module.mask.alpha.detach().float().cpu()
            width = max(2, len(str(len(alpha) - 1)))
            logs = {f"alpha/{j:0{width}d}": float(a) for j, a in enumerate(alpha)}
            names = ("ae", "critic", "gen", "mask")[: len(module.optimizers())]  # wae: no mask
            logs |= {f"lr/{n}": opt.param_groups[0]["lr"]
                     for n, opt in zip(names, module.optimizers(), strict=True)}
            # Straight to the loggers at Lightning's logging step (metrics.csv merges them into
            # that step's row): module.log_dict costs a device move per key and call, which for
            # m alphas shows in the throughput of the small nets (benchmarks/throughput.py).
            for logger in trainer.loggers:
                if isinstance(logger, KeepingCSVLogger):
                    logger.stage(logs, step - 1)
                else:
                    logger.log_metrics(logs, step=step - 1)
        if step % self.image_every == 0 and trainer.is_global_zero:
            self.log_images(trainer, module, step - 1)  # Lightning's logging step: the 0-based batch

    def log_images(self, trainer: L.Trainer, module: MaskAAE, step: int) -> None:
        from maskaae_cli.plots import mask_heatmap_image

        images: dict[str, np.ndarray] = {}
        if len(self.history.steps) > 1:
            images["mask/heatmap"] = mask_heatmap_image(np.asarray(self.history.steps),
                                                        np.stack(self.history.alphas))
        if module.is_image:
            images["samples"] = sample_grid(module)
            if bool(module.mask.active_mask().any()):
                images["traverse"] = traversal_grid(module)
        for logger in trainer.loggers:
            for key, image in images.items():
                log_image(logger, key, image, step)


@torch.no_grad()
def sample_grid(module: MaskAAE, n: int = 64) -> np.ndarray:
    """An HxWx3 uint8 grid of ``n`` samples (the same prior draws every time)."""
    from torchvision.utils import make_grid

    was_training = module.training
    module.eval()
    g = torch.Generator(device=module.device).manual_seed(0)
    images = module.sample(n, generator=g).float().clamp(0, 1).cpu()
    module.train(was_training)
    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(n))), padding=2)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def traversal_grid(module: MaskAAE) -> np.ndarray:
    """The labelled latent traversal of the active dimensions ('maskaae traverse' with its defaults:
    base zero, 9 values from -3 to 3), as an HxWx3 uint8 array."""
    from maskaae_cli import traverse
    from maskaae_cli.traverse_plot import image_grid

    alpha, active = module.mask.alpha.detach().cpu(), module.mask.active_mask().cpu()
    dims = traverse.choose_dims("active", alpha, active)
    values = traverse.sweep_values(traverse.DEFAULT_STEPS, traverse.DEFAULT_RANGE)
    return image_grid(traverse.traverse(module, dims, values, traverse.base_code(module, "zero", 0), "zero"))


def log_image(logger: Logger, key: str, image: np.ndarray, step: int) -> None:
    """One HxWx3 uint8 image to W&B or TensorBoard; the CSV logger keeps no images."""
    if isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[image], step=step)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, step, dataformats="HWC")
