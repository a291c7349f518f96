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
from lightning.pytorch.utilities import rank_zero_only
from rich.console import Console

from maskaae_cli.callbacks import (
    CheapCudaCheck,
    CommitReplace,
    DashboardLogging,
    DivergenceGuard,
    FrechetEvaluation,
    GracefulStop,
    MaskHistory,
    RankAgreement,
    TrainingProgress,
)
from maskaae_cli.checkpoint_io import AtomicCheckpointIO
from maskaae_cli.config import Config
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.distributed import hardware_kwargs
from maskaae_cli.errors import Terminated, UserError
from maskaae_cli.graph_policy import configure_cuda_graphs
from maskaae_cli.lightning_seam import wandb_run_started
from maskaae_cli.limits import check_step_memory
from maskaae_cli.loggers import build_loggers, new_wandb_id, read_logger_record, write_logger_record
from maskaae_cli.metrics.features import FeatureSpace, describe, eval_feature_space
from maskaae_cli.metrics.fid import compare, compute_real, summarise
from maskaae_cli.metrics.frechet import frechet_distance
from maskaae_cli.model import MaskAAE
from maskaae_cli.presets import runs_on_gpu
from maskaae_cli.resume import ResumePoint, prepare_resumed_run_dir
from maskaae_cli.run_dir import (
    PreparedRunDir,
    check_out_dir,
    check_out_outside_data,
    prepare_run_dir,
    write_json,
    write_run_record,
)
from maskaae_cli.run_files import CHECKPOINT_DIR, FINAL_CHECKPOINT, LAST_CHECKPOINT, SUMMARY
from maskaae_cli.run_lock import RunLock
from maskaae_cli.sampling import generate, sample_batches
from maskaae_cli.threads import ThreadChoice, forward_work, use_threads

_console = Console(stderr=True, markup=False)
FID_BATCH = 500  # `maskaae fid`'s default --batch-size: the summary's figure is the command's


def quiet_lightning() -> None:
    """Drop Lightning messages that do not apply to maskaae runs (they drown the progress display)."""
    for pattern in (".*exists and is not empty.*", ".*LeafSpec.*", ".*does not have many workers.*",
                    ".*manual optimization and every_n_train_steps.*",
                    ".*when logging on epoch level in distributed setting.*",  # ranks validate alike
                    ".*Checkpoint directory .* exists and is not empty.*", ".*all_gather is deprecated.*",
                    # a resumed run draws fresh batches (notes: the data order is not replayed)
                    ".*your dataloader is not resumable.*",
                    ".*smaller than the logging interval.*",  # counts optimiser steps, not iterations
                    ".*The `srun` command is available on your system but is not used.*"):
        warnings.filterwarnings("ignore", message=pattern)
    # "`Trainer.fit` stopped: `max_steps=2400` reached" counts optimiser steps, not iterations; the
    # accelerator banners ("GPU available: False, used: False", ...) repeat what run.json records.
    noise = ("litlogger", "`Trainer.fit` stopped")
    banners = ("GPU available:", "TPU available:", "HPU available:", "IPU available:")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: not (any(n in record.getMessage() for n in noise)
                            or record.getMessage().startswith(banners)))


def build(cfg: Config) -> tuple[MaskAAEDataModule, MaskAAE]:
    """The data module (set up) and a freshly initialised model for ``cfg``."""
    dm = MaskAAEDataModule(cfg.data, cfg.optim.batch_size, cfg.optim.n_critic, cfg.train.max_steps,
                           seed=cfg.train.seed)
    dm.setup()
    return dm, build_model(cfg, dm)


def build_model(cfg: Config, dm: MaskAAEDataModule) -> MaskAAE:
    """A freshly initialised model for ``cfg`` and the data of ``dm``; compiled if ``train.compile``."""
    model = MaskAAE(cfg, dm.data_shape, dm.is_image)
    if cfg.train.compile:
        model.compile_nets()
    return model


def build_callbacks(cfg: Config, dm: MaskAAEDataModule, run_dir: Path,
                    space: FeatureSpace | None = None) -> list[L.Callback]:
    """The run's own callbacks: mask history, dashboards, graceful stop, rank agreement, evaluation.

    ``space``: the feature space of an image run's Frechet distance (None: images get none).
    """
    t = cfg.train
    history = MaskHistory(run_dir, every=max(1, min(t.log_every, t.max_steps // 200 or 1)))
    guard = DivergenceGuard(t.log_every, t.eval_every, t.ckpt_every, t.max_steps)
    # the guard first: nothing below (nor Lightning's checkpointing, always last) sees a diverged state
    callbacks: list[L.Callback] = [guard, history, DashboardLogging(t.log_every, t.eval_every, history),
                                   GracefulStop(run_dir / LAST_CHECKPOINT, guard), RankAgreement()]
    if not dm.is_image:
        callbacks.append(FrechetEvaluation(dm.val_data, min(t.eval_samples, len(dm.val_data))))
    elif space is not None:
        callbacks.append(FrechetEvaluation(dm.val_data, t.eval_samples, space))
    return callbacks


def make_trainer(cfg: Config, model: MaskAAE, run_dir: Path, callbacks: list[L.Callback],
                 loggers: list[Logger] | None = None) -> L.Trainer:
    """The Trainer; touches no file, so that every rank can build one before rank 0 makes the folder."""
    t = cfg.train
    k = model.opt_steps_per_iter
    ckpt = ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, every_n_train_steps=t.ckpt_every * k,
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
    except (MisconfigurationException, ValueError, TypeError, RuntimeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"the hardware options do not work here: {first} (check --accelerator, "
                        "--devices/--gpus, --num-nodes, --strategy and --precision)") from exc


def train(cfg: Config, resume: ResumePoint | None = None,
          extra_callbacks: Sequence[L.Callback] = (), announce: str | None = None) -> dict[str, Any] | None:
    """Train one model as ``cfg`` says (or continue ``resume``); return its summary.

    Under DDP every process runs this; only global rank 0 writes the run folder (the
    loggers and checkpoints are rank-0 only too) and returns the summary, the others None.
    Everything that can be checked is checked before the folder is touched (the config, --out,
    the data, the feature space, W&B credentials, the hardware). A SIGINT / SIGTERM raises
    :class:`maskaae_cli.errors.TrainingInterrupted` after saving ``checkpoints/last.ckpt``, a
    non-finite value :class:`maskaae_cli.errors.TrainingDiverged` (neither writes model.ckpt
    or summary.json: the run is not finished). ``announce`` (the preset line) is printed once every
    check has passed, so bad input stays one error line; so is the line saying whether a run that
    asked for CUDA graphs (``train.cuda_graphs``) trains through them, or eagerly and why.
    """
    cfg.validate()
    quiet_lightning()
    t = cfg.train
    run_dir = Path(t.out)
    if getattr(rank_zero_only, "rank", 0) == 0:  # the process that will write the folder (DDP: rank 0)
        if resume is None:
            check_out_dir(run_dir, t.overwrite)
            check_out_outside_data(run_dir, cfg.data.dataset)
        if t.logger == "wandb":
            check_wandb_credentials()
    L.seed_everything(t.seed, workers=True, verbose=False)
    dm, model = build(cfg)  # before touching --out: a data error must leave no half-made run folder
    work = forward_work(model.encoder, model.decoder, dm.data_shape, model.latent_dim)
    # --threads or the preset's count, else never more than the free cores (maskaae_cli/threads.py)
    threads = use_threads(t.threads, work, "train.threads (--threads or the preset)")
    check_step_memory(cfg, dm.data_shape)
    space, notice = None, None
    if dm.is_image:  # a bad --eval-features file is an error before anything is written
        space, notice = eval_feature_space(t.eval_features, runs_on_gpu(t.accelerator, t.gpus))
    wandb_id = read_logger_record(run_dir).get("wandb_id") if resume else None
    if t.logger == "wandb" and wandb_id is None:
        wandb_id = new_wandb_id()

    callbacks = [*build_callbacks(cfg, dm, run_dir, space), *extra_callbacks]
    for callback in callbacks:  # the reference features: a bad extractor fails before the folder is made
        if isinstance(callback, FrechetEvaluation):
            callback.setup(None, model, "fit")  # type: ignore[arg-type]
    agreement = next(c for c in callbacks if isinstance(c, RankAgreement))
    loggers = build_loggers(cfg, run_dir, resume.iteration if resume else None, wandb_id)
    trainer = make_trainer(cfg, model, run_dir, callbacks, loggers)
    check_precision(trainer, t.precision)
    graphs_line = configure_cuda_graphs(cfg, trainer, model, dm)
    if trainer.is_global_zero:
        for line in (announce, threads.line(), *dm.notes, graphs_line, notice):
            if line:
                _console.print(line, highlight=False, soft_wrap=True)
    folder: PreparedRunDir | None = None
    try:
        folder = _take_folder(trainer, cfg, resume, wandb_id, threads)
        if folder is not None:
            trainer.callbacks.append(CommitReplace(folder))
        start = time.perf_counter()
        trainer.fit(model, datamodule=dm, ckpt_path=resume.checkpoint if resume else None,
                    weights_only=True)
        wall = time.perf_counter() - start
        trainer.save_checkpoint(run_dir / FINAL_CHECKPOINT, weights_only=False)  # the full state
        if not trainer.is_global_zero:
            return None
        extra = {"devices": trainer.world_size,
                 "global_batch_size": cfg.optim.batch_size * trainer.world_size, "precision": t.precision,
                 "cuda_graphs": model.cuda_graphs == "graph"}
        if model.graph_captures is not None:
            extra["cuda_graph_captures"] = len(model.graph_captures)
        if trainer.world_size > 1:
            extra["ranks_max_abs_parameter_difference"] = agreement.max_abs_diff
        if resume is not None:
            extra["resumed_from_iteration"] = resume.iteration
        first = resume.iteration if resume else 0
        return write_summary(cfg, model, dm, run_dir, wall, extra, first_iteration=first, space=space)
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, Terminated)) or (
            isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt))
        if folder is not None:
            _roll_back(folder, interrupted)
        if isinstance(exc, SystemExit) and interrupted:  # Lightning turns Ctrl+C into exit(1)
            raise KeyboardInterrupt from None
        raise
    finally:
        _finish_wandb(trainer)
        if folder is not None:
            folder.release()


def _take_folder(trainer: L.Trainer, cfg: Config, resume: ResumePoint | None,
                 wandb_id: str | None, threads: ThreadChoice) -> PreparedRunDir | None:
    """Rank 0: make (or reopen) and lock the run folder and write the run's record; others: None."""
    if not trainer.is_global_zero:
        return None
    run_dir = Path(cfg.train.out)
    if resume is None:
        folder = prepare_run_dir(run_dir, cfg.train.overwrite)
    else:
        folder = PreparedRunDir(run_dir, RunLock(run_dir).acquire())
    try:
        if resume is None:
            write_run_record(run_dir, cfg.to_dict(), {"recipe": cfg.train.recipe, **threads.record()})
        else:
            prepare_resumed_run_dir(resume)
        write_logger_record(run_dir, cfg, wandb_id)
    except BaseException as exc:
        _roll_back(folder, isinstance(exc, (KeyboardInterrupt, Terminated)))
        raise
    return folder


def _roll_back(folder: PreparedRunDir, interrupted: bool) -> None:
    """A run that stopped before its first iteration: put the old run back (or remove the new folder);
    on a signal say so (an error says what went wrong itself)."""
    if not folder.pending:
        return
    old = folder.replaced
    folder.rollback()
    if interrupted:
        _console.print(f"{folder.path}: stopped before the first iteration; " + (
            "the old run is back as it was" if old is not None else "no run folder was kept"),
            highlight=False, soft_wrap=True)


def check_precision(trainer: L.Trainer, asked: str) -> None:
    """Refuse a precision Lightning would quietly replace (16-mixed on a CPU becomes bf16-mixed)."""
    used = getattr(trainer.precision_plugin, "precision", asked)
    if str(used) != asked:
        device = type(trainer.accelerator).__name__.replace("Accelerator", "").upper() or "this device"
        raise UserError(f"--precision {asked} is not available on {device} (it would train in {used}): "
                        f"pass --precision {used} or 32")


def check_wandb_credentials() -> None:
    """--logger wandb needs an API key unless W&B runs offline: say so before anything is written.

    Looks where W&B itself looks first: WANDB_API_KEY, then the .netrc entry of the W&B host
    (WANDB_BASE_URL's, default api.wandb.ai; the file is $NETRC or ~/.netrc).
    """
    import netrc
    import os
    from urllib.parse import urlparse

    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return
    if os.environ.get("WANDB_API_KEY"):
        return
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    try:
        if netrc.netrc(os.environ.get("NETRC") or None).authenticators(host):
            return
    except (OSError, netrc.NetrcParseError):
        pass
    raise UserError(f"--logger wandb: no W&B credentials for {host}: run 'wandb login' (or set "
                    "WANDB_API_KEY), or set WANDB_MODE=offline to log locally and 'wandb sync' later")


def _finish_wandb(trainer: L.Trainer) -> None:
    """Close the W&B run (rank 0), so a later run in this process starts its own."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero and wandb_run_started(logger):
            logger.experiment.finish()


@torch.no_grad()
def write_summary(cfg: Config, model: MaskAAE, dm: MaskAAEDataModule, run_dir: Path,
                  wall: float, extra: dict[str, Any] | None = None,
                  first_iteration: int = 0, space: FeatureSpace | None = None) -> dict[str, Any]:
    """summary.json: the mask, the final metric and the bookkeeping a script needs.

    The Frechet distance is against the test split, from the same draws as ``maskaae fid RUN
    --seed SEED -n EVAL_SAMPLES`` (images: in ``space``, with ``--features`` naming it).
    """
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
    elif space is not None:
        n = cfg.train.eval_samples
        real = compute_real(dm.test_data, space, FID_BATCH)
        fake = summarise(space, sample_batches(model, n, cfg.train.seed, FID_BATCH, model.device))
        summary["frechet_distance"] = compare(fake, real, space.name).fid
        summary.update({f"frechet_{k}": v for k, v in describe(space).items()})
        summary["frechet_against"] = f"test split ({real.n} images, {n} generated)"
    summary["test_reconstruction"] = float(sum(
        torch.nn.functional.mse_loss(model.reconstruct(x.to(model.device)), x.to(model.device),
                                     reduction="sum") for x in dm.test_dataloader())
        / dm.test_data.numel())
    write_json(run_dir / SUMMARY, summary)
    return summary
