"""SIGINT and SIGTERM (Ctrl+C, pre-emption): finish the iteration, save a checkpoint, stop.

Lightning's own SIGTERM handler stops training without saving, and a bare Ctrl+C raises
KeyboardInterrupt wherever it lands, possibly between two of an iteration's four optimiser
steps. :class:`GracefulStop` replaces both for the length of training: the handler only
notes the signal; at the end of the iteration every process learns of it (one all-reduce,
so a signal to any one rank stops all of them at the same iteration), the Trainer saves
``checkpoints/last.ckpt`` at once, and once the iteration's metrics are logged (and its
validation run, when one is due) :class:`maskaae_cli.errors.TrainingInterrupted` ends
``trainer.fit``. A signal during the last iteration lets the run finish. A second Ctrl+C stops at
once, without a checkpoint.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch

from maskaae_cli.callbacks.divergence_guard import DivergenceGuard
from maskaae_cli.errors import TrainingInterrupted
from maskaae_cli.model import MaskAAE

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop(L.Callback):
    """Turns SIGINT / SIGTERM during training into a checkpoint and :class:`TrainingInterrupted`."""

    def __init__(self, checkpoint: Path, guard: DivergenceGuard | None = None) -> None:
        self.checkpoint = checkpoint
        self.guard = guard  # checked before the checkpoint, so a diverged state is never saved
        self.signum = 0
        self.stopped: TrainingInterrupted | None = None

    def on_train_start(self, trainer: L.Trainer, module: MaskAAE) -> None:
        # Lightning registers its handlers just before this hook and restores the ones it
        # found when training ends, so these replace its SIGTERM handler only while training.
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._note)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # pressed twice: stop now
        self.signum = self.signum or signum

    def on_train_batch_end(self, trainer: L.Trainer, module: MaskAAE, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.stopped is not None:
            return
        signum = self.signum
        if trainer.world_size > 1:
            flag = torch.tensor(signum, device=module.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            signum = int(flag)
        if signum:
            if self.guard is not None:
                self.guard.check(trainer, module, module.iteration)
            trainer.save_checkpoint(self.checkpoint, weights_only=False)
            self.stopped = TrainingInterrupted(signum, module.iteration, self.checkpoint,
                                               trainer.is_global_zero)

    def on_train_batch_start(self, trainer: L.Trainer, module: MaskAAE, batch: Any, batch_idx: int) -> None:
        # raised here rather than at the end of the previous iteration, so that its logging (and
        # validation, when one was due) happened first; a resumed run starts after them
        if self.stopped is not None:
            raise self.stopped
