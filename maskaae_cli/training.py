"""`maskaae train` without the CLI: build data, model, Trainer; fit; write the run folder."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger, WandbLogger

from maskaae_cli.atomic_io import AtomicCheckpointIO
from maskaae_cli.callbacks import FrechetEvaluation, MaskHistory
from maskaae_cli.checkpoint import FINAL_CHECKPOINT
from maskaae_cli.config import Config
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.distributed import RankAgreement, hardware_kwargs
from maskaae_cli.errors import UserError
from maskaae_cli.hot_path import CheapCudaCheck
from maskaae_cli.loggers import (
    DashboardLogging,
    build_loggers,
    new_wandb_id,
    read_logger_record,
    write_logger_record,
)
from maskaae_cli.metrics.frechet import frechet_distance
from maskaae_cli.model import MaskAAE
from maskaae_cli.progress import TrainingProgress
from maskaae_cli.resume import LAST_CHECKPOINT, ResumePoint, prepare_resumed_run_dir
from maskaae_cli.run_dir import prepare_run_dir, write_json, write_run_record
from maskaae_cli.sampling import generate
from maskaae_cli.signals import GracefulStop


def _quiet_lightning() -> None:
    """Drop Lightning messages that do not apply to maskaae runs (they drown the progress display)."""
    for pattern in (".*exists and is not empty.*", ".*LeafSpec.*", ".*does not have many workers.*",
                    ".*manual optimization and every_n_train_steps.*",
                    ".*when logging on epoch level in distributed setting.*",  # ranks validate alike
                    ".*Checkpoint directory .* exists and is not empty.*", ".*all_gather is deprecated.*",
                    # a resumed run draws fresh batches (notes: the data order is not replayed)
                    ".*your dataloader is not resumable.*",
                    ".*smaller than the logging interval.*"):  # counts optimiser steps, not iterations
        warnings.filterwarnings("ignore", message=pattern)
    # "`Trainer.fit` stopped: `max_steps=2400` reached" counts optimiser steps, not iterations.
    noise = ("litlogger", "`Trainer.fit` stopped")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: not any(n in record.getMessage() for n in noise))


def build(cfg: Config) -> tuple[MaskAAEDataModule, MaskAAE]:
    """The data module (set up) and a freshly initialised model for ``cfg``."""
    dm = MaskAAEDataModule(cfg.data, cfg.optim.batch_size, cfg.optim.n_critic, cfg.train.max_steps,
                           seed=cfg.train.seed)
    dm.setup()
    return dm, build_model(cfg, dm)


def build_model(cfg: Config, dm: MaskAAEDataModule) -> MaskAAE:
    """A freshly initialised model for ``cfg`` and the data of ``dm``; compiled if ``train.compile``."""
    model = MaskAAE(cfg.to_dict(), dm.data_shape, dm.is_image)
    if cfg.train.compile:
        model.compile_nets()
    return model


def build_callbacks(cfg: Config, dm: MaskAAEDataModule, run_dir: Path) -> list[L.Callback]:
    """The run's own callbacks: mask history, dashboards, graceful stop, rank agreement, evaluation."""
    t = cfg.train
    history = MaskHistory(run_dir, every=max(1, min(t.log_every, t.max_steps // 200 or 1)))
    callbacks: list[L.Callback] = [history, DashboardLogging(t.log_every, t.eval_every, history),
                                   GracefulStop(run_dir / LAST_CHECKPOINT), RankAgreement()]
    if not dm.is_image:
        callbacks.append(FrechetEvaluation(dm.val_data, min(t.eval_samples, len(dm.val_data))))
    return callbacks


def make_trainer(cfg: Config, model: MaskAAE, run_dir: Path, callbacks: list[L.Callback],
                 loggers: list[Logger] | None = None) -> L.Trainer:
    """The Trainer; touches no file, so that every rank can build one before rank 0 makes the folder."""
    t = cfg.train
    k = model.opt_steps_per_iter
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", every_n_train_steps=t.ckpt_every * k,
                           save_last=True, save_top_k=0)
    if t.progress:
        callbacks = [*callbacks, TrainingProgress(t.log_every)]
    try:
        return L.Trainer(
            max_steps=t.max_steps * k,  # Lightning counts each of the k optimiser steps
            **hardware_kwargs(t), logger=loggers if loggers is not None else build_loggers(cfg, run_dir),
            plugins=[AtomicCheckpointIO()], use_distributed_sampler=False,  # the data module shards
            callbacks=[ckpt, CheapCudaCheck(), *callbacks], val_check_interval=min(t.eval_every, t.max_steps),
            check_val_every_n_epoch=None, num_sanity_val_steps=0, log_every_n_steps=t.log_every,
            enable_progress_bar=t.progress, enable_model_summary=False, default_root_dir=run_dir,
        )
    except (MisconfigurationException, ValueError, RuntimeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"the hardware options do not work here: {first} (check --accelerator, "
                        "--devices/--gpus, --num-nodes, --strategy and --precision)") from exc


def train(cfg: Config, resume: ResumePoint | None = None,
          extra_callbacks: Sequence[L.Callback] = ()) -> dict[str, Any] | None:
    """Train one model as ``cfg`` says (or continue ``resume``); return its summary.

    Under DDP every process runs this; only global rank 0 writes the run folder (the
    loggers and checkpoints are rank-0 only too) and returns the summary, the others None.
    A SIGINT / SIGTERM raises :class:`maskaae_cli.signals.TrainingInterrupted` after saving
    ``checkpoints/last.ckpt`` (no model.ckpt or summary.json: the run is not finished).
    """
    cfg.validate()
    _quiet_lightning()
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    L.seed_everything(t.seed, workers=True, verbose=False)
    dm, model = build(cfg)  # before touching --out: a data error must leave no half-made run folder
    run_dir = Path(t.out)
    wandb_id = read_logger_record(run_dir).get("wandb_id") if resume else None
    if t.logger == "wandb" and wandb_id is None:
        wandb_id = new_wandb_id()

    callbacks = [*build_callbacks(cfg, dm, run_dir), *extra_callbacks]
    agreement = next(c for c in callbacks if isinstance(c, RankAgreement))
    loggers = build_loggers(cfg, run_dir, resume.iteration if resume else None, wandb_id)
    trainer = make_trainer(cfg, model, run_dir, callbacks, loggers)
    if trainer.is_global_zero:
        if resume is None:
            prepare_run_dir(run_dir, t.overwrite)
            write_run_record(run_dir, cfg.to_dict())
        else:
            prepare_resumed_run_dir(resume)
        write_logger_record(run_dir, cfg, wandb_id)

    start = time.perf_counter()
    try:
        trainer.fit(model, datamodule=dm, ckpt_path=resume.checkpoint if resume else None,
                    weights_only=True)
    finally:
        _finish_wandb(trainer)
    wall = time.perf_counter() - start
    trainer.save_checkpoint(run_dir / FINAL_CHECKPOINT, weights_only=False)  # the full state
    if not trainer.is_global_zero:
        return None
    extra = {"devices": trainer.world_size, "global_batch_size": cfg.optim.batch_size * trainer.world_size,
             "precision": t.precision}
    if trainer.world_size > 1:
        extra["ranks_max_abs_parameter_difference"] = agreement.max_abs_diff
    if resume is not None:
        extra["resumed_from_iteration"] = resume.iteration
    first = resume.iteration if resume else 0
    return write_summary(cfg, model, dm, run_dir, wall, extra, first_iteration=first)


def _finish_wandb(trainer: L.Trainer) -> None:
    """Close the W&B run (rank 0), so a later run in this process starts its own."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero and logger._experiment is not None:
            logger.experiment.finish()


@torch.no_grad()
def write_summary(cfg: Config, model: MaskAAE, dm: MaskAAEDataModule, run_dir: Path,
                  wall: float, extra: dict[str, Any] | None = None,
                  first_iteration: int = 0) -> dict[str, Any]:
    """summary.json: the mask, the final metric and the bookkeeping a script needs."""
    model.eval()
    alpha = model.mask.alpha.detach().cpu()
    trained = model.iteration - first_iteration  # this process's share (a resumed run's last leg)
    summary: dict[str, Any] = {
        "model": cfg.model.model, "dataset": cfg.data.dataset, "m": cfg.model.m,
        "steps": model.iteration, "seed": cfg.train.seed,
        "active_dims": model.mask.active_dims(), "alpha": [round(float(a), 6) for a in alpha],
        "wall_seconds": round(wall, 2), "steps_per_second": round(trained / wall, 2),
        **(extra or {}),
    }
    if not dm.is_image:
        test = dm.test_data  # the same draws as `maskaae fid RUN --seed SEED`
        fake = generate(model, min(cfg.train.eval_samples, 10_000), seed=cfg.train.seed,
                        device=model.device).flatten(1)
        summary["frechet_distance"] = frechet_distance(fake, test)
        if model.ema is not None:  # the last weights' figure beside the moving average's
            summary["ema_decay"] = cfg.optim.ema_decay_for(cfg.train.max_steps)
            raw = generate(model, len(fake), seed=cfg.train.seed, device=model.device, averaged=False)
            summary["frechet_distance_raw"] = frechet_distance(raw.flatten(1), test)
        summary["frechet_against"] = f"test split ({len(test)} vectors, {len(fake)} generated)"
    summary["test_reconstruction"] = float(sum(
        torch.nn.functional.mse_loss(model.reconstruct(x.to(model.device)), x.to(model.device),
                                     reduction="sum") for x in dm.test_dataloader())
        / dm.test_data.numel())
    write_json(run_dir / "summary.json", summary)
    return summary
