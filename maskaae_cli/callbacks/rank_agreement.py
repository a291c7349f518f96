"""At the end of training, check that every process of a distributed run holds the same weights."""

from __future__ import annotations

import lightning as L
import torch


class RankAgreement(L.Callback):
    """At the end of training, checks that every process holds the same parameters.

    The largest absolute difference from rank 0 over all parameters (encoder, decoder,
    critic and beta) is kept in ``max_abs_diff``; 0.0 means the ranks agree exactly.
    """

    def __init__(self) -> None:
        self.max_abs_diff: float | None = None

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        flat = torch.cat([p.detach().float().flatten() for p in module.parameters()])
        gathered = trainer.strategy.all_gather(flat)  # (world, n) under DDP, (n,) on one device
        if gathered.dim() == 1:
            gathered = gathered.unsqueeze(0)
        self.max_abs_diff = float((gathered - gathered[0]).abs().max())
