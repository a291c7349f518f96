"""`maskaae train` without the CLI: build data, model, Trainer; fit; write the run folder."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger

from maskaae_cli.callbacks import FrechetEvaluation, MaskHistory
from maskaae_cli.checkpoint import FINAL_CHECKPOINT
from maskaae_cli.config import Config
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.hot_path import CheapCudaCheck
from maskaae_cli.metrics.frechet import frechet_distance
from maskaae_cli.model import MaskAAE
from maskaae_cli.run_dir import prepare_run_dir, write_json, write_run_record
from maskaae_cli.sampling import generate

# Redraws of the progress display per second. Lightning's default (100) redraws on a background
# thread after nearly every iteration: 5-10% of the synthetic default's training time.
PROGRESS_REFRESH_PER_SECOND = 4


def _quiet_lightning() -> None:
    """Drop Lightning messages that do not apply to maskaae runs (they drown the progress display)."""
    for pattern in (".*exists and is not empty.*", ".*LeafSpec.*", ".*does not have many workers.*",
                    ".*manual optimization and every_n_train_steps.*"):
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "litlogger" not in record.getMessage())


def build(cfg: Config) -> tuple[MaskAAEDataModule, MaskAAE]:
    """The data module (set up) and a freshly initialised model for ``cfg``."""
    dm = MaskAAEDataModule(cfg.data, cfg.optim.batch_size, cfg.optim.n_critic, cfg.train.max_steps)
    dm.setup()
    return dm, build_model(cfg, dm)


def build_model(cfg: Config, dm: MaskAAEDataModule) -> MaskAAE:
    """A freshly initialised model for ``cfg`` and the data of ``dm``; compiled if ``train.compile``."""
    model = MaskAAE(cfg.to_dict(), dm.data_shape, dm.is_image)
    if cfg.train.compile:
        model.compile_nets()
    return model


def build_callbacks(cfg: Config, dm: MaskAAEDataModule, run_dir: Path) -> list[L.Callback]:
    """The run's own callbacks: the mask history, and the Frechet evaluation on vector data."""
    t = cfg.train
    every = max(1, min(t.log_every, t.max_steps // 200 or 1))
    callbacks: list[L.Callback] = [MaskHistory(run_dir, every=every)]
    if not dm.is_image:
        callbacks.append(FrechetEvaluation(dm.val_data, min(t.eval_samples, len(dm.val_data))))
    return callbacks


def make_trainer(cfg: Config, model: MaskAAE, run_dir: Path, callbacks: list[L.Callback]) -> L.Trainer:
    t = cfg.train
    k = model.opt_steps_per_iter
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", every_n_train_steps=t.ckpt_every * k,
                           save_last=True, save_top_k=0)
    if t.progress:
        callbacks = [*callbacks, RichProgressBar(refresh_rate=PROGRESS_REFRESH_PER_SECOND, leave=True)]
    return L.Trainer(
        max_steps=t.max_steps * k,  # Lightning counts each of the k optimiser steps
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, logger=CSVLogger(run_dir, name="", version=""),
        callbacks=[ckpt, CheapCudaCheck(), *callbacks], val_check_interval=min(t.eval_every, t.max_steps),
        check_val_every_n_epoch=None, num_sanity_val_steps=0, log_every_n_steps=t.log_every,
        enable_progress_bar=t.progress, enable_model_summary=False, default_root_dir=run_dir,
    )


def train(cfg: Config) -> dict[str, Any]:
    """Train one model as ``cfg`` says and return its summary (also written to summary.json)."""
    cfg.validate()
    _quiet_lightning()
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    L.seed_everything(t.seed, workers=True, verbose=False)
    dm, model = build(cfg)  # before touching --out: a data error must leave no half-made run folder
    run_dir = prepare_run_dir(t.out, t.overwrite)
    write_run_record(run_dir, cfg.to_dict())

    trainer = make_trainer(cfg, model, run_dir, build_callbacks(cfg, dm, run_dir))

    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    wall = time.perf_counter() - start
    trainer.save_checkpoint(run_dir / FINAL_CHECKPOINT)
    return write_summary(cfg, model, dm, run_dir, wall)


@torch.no_grad()
def write_summary(cfg: Config, model: MaskAAE, dm: MaskAAEDataModule, run_dir: Path,
                  wall: float) -> dict[str, Any]:
    """summary.json: the mask, the final metric and the bookkeeping a script needs."""
    model.eval()
    alpha = model.mask.alpha.detach().cpu()
    summary: dict[str, Any] = {
        "model": cfg.model.model, "dataset": cfg.data.dataset, "m": cfg.model.m,
        "steps": model.iteration, "seed": cfg.train.seed,
        "active_dims": model.mask.active_dims(), "alpha": [round(float(a), 6) for a in alpha],
        "wall_seconds": round(wall, 2), "steps_per_second": round(model.iteration / wall, 2),
    }
    if not dm.is_image:
        test = dm.test_data  # the same draws as `maskaae fid RUN --seed SEED`
        fake = generate(model, min(cfg.train.eval_samples, 10_000), seed=cfg.train.seed,
                        device=model.device).flatten(1)
        summary["frechet_distance"] = frechet_distance(fake, test)
        summary["frechet_against"] = f"test split ({len(test)} vectors, {len(fake)} generated)"
    summary["test_reconstruction"] = float(sum(
        torch.nn.functional.mse_loss(model.reconstruct(x.to(model.device)), x.to(model.device),
                                     reduction="sum") for x in dm.test_dataloader())
        / dm.test_data.numel())
    write_json(run_dir / "summary.json", summary)
    return summary
