"""``--overwrite``: the run a new one replaces is deleted once the new one has trained an iteration
(:mod:`maskaae_cli.run_dir`)."""

from __future__ import annotations

from typing import Any

import lightning as L

from maskaae_cli.run_dir import PreparedRunDir


class CommitReplace(L.Callback):
    """Once the new run has trained its first iteration, the run it replaces is deleted."""

    def __init__(self, folder: PreparedRunDir) -> None:
        self.folder = folder

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.folder.pending:
            self.folder.commit()
