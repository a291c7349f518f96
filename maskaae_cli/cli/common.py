"""Pieces shared by the commands that read a checkpoint: options, threads, data access."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from maskaae_cli.errors import UserError

if TYPE_CHECKING:  # torch and Lightning load only inside the commands that need them
    import torch

    from maskaae_cli.config import DataConfig
    from maskaae_cli.model import MaskAAE

CheckpointArg = Annotated[Path, typer.Argument(
    help="A checkpoint file (.ckpt) or a run folder written by 'maskaae train' (its model.ckpt, "
         "else checkpoints/last.ckpt).", show_default=False)]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda (cuda:N) or auto (the GPU when there is one).")]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Samples per forward pass; lower it to use "
                                                  "less memory.")]
ThreadsOpt = Annotated[Optional[int], typer.Option(min=1, show_default=False, help="CPU threads for torch. "
                       "(default: chosen from the work and the free cores, never more than are free)")]


def model_threads(given: int | None, model: MaskAAE, inception: bool = False) -> None:
    """Set torch's threads for a command that runs ``model`` (and the Inception network when asked)."""
    from maskaae_cli.threads import INCEPTION_WORK, forward_work, use_threads

    work = INCEPTION_WORK if inception else forward_work(model.encoder, model.decoder, model.data_shape,
                                                         model.latent_dim)
    use_threads(given, work)


def check_run_data(data: DataConfig) -> None:
    """A run's own data (folder: or idx:) must still be where the run found it: this command cannot be
    given other data."""
    from maskaae_cli.data.registry import data_path, lookup

    if lookup(data.dataset).at_path and not data_path(data.dataset).exists():
        raise UserError(f"the run was trained on {data.dataset} and {data_path(data.dataset)} no longer "
                        "exists: put the data back there (this command reads the run's own data)")


def dataset_split(model: MaskAAE, split: str) -> torch.Tensor:
    """The model's dataset (as its config names it), split ``test`` or ``train``."""
    from maskaae_cli.data import MaskAAEDataModule

    if split not in ("test", "train"):
        raise UserError(f"unknown split {split!r}: use test or train")
    check_run_data(model.cfg.data)
    dm = MaskAAEDataModule(model.cfg.data)
    dm.setup()
    data = dm.test_data if split == "test" else dm.train_data
    assert data is not None
    return data
