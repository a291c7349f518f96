"""What the dashboards (W&B, TensorBoard) get beyond the losses: per-dimension alpha curves, the
learning rates, a mask heatmap, sample grids and the latent traversal."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger

from maskaae_cli.loggers import KeepingCSVLogger
from maskaae_cli.model import MaskAAE


class DashboardLogging(L.Callback):
    """Per-dimension curves ``alpha/00``.. (one W&B / TensorBoard section), every learning rate,
    and every ``image_every`` iterations a mask heatmap (dimensions x iterations) and, for
    image data, a grid of samples and the latent traversal of the active dimensions."""

    def __init__(self, log_every: int, image_every: int, history: Any) -> None:
        self.log_every = log_every
        self.image_every = image_every
        self.history = history  # the MaskHistory callback: its recorded alphas make the heatmap

    def on_train_batch_end(self, trainer: L.Trainer, module: MaskAAE, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = module.iteration
        if step % self.log_every == 0:
            alpha = module.mask.alpha.detach().float().cpu()
            width = max(2, len(str(len(alpha) - 1)))
            logs = {f"alpha/{j:0{width}d}": float(a) for j, a in enumerate(alpha)}
            names = ("ae", "critic", "gen", "mask")[: len(module.optimizers())]  # wae: no mask
            logs |= {f"lr/{n}": opt.param_groups[0]["lr"]
                     for n, opt in zip(names, module.optimizers(), strict=True)}
            # Straight to the loggers at Lightning's logging step (metrics.csv merges them into
            # that step's row): module.log_dict costs a device move per key and call, which for
            # m alphas shows in the throughput of the small nets (benchmarks/throughput.py).
            for logger in trainer.loggers:
                if isinstance(logger, KeepingCSVLogger):
                    logger.stage(logs, step - 1)
                else:
                    logger.log_metrics(logs, step=step - 1)
        if step % self.image_every == 0 and trainer.is_global_zero:
            self.log_images(trainer, module, step - 1)  # Lightning's logging step: the 0-based batch

    def log_images(self, trainer: L.Trainer, module: MaskAAE, step: int) -> None:
        from maskaae_cli.plots import mask_heatmap_image

        images: dict[str, np.ndarray] = {}
        if len(self.history.steps) > 1:
            images["mask/heatmap"] = mask_heatmap_image(np.asarray(self.history.steps),
                                                        np.stack(self.history.alphas))
        if module.is_image:
            images["samples"] = sample_grid(module)
            if bool(module.mask.active_mask().any()):
                images["traverse"] = traversal_grid(module)
        for logger in trainer.loggers:
            for key, image in images.items():
                log_image(logger, key, image, step)


@torch.no_grad()
def sample_grid(module: MaskAAE, n: int = 64) -> np.ndarray:
    """An HxWx3 uint8 grid of ``n`` samples (the same prior draws every time)."""
    from torchvision.utils import make_grid

    was_training = module.training
    module.eval()
    g = torch.Generator(device=module.device).manual_seed(0)
    images = module.sample(n, generator=g).float().clamp(0, 1).cpu()
    module.train(was_training)
    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(n))), padding=2)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def traversal_grid(module: MaskAAE) -> np.ndarray:
    """The labelled latent traversal of the active dimensions ('maskaae traverse' with its defaults:
    base zero, 9 values from -3 to 3), as an HxWx3 uint8 array."""
    from maskaae_cli import traverse
    from maskaae_cli.traverse_plot import image_grid

    alpha, active = module.mask.alpha.detach().cpu(), module.mask.active_mask().cpu()
    dims = traverse.choose_dims("active", alpha, active)
    values = traverse.sweep_values(traverse.DEFAULT_STEPS, traverse.DEFAULT_RANGE)
    return image_grid(traverse.traverse(module, dims, values, traverse.base_code(module, "zero", 0), "zero"))


def log_image(logger: Logger, key: str, image: np.ndarray, step: int) -> None:
    """One HxWx3 uint8 image to W&B or TensorBoard; the CSV logger keeps no images."""
    if isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[image], step=step)
    elif isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, image, step, dataformats="HWC")
