"""Run configuration: nested dataclasses, YAML recipes, and command-line overrides.

A recipe is a YAML file with the sections ``data``, ``model``, ``optim`` and ``train``,
each holding a subset of the fields below; anything it does not name keeps its default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from maskaae_cli.errors import UserError
from maskaae_cli.schedule import MaskSchedule, reference_period

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DATASETS = ("synthetic", "mnist", "fashion-mnist", "cifar10", "celeba")
MODELS = ("maae", "wae")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")  # "32" is read as "32-true"
LOGGERS = ("csv", "tensorboard", "wandb")
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
# Fields only the mask reads: a model without a mask (wae) trains bit for bit the same whatever
# they are (tests/test_steps.py varies every one), so a WAE run stays valid when only they change.
MASK_ONLY_FIELDS: dict[str, tuple[str, ...]] = {
    "model": ("beta_init_max", "beta_init_min", "active_threshold"),
    "optim": ("var_weight", "var_sharpness", "lr_mask", "mask_rec_weight", "mask_cycle_weight",
              "mask_cycle_end_fraction", "mask_cycle_c_ratio", "reg_c_init", "reg_c_max", "reg_watershed",
              "reg_double_periods", "mask_start", "mask_rec_control", "mask_rec_tolerance",
              "mask_rec_rate", "mask_rec_ema", "mask_rec_weight_min", "ramp_start_fraction",
              "ramp_end_fraction", "mask_lr_drop_fraction", "mask_freeze_fraction"),
}


@dataclass
class DataConfig:
    """What to train on."""

    dataset: str = "synthetic"
    data_dir: str | None = None  # None: a per-user cache folder
    download: bool = True
    num_workers: int | None = None  # None: chosen from the machine
    val_fraction: float = 0.1
    split_seed: int = 0
    image_size: int | None = None  # folder datasets: resize to this square size
    celeba_crop: int = 140
    # synthetic data (SPEC.md section 4)
    n_true: int = 8
    data_dim: int = 128
    data_hidden: int = 128
    data_seed: int = 0
    n_train: int = 50_000
    n_val: int = 5_000
    n_test: int = 10_000


@dataclass
class ModelConfig:
    """The nets and the mask."""

    model: str = "maae"  # "maae" or "wae" (the same nets with no mask)
    m: int = 32
    arch: str = "auto"  # "mlp", "conv" or "auto" (by data shape)
    hidden: int = 128  # MLP width (the reference MNIST nets use 1024)
    depth: int = 3  # MLP hidden layers (the reference uses 4)
    critic_hidden: int = 128
    critic_depth: int = 3
    conv_channels: int = 64  # conv nets: channels of the first layer
    beta_init_max: float = 5.0
    # beta ~ U[beta_init_min, beta_init_max] (reference U[0, 5]). A dimension that starts with a
    # small alpha is flattened by the variance penalty before the mask can judge it: 2.3 (every
    # alpha > 0.9) keeps all n from m = n (docs/mask-schedule.md, rounds 2 and 3).
    beta_init_min: float = 2.3
    active_threshold: float = 0.1
    rec_loss: str = "auto"  # "bce", "mse" or "auto" (bce for images, mse for vectors)


@dataclass
class OptimConfig:
    """Optimisers and the mask schedule.

    The defaults are the synthetic preset's: the paper's values except where docs/algorithm.md
    says otherwise ("Where the defaults depart from the paper"); docs/mask-schedule.md has the
    measurements that chose them.
    """

    batch_size: int = 64
    lr_ae: float = 5e-4
    lr_critic: float = 3e-4  # reference 1e-4: a slower critic lets spare dimensions stay open
    lr_gen: float = 1e-4
    lr_mask: float = 5e-3  # reference 5e-4 (built for 500k steps; see docs/mask-schedule.md)
    n_critic: int = 5
    gp_weight: float = 10.0
    # reference 100: flattens coordinates the mask goes on to keep while their alphas sit at
    # 0.5-0.9, which cost n = 16 its quality (round 7); the latent cycle term closes spares instead
    var_weight: float = 5.0
    var_sharpness: float = 10.0
    # reference 1000: stalls with too many dimensions here; 450 holds the true dimensions of n = 16
    # against the cycle term below and still lets n = 8 close its spare ones (round 6; round 5 used
    # 300, round 3 150)
    mask_rec_weight: float = 450.0
    # Weight of the latent cycle term in the mask loss (0: off, the reference): sum_j of
    # mean((alpha_j E_j(D(alpha * p)) - alpha_j p_j)^2), which only an open dimension the data does
    # not need makes large (maskaae_cli/metrics/latent_cycle.py; docs/mask-schedule.md, round 5).
    mask_cycle_weight: float = 0.5
    # ... acting until this fraction of --max-steps: through c's ramp, until c reaches c_max
    # (round 9: 0.7; round 6: 0.45, the end of the search; round 5: 0.3).
    mask_cycle_end_fraction: float = 0.7
    # ... and, while it acts, weighted at least this times c (0: the fixed weight above), so that
    # during c's ramp it still closes spare dimensions against the polarisation (round 8)
    mask_cycle_c_ratio: float = 0.5
    reg_c_init: float | None = None  # None: 2 / m
    reg_c_max: float = 2048.0
    # Where the regulariser c * polarisation splits the alphas: above it pushed to 1, below to 0
    # (0.5: the paper's sum |alpha (1 - alpha)|). 0.3 (round 9) keeps a true dimension that the
    # cycle term drags below one half while it closes the spare ones (docs/mask-schedule.md).
    reg_watershed: float = 0.3
    schedule_period: int | None = None  # T; None: the reference rule from m
    reg_double_periods: float = 4.0  # c doubles every this many T
    lr_drop_periods: float = 5.0  # rates drop at this many T
    lr_drop_factor: float = 5.0
    # the mask learns from this iteration on (reference: 0); budget schedule: at the latest when c ramps.
    # 1,500 (round 10; 2,000 before): n = 16 closes its spare dimensions before the auto-encoder's
    # rate drops; from 1,000 the mask closes a true dimension of n = 16 (docs/mask-schedule.md)
    mask_start: int = 1500
    # "fixed": mask_rec_weight throughout (the reference). "constraint": mask_rec_weight is the
    # starting value of a weight that grows while the reconstruction error sits more than
    # mask_rec_tolerance above its best so far and decays otherwise (maskaae_cli/rec_constraint.py).
    mask_rec_control: str = "fixed"
    mask_rec_tolerance: float = 0.1
    mask_rec_rate: float = 0.02  # log-weight change per iteration per unit of excess
    mask_rec_ema: float = 0.99  # smoothing of the reconstruction error the constraint watches
    mask_rec_weight_min: float = 1.0  # the adaptive weight stays within [min, 1e5]
    # "reference": c doubles every reg_double_periods * T from step 0, rates drop at lr_drop_periods * T.
    # "budget": phases as fractions of --max-steps: c stays at its initial value while the mask
    # finds the dimensions, ramps to c_max between ramp_start and ramp_end, rates drop at lr_drop.
    schedule: str = "budget"
    ramp_start_fraction: float = 0.45
    ramp_end_fraction: float = 0.7
    lr_drop_fraction: float = 0.3
    # budget schedule: the mask's rate drops here, after the auto-encoder's (None: with it, at
    # lr_drop_fraction; the reference schedule always drops the two together)
    mask_lr_drop_fraction: float | None = 0.45
    # budget schedule: at this fraction of the run the mask is snapped to 0 / 1 (alpha >= the active
    # threshold -> 1, else 0) and no longer trained, and the variance penalty stops: the rest of the
    # run trains a WAE on the chosen dimensions (None: the mask trains to the end)
    mask_freeze_fraction: float | None = None
    # Generation (sample, fid, the evaluations) uses an exponential moving average of the decoder
    # and mask with this decay per iteration (capped on short runs: ema_decay_for); 0 turns it off.
    # It does not change training; it removes the spikes of adversarial training from the samples
    # (README, "Samples from a moving average").
    ema_decay: float = 0.999

    def ema_decay_for(self, max_steps: int) -> float:
        """ema_decay, capped so that the average spans at most a fifth of a short run (its time
        constant 1 / (1 - decay) <= max_steps / 5); runs of 5,000+ steps keep 0.999 as it is."""
        return min(self.ema_decay, max(0.0, 1.0 - 5.0 / max_steps)) if self.ema_decay > 0 else 0.0

    def period(self, m: int) -> int:
        return self.schedule_period if self.schedule_period else reference_period(m)

    def mask_schedule(self, m: int, max_steps: int) -> MaskSchedule:
        c_init = self.reg_c_init if self.reg_c_init is not None else 2.0 / m
        # an integer step is below fraction * max_steps exactly when it is below this ceiling
        cycle_end = math.ceil(self.mask_cycle_end_fraction * max_steps)
        if self.schedule == "budget":
            start = round(self.ramp_start_fraction * max_steps)
            end = round(self.ramp_end_fraction * max_steps)
            doublings = max(1, math.ceil(math.log2(max(self.reg_c_max / c_init, 2.0))))
            # A run too short for the warm-up still lets the mask learn before c ramps up.
            return MaskSchedule(c_init=c_init, c_max=self.reg_c_max, ramp_start=start,
                                double_every=max(1, (end - start) // doublings),
                                lr_drop_step=round(self.lr_drop_fraction * max_steps),
                                lr_drop_factor=self.lr_drop_factor,
                                mask_lr_drop_step=(None if self.mask_lr_drop_fraction is None
                                                   else round(self.mask_lr_drop_fraction * max_steps)),
                                mask_start=min(self.mask_start, start), cycle_end=cycle_end,
                                freeze_step=(None if self.mask_freeze_fraction is None
                                             else round(self.mask_freeze_fraction * max_steps)))
        t = self.period(m)
        return MaskSchedule(
            c_init=c_init,
            c_max=self.reg_c_max,
            double_every=max(1, round(self.reg_double_periods * t)),
            lr_drop_step=round(self.lr_drop_periods * t),
            lr_drop_factor=self.lr_drop_factor,
            mask_start=self.mask_start,
            cycle_end=cycle_end,
        )


@dataclass
class TrainConfig:
    """How long, where, on what hardware, and what to record."""

    max_steps: int = 12_000
    seed: int = 0
    out: str = "runs/maskaae"
    overwrite: bool = False
    gpus: int | None = None  # shorthand: accelerator gpu, devices N (validate() expands it)
    accelerator: str = "auto"
    devices: str = "auto"  # per node; --batch-size is per device (global = batch * devices * nodes)
    num_nodes: int = 1
    strategy: str = "auto"  # several devices or nodes: DDP
    precision: str = "32-true"
    log_every: int = 50
    eval_every: int = 1_000
    eval_samples: int = 10_000
    # image runs: the feature space of the evaluations' Frechet distance ("inception" where its
    # weights are on disk, a TorchScript file, or "none"); vectors are always compared as they are
    eval_features: str = "inception"
    ckpt_every: int = 5_000
    logger: str = "csv"
    wandb_project: str | None = None  # None: "maskaae"
    wandb_entity: str | None = None
    run_name: str | None = None  # None: the run folder's name
    tags: str = ""  # comma-separated logger tags
    progress: bool = True
    threads: int | None = None  # torch CPU threads; None: torch's default
    recipe: str | None = None  # the preset or recipe this config was built from (recorded only)
    compile: bool = False  # torch.compile the nets (opt-in; the critic's gradient penalty stays eager)


@dataclass
class Config:
    """Everything one run needs; saved beside its checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        cfg.update(raw, source)
        return cfg

    def update(self, raw: dict[str, Any], source: str = "config") -> None:
        """Set the fields that ``raw`` names ({section: {field: value}}); unknown keys are errors."""
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
        for section, values in raw.items():
            if section not in SECTIONS:
                raise UserError(f"{source}: unknown section {section!r}; "
                                f"use one of {', '.join(SECTIONS)}")
            target = getattr(self, section)
            fld = {f.name: f for f in dataclasses.fields(target)}
            known = set(fld)
            if values is not None and not isinstance(values, dict):
                raise UserError(f"{source}: section {section!r} must be a mapping of field: value, "
                                f"not a {type(values).__name__}")
            for key, value in (values or {}).items():
                if key not in known:
                    raise UserError(f"{source}: unknown field {section}.{key}; "
                                    f"known fields: {', '.join(sorted(known))}")
                setattr(target, key, _coerce(value, fld[key].type, f"{source}: {section}.{key}"))

    def validate(self) -> None:
        """Raise :class:`UserError` for the first value no run can use: one line naming the field,
        the value and what is allowed. Every numeric field is checked here, before a run writes
        anything."""
        d, m, o, t = self.data, self.model, self.optim, self.train
        if not (d.dataset in DATASETS or d.dataset.startswith(("folder:", "idx:"))):
            raise UserError(f"unknown dataset {d.dataset!r}: use one of {', '.join(DATASETS)}, "
                            "folder:PATH (your images) or idx:PATH (MNIST-format files)")
        for field_name, value, allowed in (("model.model", m.model, MODELS),
                                           ("model.arch", m.arch, ARCHS),
                                           ("model.rec_loss", m.rec_loss, ("auto", "bce", "mse")),
                                           ("optim.schedule", o.schedule, ("reference", "budget")),
                                           ("optim.mask_rec_control", o.mask_rec_control,
                                            ("fixed", "constraint"))):
            if value not in allowed:
                raise UserError(f"unknown {_label(field_name)} {value!r}: use one of {', '.join(allowed)}")
        for field_name, ok, allowed in _range_checks(self):
            if not ok:
                section, key = field_name.split(".")
                value = getattr(getattr(self, section), key)
                raise UserError(f"{_label(field_name)} {value!r} is out of range: {allowed}")
        if not t.out.strip():
            raise UserError("--out is empty: give a folder for the run")
        self._validate_hardware()

    def _validate_hardware(self) -> None:
        """Precision, strategy, device counts and logger (normalising "32" to "32-true")."""
        t = self.train
        if t.gpus is not None:
            if t.gpus < 1 or t.accelerator not in ("auto", "gpu", "cuda") or t.devices != "auto":
                raise UserError("--gpus N sets --accelerator gpu and --devices N (N >= 1): give "
                                "--gpus or those two, not both")
            t.accelerator, t.devices, t.gpus = "gpu", str(t.gpus), None
        if t.precision in ("32", "32-true"):
            t.precision = "32-true"
        if t.precision not in PRECISIONS:
            raise UserError(f"unknown --precision {t.precision!r}: use 32, bf16-mixed or 16-mixed")
        if t.strategy not in STRATEGIES:
            raise UserError(f"unsupported --strategy {t.strategy!r}: use auto or ddp (maskaae's "
                            "four optimisers train with DDP; sharded strategies are not supported)")
        if not (t.devices == "auto" or t.devices.isdigit() and int(t.devices) >= 1 or t.devices == "-1"
                or "," in t.devices and all(p.strip().isdigit() for p in t.devices.split(","))):
            raise UserError(f"bad --devices {t.devices!r}: give a count (2), a list of ids (0,1) or auto")
        if t.logger not in LOGGERS:
            raise UserError(f"unknown --logger {t.logger!r}: use csv, tensorboard or wandb")


ARCHS = ("auto", "mlp", "conv")
# config fields that `maskaae train` takes as options (--field-name), by section
CLI_FIELDS = {
    "data": ("dataset", "n_true", "data_dim", "data_dir", "download", "image_size", "celeba_crop",
             "num_workers"),
    "model": ("m", "model", "arch"),
    "optim": ("batch_size", "ema_decay"),
    "train": ("max_steps", "seed", "out", "eval_every", "eval_samples", "eval_features", "log_every",
              "ckpt_every", "accelerator", "threads", "overwrite", "progress", "gpus", "devices",
              "num_nodes", "strategy", "precision", "logger", "wandb_project", "wandb_entity",
              "run_name", "tags", "compile"),
}
MAX_SEED = 2**32 - 1  # what torch and numpy take as a seed


def _label(field_name: str) -> str:
    """``train.log_every`` -> ``--log-every`` where it is a train option, else the field name."""
    section, key = field_name.split(".")
    if key in CLI_FIELDS.get(section, ()):
        return f"--{key.replace('_', '-')}"
    return field_name


def _range_checks(cfg: Config) -> list[tuple[str, bool, str]]:
    """(field, within range, what is allowed) for every numeric field."""
    d, m, o, t = cfg.data, cfg.model, cfg.optim, cfg.train

    def at_least(value: float | None, low: float, optional: bool = False) -> bool:
        return (optional and value is None) or (value is not None and value >= low)

    def fraction(value: float | None, optional: bool = False) -> bool:
        return (optional and value is None) or (value is not None and 0.0 <= value <= 1.0)

    whole = "use a whole number of at least"
    frac = "use a fraction of the run in [0, 1]"
    return [
        ("data.num_workers", at_least(d.num_workers, 0, True), f"{whole} 0 (0: load in the main process)"),
        ("data.val_fraction", 0.0 < d.val_fraction < 1.0, "use a fraction in (0, 1)"),
        ("data.split_seed", 0 <= d.split_seed <= MAX_SEED, f"use a seed in [0, {MAX_SEED}]"),
        ("data.image_size", at_least(d.image_size, 4, True), f"{whole} 4 (the conv nets take 32 or 64)"),
        ("data.celeba_crop", d.celeba_crop >= 1, f"{whole} 1"),
        ("data.n_true", d.n_true >= 1, f"{whole} 1"),
        ("data.data_dim", d.data_dim >= 1, f"{whole} 1"),
        ("data.data_hidden", d.data_hidden >= 1, f"{whole} 1"),
        ("data.data_seed", 0 <= d.data_seed <= MAX_SEED, f"use a seed in [0, {MAX_SEED}]"),
        ("data.n_train", d.n_train >= 1, f"{whole} 1"),
        ("data.n_val", d.n_val >= 2, f"{whole} 2"),
        ("data.n_test", d.n_test >= 2, f"{whole} 2"),
        ("model.m", m.m >= 1, f"{whole} 1"),
        ("model.hidden", m.hidden >= 1, f"{whole} 1"),
        ("model.depth", m.depth >= 0, f"{whole} 0"),
        ("model.critic_hidden", m.critic_hidden >= 1, f"{whole} 1"),
        ("model.critic_depth", m.critic_depth >= 0, f"{whole} 0"),
        ("model.conv_channels", m.conv_channels >= 1, f"{whole} 1"),
        ("model.beta_init_min", m.beta_init_min >= 0, "use a value >= 0"),
        ("model.beta_init_max", m.beta_init_max > 0 and m.beta_init_max >= m.beta_init_min,
         "use a value > 0 and >= model.beta_init_min"),
        ("model.active_threshold", 0.0 < m.active_threshold < 1.0, "use an alpha in (0, 1)"),
        ("optim.batch_size", o.batch_size >= 2, f"{whole} 2"),
        ("optim.lr_ae", o.lr_ae > 0, "use a learning rate > 0"),
        ("optim.lr_critic", o.lr_critic > 0, "use a learning rate > 0"),
        ("optim.lr_gen", o.lr_gen > 0, "use a learning rate > 0"),
        ("optim.lr_mask", o.lr_mask >= 0, "use a learning rate >= 0 (0: a frozen mask)"),
        ("optim.n_critic", o.n_critic >= 1, f"{whole} 1"),
        ("optim.gp_weight", o.gp_weight >= 0, "use a weight >= 0"),
        ("optim.var_weight", o.var_weight >= 0, "use a weight >= 0"),
        ("optim.var_sharpness", o.var_sharpness >= 0, "use a value >= 0"),
        ("optim.mask_rec_weight", o.mask_rec_weight >= 0, "use a weight >= 0"),
        ("optim.mask_cycle_weight", o.mask_cycle_weight >= 0, "use a weight >= 0 (0: off)"),
        ("optim.mask_cycle_end_fraction", fraction(o.mask_cycle_end_fraction), frac),
        ("optim.mask_cycle_c_ratio", o.mask_cycle_c_ratio >= 0,
         "use 0 (the fixed cycle weight) or a positive multiple of c"),
        ("optim.reg_c_init", at_least(o.reg_c_init, 0, True), "use a weight >= 0, or null for 2 / m"),
        ("optim.reg_c_max", o.reg_c_max >= 0, "use a weight >= 0"),
        ("optim.reg_watershed", 0.0 < o.reg_watershed < 1.0,
         "use an alpha in (0, 1); 0.5 is the paper's regulariser"),
        ("optim.schedule_period", at_least(o.schedule_period, 1, True),
         f"{whole} 1, or null for the reference rule"),
        ("optim.reg_double_periods", o.reg_double_periods > 0, "use a number of periods > 0"),
        ("optim.lr_drop_periods", o.lr_drop_periods >= 0, "use a number of periods >= 0"),
        ("optim.lr_drop_factor", o.lr_drop_factor > 0, "use a factor > 0 (the rates are divided by it)"),
        ("optim.mask_start", o.mask_start >= 0, f"{whole} 0"),
        ("optim.mask_rec_tolerance", o.mask_rec_tolerance >= 0, "use a value >= 0"),
        ("optim.mask_rec_rate", o.mask_rec_rate >= 0, "use a value >= 0"),
        ("optim.mask_rec_ema", 0.0 <= o.mask_rec_ema < 1.0, "use a decay in [0, 1)"),
        ("optim.mask_rec_weight_min", o.mask_rec_weight_min > 0, "use a weight > 0"),
        ("optim.ramp_start_fraction", fraction(o.ramp_start_fraction), frac),
        ("optim.ramp_end_fraction",
         fraction(o.ramp_end_fraction) and o.ramp_end_fraction >= o.ramp_start_fraction,
         f"{frac}, at least optim.ramp_start_fraction"),
        ("optim.lr_drop_fraction", fraction(o.lr_drop_fraction), frac),
        ("optim.mask_lr_drop_fraction", fraction(o.mask_lr_drop_fraction, True),
         f"{frac}, or null to drop with the auto-encoder's rate"),
        ("optim.mask_freeze_fraction", fraction(o.mask_freeze_fraction, True),
         f"{frac}, or null for a mask that trains to the end"),
        ("optim.ema_decay", 0.0 <= o.ema_decay < 1.0, "use 0 (off) or a decay in (0, 1), such as 0.999"),
        ("train.max_steps", t.max_steps >= 1, f"{whole} 1"),
        ("train.seed", 0 <= t.seed <= MAX_SEED, f"use a seed in [0, {MAX_SEED}]"),
        ("train.log_every", t.log_every >= 1, f"{whole} 1"),
        ("train.eval_every", t.eval_every >= 1, f"{whole} 1"),
        ("train.eval_samples", t.eval_samples >= 2, f"{whole} 2 (a Frechet distance needs 2)"),
        ("train.ckpt_every", t.ckpt_every >= 1, f"{whole} 1"),
        ("train.gpus", at_least(t.gpus, 1, True), f"{whole} 1"),
        ("train.num_nodes", t.num_nodes >= 1, f"{whole} 1"),
        ("train.threads", at_least(t.threads, 1, True), f"{whole} 1, or leave it to torch"),
    ]


SECTIONS = ("data", "model", "optim", "train")


def _coerce(value: Any, annotation: str, where: str) -> Any:
    """Convert ``value`` to the field's type (YAML reads 5e-4 as a string, say)."""
    if value is None:
        if "None" not in annotation:
            raise UserError(f"{where} may not be empty")
        return None
    base = annotation.replace("| None", "").strip()
    try:
        if base == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base == "int":
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) else int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise UserError(f"{where} must be a finite number, got {value!r}")
            return number
        if base == "str":
            return str(value)
    except (TypeError, ValueError, OverflowError):
        kind = {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(base, base)
        raise UserError(f"{where} must be {kind}, got {value!r}") from None
    return value


def bundled_recipes() -> dict[str, Traversable]:
    """The presets installed with the package (``recipes/`` in the source tree), by name."""
    root = files("maskaae_cli.recipes")
    return {r.name[: -len(".yaml")]: r for r in root.iterdir() if r.name.endswith(".yaml")}


def load_recipe(path: str | Path, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a YAML recipe (a file, or the name of a bundled preset), following its ``base:``.

    A recipe may name a base recipe (``base: mnist-cpu``: a preset's name or a file beside it) and
    override some of its fields; the result is the base's fields updated by the recipe's, section by
    section. Raises :class:`UserError` with the fix when the recipe cannot be used.
    """
    p = Path(path)
    bundled = bundled_recipes()
    name = p.name[: -len(".yaml")] if p.name.endswith(".yaml") else p.name
    source: Path | Traversable
    if p.is_file():
        source = p
    elif str(path) in bundled or (p.parent == Path(".") and name in bundled):
        source = bundled[name]
    else:
        raise UserError(f"recipe {str(path)!r} not found: give a YAML file path or one of: "
                        f"{', '.join(sorted(bundled))}")
    label = str(source) if isinstance(source, Path) else f"preset {name}"
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise UserError(f"recipe {label} is not UTF-8 text: save it as UTF-8 YAML") from exc
    except OSError as exc:
        raise UserError(f"cannot read recipe {label} ({exc.strerror or exc}): check its permissions") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"recipe {label} is not valid YAML ({exc.__class__.__name__}); fix the file") from exc
    if not isinstance(raw, dict):
        raise UserError(f"{label}: expected a mapping of sections, got {type(raw).__name__}")
    base = raw.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise UserError(f"{label}: base must name one recipe, got {base!r}")
        key = str(p.resolve()) if isinstance(source, Path) else label
        if key in _chain:
            raise UserError(f"{label}: its base recipes name each other in a circle; fix the base: lines")
        beside = p.parent / base if isinstance(source, Path) else None
        found = beside if beside is not None and beside.is_file() else base
        raw = merge_recipes(load_recipe(found, (*_chain, key)), raw, label)
    Config().update(raw, source=label)  # validate keys early
    return raw


def merge_recipes(base: dict[str, Any], over: dict[str, Any], source: str) -> dict[str, Any]:
    """``base`` with the fields of ``over`` replacing its own, section by section."""
    merged = {section: dict(values or {}) for section, values in base.items()}
    for section, values in over.items():
        if values is not None and not isinstance(values, dict):
            raise UserError(f"{source}: section {section!r} must be a mapping of field: value, "
                            f"not a {type(values).__name__}")
        merged.setdefault(section, {}).update(values or {})
    return merged

