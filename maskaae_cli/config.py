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
from maskaae_cli.schedule import (
    MASK_FIELDS,
    MaskConfig,
    MaskSchedule,
    build_schedule,
    reference_period,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

DATASETS = ("synthetic", "mnist", "fashion-mnist", "cifar10", "celeba")
MODELS = ("maae", "wae")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")  # "32" is read as "32-true"
LOGGERS = ("csv", "tensorboard", "wandb")
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
# Fields only the mask reads (the mask: section): WAE trains the same whatever they are.
MASK_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"mask": MASK_FIELDS}
# Names of earlier versions (recipes, config.yaml, checkpoints) -> where the field lives now.
LEGACY_FIELDS: dict[tuple[str, str], tuple[str, str]] = {
    ("model", "beta_init_min"): ("mask", "beta_init_min"),
    ("model", "beta_init_max"): ("mask", "beta_init_max"),
    ("model", "active_threshold"): ("mask", "active_threshold"), ("optim", "lr_mask"): ("mask", "lr"),
    ("optim", "var_weight"): ("mask", "var_weight"), ("optim", "var_sharpness"): ("mask", "var_sharpness"),
    ("optim", "mask_rec_weight"): ("mask", "rec_weight"),
    ("optim", "mask_cycle_weight"): ("mask", "cycle_weight"),
    ("optim", "mask_cycle_end_fraction"): ("mask", "cycle_end_fraction"),
    ("optim", "mask_cycle_c_ratio"): ("mask", "cycle_c_ratio"), ("optim", "reg_c_init"): ("mask", "c_init"),
    ("optim", "reg_c_max"): ("mask", "c_max"), ("optim", "reg_watershed"): ("mask", "watershed"),
    ("optim", "reg_double_periods"): ("mask", "c_double_periods"), ("optim", "mask_start"): ("mask", "start"),
    ("optim", "ramp_start_fraction"): ("mask", "ramp_start_fraction"),
    ("optim", "ramp_end_fraction"): ("mask", "ramp_end_fraction"),
    ("optim", "mask_lr_drop_fraction"): ("mask", "lr_drop_fraction"),
    ("optim", "mask_freeze_fraction"): ("mask", "freeze_fraction"),
}
# The adaptive reconstruction weight of round 2 (removed): its fields load while they hold the inert values.
REMOVED_FIELDS = {"mask_rec_control": "fixed", "mask_rec_tolerance": None, "mask_rec_rate": None,
                  "mask_rec_ema": None, "mask_rec_weight_min": None}


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
    # synthetic data: x = f(z), z ~ N(0, I_n_true), f a fixed random 2-layer net into R^data_dim
    n_true: int = 8
    data_dim: int = 128
    data_hidden: int = 128
    data_seed: int = 0
    n_train: int = 50_000
    n_val: int = 5_000
    n_test: int = 10_000


@dataclass
class ModelConfig:
    """The model and its nets (the mask's settings are the mask: section)."""

    model: str = "maae"  # "maae" or "wae" (the same nets with no mask)
    m: int = 32
    arch: str = "auto"  # "mlp", "conv" or "auto" (by data shape)
    hidden: int = 128  # MLP width (the reference MNIST nets use 1024)
    depth: int = 3  # MLP hidden layers (the reference uses 4)
    critic_hidden: int = 128
    critic_depth: int = 3
    conv_channels: int = 64  # conv nets: channels of the first layer
    rec_loss: str = "auto"  # "bce", "mse" or "auto" (bce for images, mse for vectors)


@dataclass
class OptimConfig:
    """The four optimisers and the learning-rate schedule (the mask's own: the mask: section).

    The defaults are the synthetic preset's: the paper's values except where docs/algorithm.md
    says otherwise; benchmarks/mask-schedule.md has the measurements that chose them.
    """

    batch_size: int = 64
    lr_ae: float = 5e-4  # the auto-encoder's RMSProp learning rate
    lr_critic: float = 3e-4  # the critic's (the paper: 1e-4)
    lr_gen: float = 1e-4  # the encoder-as-generator step's
    n_critic: int = 5  # critic steps per iteration, each on a fresh mini-batch
    gp_weight: float = 10.0  # the gradient penalty's weight in the critic loss
    # "budget": the phases as fractions of --max-steps; "reference": the paper's, in periods T
    schedule: str = "budget"
    schedule_period: int | None = None  # reference: T (None: 75 if m <= 20, else min(10000, 112.5 m))
    lr_drop_periods: float = 5.0  # reference: the rates drop at this many T
    lr_drop_factor: float = 5.0  # the rates are divided by this when they drop
    lr_drop_fraction: float = 0.3  # budget: the auto-encoder's rate drops at this fraction of the run
    # Generation (sample, fid, the evaluations) uses an exponential moving average of the decoder
    # and mask with this decay per iteration (capped on short runs: ema_decay_for); 0 turns it off.
    # It does not change training.
    ema_decay: float = 0.999

    def ema_decay_for(self, max_steps: int) -> float:
        """ema_decay, capped so that the average spans at most a fifth of a short run (its time
        constant 1 / (1 - decay) <= max_steps / 5); runs of 5,000+ steps keep 0.999 as it is."""
        return min(self.ema_decay, max(0.0, 1.0 - 5.0 / max_steps)) if self.ema_decay > 0 else 0.0

    def period(self, m: int) -> int:
        return self.schedule_period if self.schedule_period else reference_period(m)


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
    # image runs: the feature space of the evaluations' Frechet distance ("auto": Inception on a GPU,
    # none on a CPU; "inception", a TorchScript file, or "none"); vectors are always compared as they are
    eval_features: str = "auto"
    ckpt_every: int = 5_000
    logger: str = "csv"
    wandb_project: str | None = None  # None: "maskaae"
    wandb_entity: str | None = None
    run_name: str | None = None  # None: the run folder's name
    tags: str = ""  # comma-separated logger tags
    progress: bool = True
    threads: int | None = None  # torch CPU threads; None: chosen from the nets and the free cores
    recipe: str | None = None  # the preset or recipe this config was built from (recorded only)
    compile: bool = False  # torch.compile the nets (opt-in; the critic's gradient penalty stays eager)
    # replay each iteration as a CUDA graph (one GPU, 32-bit); None: the default of graph_policy.py (off)
    cuda_graphs: bool | None = None


@dataclass
class Config:
    """Everything one run needs; saved beside its checkpoint."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def schedule(self) -> MaskSchedule:
        """The run's schedule (maskaae_cli/schedule.py) for its m and --max-steps."""
        o, m = self.optim, self.model.m
        return build_schedule(self.mask, m, self.train.max_steps, schedule=o.schedule,
                              lr_drop_fraction=o.lr_drop_fraction, lr_drop_factor=o.lr_drop_factor,
                              period=o.period(m), lr_drop_periods=o.lr_drop_periods)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Config:
        cfg = cls()
        cfg.update(raw, source)
        return cfg

    def update(self, raw: dict[str, Any], source: str = "config") -> None:
        """Set the fields that ``raw`` names ({section: {field: value}}); unknown keys are errors."""
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
        raw = translate_legacy(raw, source)
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
                                           ("optim.schedule", o.schedule, ("reference", "budget"))):
            if value not in allowed:
                raise UserError(f"unknown {_label(field_name)} {value!r}: use one of {', '.join(allowed)}")
        for section in SECTIONS:  # before any range check: no count may reach the allocator or C code
            for f in dataclasses.fields(getattr(self, section)):
                value = getattr(getattr(self, section), f.name)
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                    raise UserError(f"{_label(f'{section}.{f.name}')} {value} is too large: use at most "
                                    f"{MAX_INT}")
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
        if t.cuda_graphs is not None and not isinstance(t.cuda_graphs, bool):
            raise UserError(f"--cuda-graphs {t.cuda_graphs!r}: use true, false or null (the default)")
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
              "run_name", "tags", "compile", "cuda_graphs"),
}
MAX_SEED = 2**32 - 1  # what torch and numpy take as a seed
MAX_INT = MAX_SEED  # no integer field may be larger (counts this size would not fit in memory anyway)
MAX_IMAGE_SIZE = 2048


def _label(field_name: str) -> str:
    """``train.log_every`` -> ``--log-every`` where it is a train option, else the field name."""
    section, key = field_name.split(".")
    if key in CLI_FIELDS.get(section, ()):
        return f"--{key.replace('_', '-')}"
    return field_name


def _range_checks(cfg: Config) -> list[tuple[str, bool, str]]:
    """(field, within range, what is allowed) for every numeric field."""
    d, m, o, k, t = cfg.data, cfg.model, cfg.optim, cfg.mask, cfg.train

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
        ("data.image_size", d.image_size is None or 4 <= d.image_size <= MAX_IMAGE_SIZE,
         f"use a whole number from 4 to {MAX_IMAGE_SIZE} (the conv nets take 32 or 64)"),
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
        ("optim.batch_size", o.batch_size >= 2, f"{whole} 2"),
        ("optim.lr_ae", o.lr_ae > 0, "use a learning rate > 0"),
        ("optim.lr_critic", o.lr_critic > 0, "use a learning rate > 0"),
        ("optim.lr_gen", o.lr_gen > 0, "use a learning rate > 0"),
        ("optim.n_critic", o.n_critic >= 1, f"{whole} 1"),
        ("optim.gp_weight", o.gp_weight >= 0, "use a weight >= 0"),
        ("optim.schedule_period", at_least(o.schedule_period, 1, True),
         f"{whole} 1, or null for the reference rule"),
        ("optim.lr_drop_periods", o.lr_drop_periods >= 0, "use a number of periods >= 0"),
        ("optim.lr_drop_factor", o.lr_drop_factor > 0, "use a factor > 0 (the rates are divided by it)"),
        ("optim.lr_drop_fraction", fraction(o.lr_drop_fraction), frac),
        ("optim.ema_decay", 0.0 <= o.ema_decay < 1.0, "use 0 (off) or a decay in (0, 1), such as 0.999"),
        ("mask.beta_init_min", k.beta_init_min >= 0, "use a value >= 0"),
        ("mask.beta_init_max", k.beta_init_max > 0 and k.beta_init_max >= k.beta_init_min,
         "use a value > 0 and >= mask.beta_init_min"),
        ("mask.active_threshold", 0.0 < k.active_threshold < 1.0, "use an alpha in (0, 1)"),
        ("mask.lr", k.lr >= 0, "use a learning rate >= 0 (0: a frozen mask)"),
        ("mask.var_weight", k.var_weight >= 0, "use a weight >= 0"),
        ("mask.var_sharpness", k.var_sharpness >= 0, "use a value >= 0"),
        ("mask.rec_weight", k.rec_weight >= 0, "use a weight >= 0"),
        ("mask.cycle_weight", k.cycle_weight >= 0, "use a weight >= 0 (0: off)"),
        ("mask.cycle_end_fraction", fraction(k.cycle_end_fraction), frac),
        ("mask.cycle_c_ratio", k.cycle_c_ratio >= 0,
         "use 0 (the fixed cycle weight) or a positive multiple of c"),
        ("mask.c_init", at_least(k.c_init, 0, True), "use a weight >= 0, or null for 2 / m"),
        ("mask.c_max", k.c_max >= 0, "use a weight >= 0"),
        ("mask.watershed", 0.0 < k.watershed < 1.0,
         "use an alpha in (0, 1); 0.5 is the paper's regulariser"),
        ("mask.c_double_periods", k.c_double_periods > 0, "use a number of periods > 0"),
        ("mask.start", k.start >= 0, f"{whole} 0"),
        ("mask.ramp_start_fraction", fraction(k.ramp_start_fraction), frac),
        ("mask.ramp_end_fraction",
         fraction(k.ramp_end_fraction) and k.ramp_end_fraction >= k.ramp_start_fraction,
         f"{frac}, at least mask.ramp_start_fraction"),
        ("mask.lr_drop_fraction", fraction(k.lr_drop_fraction, True),
         f"{frac}, or null to drop with the auto-encoder's rate"),
        ("mask.freeze_fraction", fraction(k.freeze_fraction, True),
         f"{frac}, or null for a mask that trains to the end"),
        ("train.max_steps", t.max_steps >= 1, f"{whole} 1"),
        ("train.seed", 0 <= t.seed <= MAX_SEED, f"use a seed in [0, {MAX_SEED}]"),
        ("train.log_every", t.log_every >= 1, f"{whole} 1"),
        ("train.eval_every", t.eval_every >= 1, f"{whole} 1"),
        ("train.eval_samples", t.eval_samples >= 2, f"{whole} 2 (a Frechet distance needs 2)"),
        ("train.ckpt_every", t.ckpt_every >= 1, f"{whole} 1"),
        ("train.gpus", at_least(t.gpus, 1, True), f"{whole} 1"),
        ("train.num_nodes", t.num_nodes >= 1, f"{whole} 1"),
        ("train.threads", at_least(t.threads, 1, True), f"{whole} 1, or leave it out to have it chosen"),
    ]


SECTIONS = ("data", "model", "optim", "mask", "train")


def translate_legacy(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """``raw`` with the field names of earlier versions moved to where they live now (LEGACY_FIELDS);
    the removed adaptive reconstruction weight is dropped while it holds its inert value."""
    if not any(isinstance(v, dict) and any((s, k) in LEGACY_FIELDS or k in REMOVED_FIELDS for k in v)
               for s, v in raw.items()):
        return raw
    out: dict[str, Any] = {}
    for section, values in raw.items():
        if not isinstance(values, dict):
            out[section] = values
            continue
        for key, value in values.items():
            if section == "optim" and key in REMOVED_FIELDS:
                if key == "mask_rec_control" and value not in (None, "fixed"):
                    raise UserError(f"{source}: optim.mask_rec_control {value!r}: the adaptive "
                                    "reconstruction weight was removed in 0.1.0; use a fixed mask.rec_weight")
                continue
            new_section, new_key = LEGACY_FIELDS.get((section, key), (section, key))
            out.setdefault(new_section, {})[new_key] = value
    return out


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
    except RecursionError as exc:
        raise UserError(f"recipe {label} is nested too deeply to read: a recipe is a mapping of sections "
                        "of field: value; fix the file") from exc
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

