"""Configs read from files: YAML recipes (the bundled presets, files, ``base:`` chains) and the field
names of earlier versions, which recipes, config.yaml files and checkpoints may still hold."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from maskaae_cli.errors import UserError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

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
    from maskaae_cli.config import Config  # config.py reads its legacy names from here

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
