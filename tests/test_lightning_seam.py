"""The Lightning internals that maskaae_cli/lightning_seam.py relies on are there, and behave as it
assumes: a Lightning upgrade that moves one fails here, naming it."""

from __future__ import annotations

import inspect

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from maskaae_cli import lightning_seam


@pytest.mark.parametrize("name", ["_on_before_step", "_on_after_step"])
def test_the_optimizer_hooks_exist(name):
    """Lightning sets these on each LightningOptimizer (the loop replaces them during a fit)."""
    opt = LightningOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
    assert callable(getattr(opt, name, None)), f"LightningOptimizer.{name} is gone: update lightning_seam.py"


@pytest.mark.parametrize(("owner", "name"), [
    (RichProgressBar, "_get_train_description"), (RichProgressBar, "_update"),
    (ExperimentWriter, "_check_log_dir_exists"),
])
def test_the_private_methods_exist(owner, name):
    assert callable(getattr(owner, name, None)), f"{owner.__name__}.{name} is gone: update lightning_seam.py"


def test_the_csv_writer_checks_its_folder_when_made(tmp_path):
    """ContinuingWriter relies on ExperimentWriter calling _check_log_dir_exists from __init__."""
    seen = []

    class Probe(lightning_seam.ContinuingWriter):
        def continue_existing(self) -> None:
            seen.append(self.metrics_file_path)

    Probe(str(tmp_path))
    assert seen and seen[0].endswith("metrics.csv")


def test_the_private_attributes_exist(tmp_path, monkeypatch):
    module = L.LightningModule()
    assert lightning_seam.attached_trainer(module) is None
    logger = CSVLogger(tmp_path, name="", version="")
    writer = lightning_seam.csv_experiment(logger, lambda: ExperimentWriter(str(tmp_path)))
    assert logger.experiment is writer and (tmp_path / "hparams.yaml").parent.is_dir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert lightning_seam.wandb_run_started(WandbLogger(save_dir=str(tmp_path))) is False
    assert "train_progress_bar_id" in inspect.getsource(RichProgressBar)


def test_count_step_advances_global_step(tmp_path):
    """The hot path's step counting: every counted step moves Lightning's global_step by one."""
    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):  # noqa: ANN001
            opt = self.optimizers()
            self.w.grad = torch.ones(1)
            lightning_seam.count_step(opt, opt.optimizer.step)
            lightning_seam.count_step(opt)  # a step taken elsewhere, only counted

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.SGD([self.w], lr=0.5)

    trainer = L.Trainer(max_steps=6, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    module = Module()
    trainer.fit(module, torch.utils.data.DataLoader(torch.zeros(10, 1), batch_size=1))
    assert trainer.global_step == 6 and module.w.item() == pytest.approx(-1.5)  # 3 iterations x 0.5
