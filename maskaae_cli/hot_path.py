"""Keep Lightning's per-call bookkeeping out of the training hot path where nothing needs it.

One MaskAAE iteration runs eight backward passes and eight optimiser steps, so a cost paid
per pass is paid eight times per iteration (the numbers are in the throughput notes).
"""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy

_BACKWARD_HOOKS = ("on_before_backward", "on_after_backward")
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def direct_backward_ok(trainer: L.Trainer) -> bool:
    """Whether ``loss.backward()`` does all that ``manual_backward`` would.

    True only on a plain single-device strategy with full 32-bit precision (no loss scaling,
    no DDP gradient sync) and when no callback and not the LightningModule overrides the
    backward hooks that ``manual_backward`` would call.
    """
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    module = trainer.lightning_module
    for hook in _BACKWARD_HOOKS:
        if getattr(type(module), hook) is not getattr(L.LightningModule, hook):
            return False
        if any(getattr(type(cb), hook) is not getattr(L.Callback, hook) for cb in trainer.callbacks):
            return False
    return True


class CheapCudaCheck(L.Callback):
    """On the CPU, let ``torch.cuda.is_available()`` ask the CUDA runtime instead of NVML while fitting.

    Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that forked processes can
    still start CUDA). With it set, every ``torch.optim`` step on a CUDA build of torch calls
    ``torch.cuda.is_available()``, which then loads the NVML library again each time unless
    CUDA is initialised: tens of microseconds per optimiser step on a CPU run, eight steps per
    iteration. On the CPU accelerator CUDA is never used, so the check is switched off for
    the fit and restored afterwards.
    """

    def __init__(self) -> None:
        self._saved: str | None = None
        self._active = False

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cpu" and _NVML_CHECK in os.environ:
            self._saved, self._active = os.environ.pop(_NVML_CHECK), True

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exc: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._active and self._saved is not None:
            os.environ[_NVML_CHECK] = self._saved
        self._active = False
