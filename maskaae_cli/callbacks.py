"""Training callbacks: the mask's history and the periodic sample-quality evaluation."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from maskaae_cli.atomic_io import atomic_write
from maskaae_cli.divergence import TrainingDiverged
from maskaae_cli.metrics.features import FeatureSpace, RawFeatures
from maskaae_cli.metrics.frechet import frechet_from_statistics, statistics
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


class FrechetEvaluation(L.Callback):
    """Logs the Frechet distance of generated samples to the validation split at each evaluation
    (``val/frechet``; with a moving average kept, ``val/frechet_raw`` is that of the last weights).

    Vectors are compared as they are; images in ``space`` (Inception-v3, or a user's TorchScript
    feature extractor: ``--eval-features``).
    """

    def __init__(self, reference: torch.Tensor, n_samples: int, space: FeatureSpace | None = None,
                 batch_size: int = 500) -> None:
        self.space = space or RawFeatures()
        self.reference = reference
        self.reference_stats: dict | None = None
        self.n_samples = n_samples
        # vectors: one batch (cheap, and the prior draws stay those of earlier versions)
        self.batch_size = batch_size if space is not None else max(n_samples, len(reference))

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        if self.reference_stats is None:
            self.reference_stats = statistics(torch.cat([self.space(b) for b in self.reference.split(
                self.batch_size)]))

    def frechet(self, module: MaskAAE, averaged: bool = True) -> float:
        """FD of ``n_samples`` generated samples (the same prior draws every time) to the reference."""
        if self.reference_stats is None:
            self.setup(None, module, "fit")  # type: ignore[arg-type]
        g = torch.Generator(device=module.device).manual_seed(1234)
        feats = []
        for start in range(0, self.n_samples, self.batch_size):
            size = min(self.batch_size, self.n_samples - start)
            feats.append(self.space(module.sample(size, generator=g, averaged=averaged)))
        features = torch.cat(feats)
        if not bool(torch.isfinite(features).all()):  # huge but finite weights can still overflow
            what = "the generated samples" + ("" if averaged else " of the last weights")
            raise TrainingDiverged(module.iteration, what)
        return frechet_from_statistics(statistics(features), self.reference_stats)

    def on_validation_epoch_end(self, trainer: L.Trainer, module: MaskAAE) -> None:
        if trainer.sanity_checking:
            return
        was_training = module.training
        module.eval()  # batch norm in the conv decoders: generate with the running statistics
        module.log("val/frechet", self.frechet(module), prog_bar=True)
        if module.ema is not None:  # the last weights too, to see what the average buys
            module.log("val/frechet_raw", self.frechet(module, averaged=False))
        module.train(was_training)
        module.log("val/active_dims", float(module.mask.active_dims()))
