"""One LightningDataModule for every dataset the project trains on."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from maskaae_cli.config import DataConfig
from maskaae_cli.data.loading import batch_loader
from maskaae_cli.data.registry import load_splits, lookup


class MaskAAEDataModule(L.LightningDataModule):
    """Serves train / validation / test splits as in-memory tensors.

    Each training batch holds ``1 + n_critic`` mini-batches of ``batch_size``: the first
    feeds the auto-encoder, encoder and mask steps, the rest the critic steps (each critic
    step sees a fresh batch, as in the reference). ``steps`` sets how many such batches
    one pass of the training loader yields. Under distributed training each process gets
    its own share of every pass (``batch_size`` is per process). With ``index_batches`` the
    training loader yields the rows' indices instead (a graphed run gathers them on the device).
    """

    def __init__(self, cfg: DataConfig, batch_size: int = 64, n_critic: int = 5,
                 steps: int = 1, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.batch_size = batch_size
        self.n_critic = n_critic
        self.steps = steps
        self.seed = seed
        self.train_data: torch.Tensor | None = None
        self.val_data: torch.Tensor | None = None
        self.test_data: torch.Tensor | None = None
        self.index_batches = False
        self.notes: list[str] = []  # lines for the user about the data (e.g. a split made up here)

    @property
    def is_image(self) -> bool:
        return lookup(self.cfg.dataset).image

    @property
    def data_shape(self) -> tuple[int, ...]:
        if not self.is_image:  # vectors: known from the config, no need to generate them
            return lookup(self.cfg.dataset).shape(self.cfg)
        self.setup()
        assert self.train_data is not None
        return tuple(self.train_data.shape[1:])

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is None:
            self.train_data, self.val_data, self.test_data = load_splits(self.cfg, self.notes)

    def _loader(self, data: torch.Tensor | None, batch_size: int, **kw) -> DataLoader:
        assert data is not None, "call setup() first"
        workers = self.cfg.num_workers if self.cfg.num_workers is not None else 0
        return batch_loader(data, batch_size, num_workers=workers,
                            pin_memory=torch.cuda.is_available(), **kw)

    def train_dataloader(self) -> DataLoader:
        per_step = self.batch_size * (1 + self.n_critic)
        trainer = self.trainer
        shard = (trainer.global_rank, trainer.world_size, self.seed) if (
            trainer is not None and trainer.world_size > 1) else None
        return self._loader(self.train_data, per_step, shuffle=True, num_samples=per_step * self.steps,
                            drop_last=True, shard=shard, indices=self.index_batches)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_data, 1000, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_data, 1000, shuffle=False)
