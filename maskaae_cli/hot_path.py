"""Keep Lightning's per-call bookkeeping out of the training hot path where nothing needs it.

One MaskAAE iteration runs eight backward passes and eight optimiser steps, so a cost paid
per pass is paid eight times per iteration (the numbers are in the throughput notes).
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy

from maskaae_cli.lightning_seam import count_step

_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def direct_step_ok(trainer: L.Trainer, module: L.LightningModule | None = None) -> bool:
    """Whether ``loss.backward(); optimizer.step()`` does all that Lightning's wrapped versions would.

    ``manual_backward`` and ``LightningOptimizer.step`` add, per pass: the backward and
    before-optimizer-step hooks of every callback and of the module, loss scaling, DDP
    gradient sync and gradient clipping. True only where none of that applies: a plain
    single-device strategy, full 32-bit precision, no gradient clipping, and no callback and
    not the LightningModule overriding those hooks. ``module``: the one to fit (default: the
    Trainer's, which it knows once fitting).
    """
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if trainer.gradient_clip_val:
        return False
    module = module if module is not None else trainer.lightning_module
    for hook in _STEP_HOOKS:
        if getattr(type(module), hook) is not getattr(L.LightningModule, hook):
            return False
        if any(getattr(type(cb), hook) is not getattr(L.Callback, hook) for cb in trainer.callbacks):
            return False
    return True


def direct_optimizer_step(opt: LightningOptimizer) -> None:
    """``opt.step()`` without the strategy and precision layers (only where ``direct_step_ok``).

    The manual-optimisation loop's own before/after callbacks still run, so Lightning's step
    counter (``global_step``) and its profiler see every step.
    """
    count_step(opt, opt.optimizer.step)


def count_optimizer_steps(opt: LightningOptimizer, n: int) -> None:
    """Count ``n`` steps that ``opt`` took inside a CUDA graph (graph_runner.py) in Lightning's step
    counter (``global_step``), as ``direct_optimizer_step`` would have."""
    for _ in range(n):
        count_step(opt)
