"""A run's config from the command line: the defaults, the recipe or the dataset's preset, the options.

Which preset a run gets when no --recipe is given: the dataset's, sized for what it trains on.

Every built-in dataset has a paper-scale preset (500,000 iterations, the reference constants: a
GPU run); MNIST and Fashion-MNIST also have one sized for a CPU. ``folder:`` and ``idx:`` data take
the preset of the built-in dataset closest in shape (grey images -> MNIST, colour 32 -> CIFAR-10,
larger colour images -> CelebA).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskaae_cli.config import CLI_FIELDS, Config, load_recipe
from maskaae_cli.errors import UserError

PAPER_SCALE = {"synthetic": "synthetic", "mnist": "mnist", "fashion-mnist": "fashion-mnist",
               "cifar10": "cifar10", "celeba": "celeba"}
CPU_SIZED = {"mnist": "mnist-cpu", "fashion-mnist": "fashion-mnist-cpu", "cifar10": "cifar10-cpu",
             "celeba": "celeba-cpu"}
DEFAULT_IMAGE_SIZE = 64  # folder: images are resized to --image-size, this by default


@dataclass(frozen=True)
class PresetChoice:
    """The preset a run takes and, in words, why."""

    name: str
    reason: str
    keep_dataset: bool = False  # folder: / idx: data keep their own --dataset over the preset's


def idx_shape(path: Path) -> tuple[int, int, int]:
    """(1, H, W) from an IDX image file's header, or from the first one in a folder."""
    if path.is_dir():
        found = sorted(path.glob("*-images-idx3-ubyte*")) or sorted(path.glob("*idx3-ubyte*"))
        if not found:
            raise UserError(f"{path} holds no IDX image file (*-images-idx3-ubyte[.gz]): give --dataset "
                            "idx:PATH with an IDX file or a folder of them")
        path = found[0]
    if not path.is_file():
        raise UserError(f"{path} does not exist: give --dataset idx:PATH with an IDX image file or a folder")
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as f:
            header = f.read(16)
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read {path} ({exc}): replace it") from exc
    if len(header) < 16 or header[:4] != b"\x00\x00\x08\x03":
        raise UserError(f"{path} is not an IDX file of uint8 images: replace it")
    return 1, int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")


def folder_shape(path: Path, image_size: int | None) -> tuple[int, int, int]:
    """(C, S, S) that ``folder:PATH`` loads as: C = 1 when every image is grey, S = --image-size."""
    from maskaae_cli.data.folder import all_grey, list_images

    size = image_size or DEFAULT_IMAGE_SIZE
    return (1 if all_grey(list_images(path)) else 3), size, size


def closest_builtin(shape: tuple[int, int, int]) -> str:
    """The built-in dataset whose preset fits data of ``shape`` (C, H, W) best."""
    channels, height, _ = shape
    if channels == 1:
        return "mnist"
    return "cifar10" if height <= 48 else "celeba"


def choose_preset(dataset: str, on_gpu: bool, image_size: int | None = None) -> PresetChoice:
    """The preset for ``--dataset`` when no --recipe is given (``on_gpu``: what the run trains on)."""
    where = "a GPU" if on_gpu else "the CPU"
    if dataset == "synthetic":
        return PresetChoice("synthetic", "the embedded synthetic data (the defaults)")
    if dataset in PAPER_SCALE:
        if not on_gpu and dataset in CPU_SIZED:
            return PresetChoice(CPU_SIZED[dataset], f"--dataset {dataset} on {where}; '--recipe {dataset}' "
                                "is the paper-scale preset for GPUs")
        scale = "the paper-scale preset, 500,000 iterations" + (
            "" if on_gpu else f": there is no CPU-sized one for {dataset}, shorten it with --max-steps")
        return PresetChoice(PAPER_SCALE[dataset], f"--dataset {dataset} on {where} ({scale})")
    kind, _, rest = dataset.partition(":")
    path = Path(rest).expanduser()
    shape = idx_shape(path) if kind == "idx" else folder_shape(path, image_size)
    family = closest_builtin(shape)
    inner = choose_preset(family, on_gpu)
    shape_text = f"{'grey' if shape[0] == 1 else 'colour'} {shape[1]}x{shape[2]}"
    return PresetChoice(inner.name, f"{kind}: data of {shape_text} images is closest to {family}, "
                        f"on {where}", keep_dataset=True)


def runs_on_gpu(accelerator: str | None, gpus: int | None) -> bool:
    """Whether the train options put the run on a GPU (``auto``: when one is present)."""
    if gpus is not None:
        return True
    if accelerator in ("gpu", "cuda"):
        return True
    if accelerator not in (None, "auto"):
        return False
    import torch

    return torch.cuda.is_available()


FIELD_NAMES = {"compile_nets": "compile"}  # options whose config field is named differently
# Which config section each train option sets (the option name is the field name).
OPTION_SECTIONS = {next((o for o, f in FIELD_NAMES.items() if f == name), name): section
                   for section, names in CLI_FIELDS.items() for name in names}


def config_overrides(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{section: {field: value}} from train option values (paths become strings; others pass)."""
    overrides: dict[str, dict[str, Any]] = {}
    for name, value in options.items():
        if name in OPTION_SECTIONS:
            overrides.setdefault(OPTION_SECTIONS[name], {})[FIELD_NAMES.get(name, name)] = (
                str(value) if isinstance(value, Path) else value)
    return overrides


def build_config(recipe: str | None, overrides: dict[str, dict]) -> tuple[Config, str]:
    """Defaults, then the recipe (without one: the dataset's preset), then the command line's options.

    Returns the config and one line that names the recipe or preset and why it was taken.
    """
    cfg = Config()
    given = {s: {k: v for k, v in fields.items() if v is not None} for s, fields in overrides.items()}
    if recipe:
        cfg.update(load_recipe(recipe), source=recipe)
        name, line = recipe, f"recipe {recipe} (--recipe)"
    else:
        data, t = given.get("data", {}), given.get("train", {})
        choice = choose_preset(str(data.get("dataset", cfg.data.dataset)),
                               runs_on_gpu(t.get("accelerator"), t.get("gpus")), data.get("image_size"))
        preset = load_recipe(choice.name)
        if choice.keep_dataset:  # folder: / idx: data: the preset's nets and schedule, the user's data
            preset = {**preset, "data": {k: v for k, v in preset.get("data", {}).items() if k != "dataset"}}
        cfg.update(preset, source=f"preset {choice.name}")
        name, line = choice.name, f"preset {choice.name}: {choice.reason}"
    cfg.update(given)
    cfg.train.recipe = name
    cfg.validate()
    return cfg, line
