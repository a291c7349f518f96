"""The mask regulariser's doubling schedule and the learning-rate drop (SPEC.md section 3)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def reference_period(m: int) -> int:
    """The reference script's period T: 75 if m <= 20, else min(10000, floor(112.5 m))."""
    return 75 if m <= 20 else min(10_000, math.floor(112.5 * m))


@dataclass(frozen=True)
class MaskSchedule:
    """Regulariser weight c(step) and the learning-rate factor at a given step.

    c stays at ``c_init`` until ``ramp_start``, then doubles every ``double_every`` steps up
    to ``c_max``; from step ``lr_drop_step`` the auto-encoder and mask learning rates are
    divided by ``lr_drop_factor``. The reference ramps from step 0. The mask learns from
    iteration ``mask_start`` on (its learning rate is zero before); the latent cycle term of the
    mask loss (when weighted) acts before iteration ``cycle_end``.
    """

    c_init: float
    c_max: float
    double_every: int
    lr_drop_step: int
    lr_drop_factor: float
    ramp_start: int = 0
    mask_start: int = 0
    cycle_end: int = 0  # the mask loss's latent cycle term acts before this iteration
    mask_lr_drop_step: int | None = None  # None: the mask's rate drops with the auto-encoder's
    freeze_step: int | None = None  # from this iteration the mask is fixed at 0 / 1 (None: never)

    def frozen(self, step: int) -> bool:
        """Whether the mask is frozen (snapped to 0 / 1, no longer trained) at ``step``."""
        return self.freeze_step is not None and step >= self.freeze_step

    def reg_weight(self, step: int) -> float:
        ramp = max(0, step - self.ramp_start)
        doublings = ramp // self.double_every if self.double_every > 0 else 0
        # 2**doublings overflows floats long after c_max is reached; cap the exponent.
        return min(self.c_max, self.c_init * 2.0 ** min(doublings, 512))

    def lr_factor(self, step: int) -> float:
        return 1.0 / self.lr_drop_factor if step >= self.lr_drop_step else 1.0

    def mask_lr_factor(self, step: int) -> float:
        drop = self.lr_drop_step if self.mask_lr_drop_step is None else self.mask_lr_drop_step
        return 1.0 / self.lr_drop_factor if step >= drop else 1.0
