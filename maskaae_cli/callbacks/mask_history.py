"""The mask's history: alpha every few iterations, written as mask_history.csv and mask_trajectory.png."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np

from maskaae_cli.atomic_io import atomic_write
from maskaae_cli.model import MaskAAE
from maskaae_cli.plots import plot_mask_trajectory
from maskaae_cli.run_files import MASK_HISTORY, MASK_PLOT


class MaskHistory(L.Callback):
    """Records alpha every ``every`` iterations; writes mask_history.csv and mask_trajectory.png."""

    def __init__(self, run_dir: Path, every: int) -> None:
        self.run_dir = run_dir
        self.every = every
        self.steps: list[int] = []
        self.alphas: list[np.ndarray] = []

    def _record(self, module: MaskAAE, step: int) -> None:
        if not self.steps or self.steps[-1] != step:
            self.steps.append(step)
            self.alphas.append(module.mask.alpha.detach().float().cpu().numpy().copy())

    def on_train_start(self, trainer: L.Trainer, module: MaskAAE) -> None:
        self._record(module, module.iteration)

    def on_train_batch_end(self, trainer, module: MaskAAE, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        step = module.iteration
        if step % self.every == 0:
            self._record(module, step)

    def on_train_end(self, trainer: L.Trainer, module: MaskAAE) -> None:
        self._record(module, module.iteration)
        if trainer.is_global_zero:
            self.write(module.mask.active_threshold)

    def on_exception(self, trainer: L.Trainer, module: MaskAAE, exception: BaseException) -> None:
        """An interrupted run keeps the history so far (a resumed run carries it on)."""
        if trainer.is_global_zero and self.steps:
            self.write(module.mask.active_threshold)

    def write(self, threshold: float) -> None:
        steps, alphas = np.asarray(self.steps), np.stack(self.alphas)
        header = "step," + ",".join(f"alpha_{j}" for j in range(alphas.shape[1]))
        atomic_write(self.run_dir / MASK_HISTORY, lambda f: np.savetxt(
            f, np.column_stack([steps, alphas]), delimiter=",", header=header, comments="",
            fmt=["%d"] + ["%.6f"] * alphas.shape[1]))
        plot_mask_trajectory(steps, alphas, self.run_dir / MASK_PLOT, threshold)

    def state_dict(self) -> dict:
        return {"steps": list(self.steps), "alphas": [a.tolist() for a in self.alphas]}

    def load_state_dict(self, state: dict) -> None:
        self.steps = list(state["steps"])
        self.alphas = [np.asarray(a, dtype=np.float32) for a in state["alphas"]]
