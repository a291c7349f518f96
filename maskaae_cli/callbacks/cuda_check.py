"""On the CPU, keep ``torch.cuda.is_available()`` from reloading NVML at every optimiser step."""

from __future__ import annotations

import os

import lightning as L

_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


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
