"""The mask's settings (the config's ``mask:`` section) and the schedule that lays them out over a
run: the regulariser's doubling, the learning-rate drops, the mask's warm-up and freeze
(docs/algorithm.md, "The schedule")."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass
class MaskConfig:
    """Everything only the mask reads: a model without a mask (``--model wae``) trains bit for bit the
    same whatever these are (tests/test_steps.py varies every one), so a WAE run stays valid when
    only they change. The defaults are the synthetic preset's; docs/algorithm.md says where they
    depart from the paper and benchmarks/mask-schedule.md how they were found."""

    beta_init_min: float = 2.3  # beta ~ U[beta_init_min, beta_init_max] (the paper: U[0, 5])
    beta_init_max: float = 5.0
    active_threshold: float = 0.1  # a dimension is active when alpha_j >= this
    lr: float = 5e-3  # the mask's RMSProp learning rate (the paper: 5e-4)
    var_weight: float = 5.0  # the variance penalty's weight in the auto-encoder loss (the paper: 100)
    var_sharpness: float = 10.0  # ... on (z - mean z)^2 exp(-sharpness alpha^2)
    rec_weight: float = 450.0  # the reconstruction term's weight in the mask loss (the paper: 1000)
    cycle_weight: float = 0.5  # the latent cycle term's weight in the mask loss (0: off, the paper)
    cycle_end_fraction: float = 0.7  # ... which acts until this fraction of the run
    cycle_c_ratio: float = 0.5  # ... weighted at least this times c while it acts (0: the fixed weight)
    c_init: float | None = None  # the regulariser's weight c at the start (None: 2 / m)
    c_max: float = 2048.0  # ... and its cap
    watershed: float = 0.3  # the regulariser pushes alphas above this to 1, below to 0 (the paper: 0.5)
    c_double_periods: float = 4.0  # reference schedule: c doubles every this many periods T
    start: int = 1500  # the mask learns from this iteration on (budget: at the latest when c ramps)
    ramp_start_fraction: float = 0.45  # budget schedule: c is held at c_init until this fraction ...
    ramp_end_fraction: float = 0.7  # ... and doubles up to c_max by this one
    lr_drop_fraction: float | None = 0.45  # budget: the mask's rate drops here (None: with the AE's)
    # budget: from this fraction the mask is snapped to exact 0 / 1 and no longer trained, and the
    # variance penalty stops (None: the mask trains to the end)
    freeze_fraction: float | None = None


MASK_FIELDS = tuple(f.name for f in fields(MaskConfig))


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


def build_schedule(mask: MaskConfig, m: int, max_steps: int, *, schedule: str, lr_drop_fraction: float,
                   lr_drop_factor: float, period: int, lr_drop_periods: float) -> MaskSchedule:
    """The schedule of a run of ``max_steps`` iterations at latent size ``m``.

    ``schedule`` "budget" lays the phases out as fractions of the run; "reference" is the paper's:
    c doubles every ``mask.c_double_periods`` periods T from iteration 0, the rates drop at
    ``lr_drop_periods`` T.
    """
    c_init = mask.c_init if mask.c_init is not None else 2.0 / m
    # an integer step is below fraction * max_steps exactly when it is below this ceiling
    cycle_end = math.ceil(mask.cycle_end_fraction * max_steps)
    if schedule == "budget":
        start = round(mask.ramp_start_fraction * max_steps)
        end = round(mask.ramp_end_fraction * max_steps)
        doublings = max(1, math.ceil(math.log2(max(mask.c_max / c_init, 2.0))))
        # A run too short for the warm-up still lets the mask learn before c ramps up.
        return MaskSchedule(c_init=c_init, c_max=mask.c_max, ramp_start=start,
                            double_every=max(1, (end - start) // doublings),
                            lr_drop_step=round(lr_drop_fraction * max_steps), lr_drop_factor=lr_drop_factor,
                            mask_lr_drop_step=(None if mask.lr_drop_fraction is None
                                               else round(mask.lr_drop_fraction * max_steps)),
                            mask_start=min(mask.start, start), cycle_end=cycle_end,
                            freeze_step=(None if mask.freeze_fraction is None
                                         else round(mask.freeze_fraction * max_steps)))
    return MaskSchedule(c_init=c_init, c_max=mask.c_max,
                        double_every=max(1, round(mask.c_double_periods * period)),
                        lr_drop_step=round(lr_drop_periods * period), lr_drop_factor=lr_drop_factor,
                        mask_start=mask.start, cycle_end=cycle_end)
