"""The periodic sample-quality evaluation: the Frechet distance of generated samples to the
validation split at each evaluation."""

from __future__ import annotations

import lightning as L
import torch

from maskaae_cli.errors import TrainingDiverged
from maskaae_cli.metrics.features import FeatureSpace, RawFeatures
from maskaae_cli.metrics.frechet import frechet_from_statistics, statistics
from maskaae_cli.model import MaskAAE


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
