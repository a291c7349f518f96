"""A run's config from the command line: the defaults, the recipe or the dataset's preset, the options.

Which preset a run gets when no --recipe is given: the dataset's (maskaae_cli/data/registry.py),
sized for what it trains on. Every built-in dataset has a paper-scale preset (500,000 iterations,
the reference constants: a GPU run); most also have one sized for a CPU. ``folder:`` and ``idx:``
data take the preset of the built-in dataset closest in shape (grey images -> MNIST, colour 32 ->
CIFAR-10, larger colour images -> CelebA).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskaae_cli.config import OPTION, Config, DataConfig, option_fields
from maskaae_cli.data.registry import closest_builtin, lookup
from maskaae_cli.recipe import load_recipe


@dataclass(frozen=True)
class PresetChoice:
    """The preset a run takes and, in words, why."""

    name: str
    reason: str
    keep_dataset: bool = False  # folder: / idx: data keep their own --dataset over the preset's


def choose_preset(dataset: str, on_gpu: bool, image_size: int | None = None) -> PresetChoice:
    """The preset for ``--dataset`` when no --recipe is given (``on_gpu``: what the run trains on)."""
    where = "a GPU" if on_gpu else "the CPU"
    entry = lookup(dataset)
    if entry.at_path:
        shape = entry.shape(DataConfig(dataset=dataset, image_size=image_size))
        family = closest_builtin(shape)
        inner = choose_preset(family.name, on_gpu)
        shape_text = f"{'grey' if shape[0] == 1 else 'colour'} {shape[1]}x{shape[2]}"
        return PresetChoice(inner.name, f"{entry.name} data of {shape_text} images is closest to "
                            f"{family.name}, on {where}", keep_dataset=True)
    paper = entry.presets[0]
    if entry.preset_reason:
        return PresetChoice(paper, entry.preset_reason)
    if not on_gpu and entry.cpu_preset:
        return PresetChoice(entry.cpu_preset, f"--dataset {dataset} on {where}; '--recipe {paper}' is the "
                            "paper-scale preset for GPUs")
    scale = "the paper-scale preset, 500,000 iterations" + (
        "" if on_gpu else f": there is no CPU-sized one for {dataset}, shorten it with --max-steps")
    return PresetChoice(paper, f"--dataset {dataset} on {where} ({scale})")


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


def config_overrides(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{section: {field: value}} from train option values: paths become strings, a bare flag not given
    (False) becomes None (not given); names that are not config options are left out."""
    overrides: dict[str, dict[str, Any]] = {}
    fields = option_fields()
    for name, given in options.items():
        if name in fields:
            section, f = fields[name]
            value = None if given is False and f.metadata[OPTION].kind == "flag" else given
            overrides.setdefault(section, {})[name] = str(value) if isinstance(value, Path) else value
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
