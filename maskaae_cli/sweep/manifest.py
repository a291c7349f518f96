"""DIR/sweep.json: the options a sweep folder was made with, so another sweep is never mixed in."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maskaae_cli.atomic_io import atomic_write_text
from maskaae_cli.config import MASK_ONLY_FIELDS
from maskaae_cli.errors import UserError
from maskaae_cli.recipe import translate_legacy
from maskaae_cli.sweep.plan import RunSpec
from maskaae_cli.sweep.results import read_json

MANIFEST = "sweep.json"
# Per-run fields (the sweep sets them) and where/how fields (they do not change what is trained;
# CUDA graphs train the same algorithm, drawing the same kinds of noise in another order).
NOT_IDENTITY = {
    "model": ("model", "m"),
    "train": ("seed", "out", "overwrite", "progress", "threads", "accelerator", "devices", "num_nodes",
              "strategy", "recipe", "cuda_graphs"),
    "data": ("data_dir", "download", "num_workers"),
}


def identity(config: dict[str, Any], fid_n: int) -> dict[str, Any]:
    """What must be equal for two sweeps to share a folder: the resolved training config and fid -n."""
    same = {section: {k: v for k, v in values.items() if k not in NOT_IDENTITY.get(section, ())}
            for section, values in config.items()}
    return {"config": same, "fid_n": fid_n}


def without_mask_fields(ident: dict[str, Any]) -> dict[str, Any]:
    """``ident`` less the fields only the mask reads (``MASK_ONLY_FIELDS``): what WAE runs depend on."""
    config = {section: {k: v for k, v in values.items() if k not in MASK_ONLY_FIELDS.get(section, ())}
              for section, values in ident.get("config", {}).items()}
    return {**ident, "config": config}


def _first_difference(old: Any, new: Any, where: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return None if old == new else (where, old, new)


def open_sweep(sweep_dir: Path, ident: dict[str, Any], runs: list[RunSpec],
               train_args: list[str], write: bool = True) -> list[RunSpec]:
    """Create or reopen DIR/sweep.json; return every run of the study (earlier grids included).

    An existing folder made with other training options is an error; more m values, models or
    seeds join the study. The mask's settings (``MASK_ONLY_FIELDS``) count only when the folder
    holds MaskAAE runs and more are asked for: WAE runs train the same whatever they are.
    ``write=False`` checks without writing (a dry run).
    """
    path = sweep_dir / MANIFEST
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise UserError(f"--out {sweep_dir} is a file, not a folder: choose another --out")
    old = read_json(path) if path.exists() else None
    if path.exists() and old is None:
        raise UserError(f"{path} is not readable JSON: fix or delete it, or choose another --out")
    if old is None and sweep_dir.is_dir() and any(sweep_dir.iterdir()):
        raise UserError(f"--out {sweep_dir} exists and is not a sweep folder (no {MANIFEST}): "
                        "choose another --out")
    known: list[RunSpec] = []
    if old is not None:
        known = [RunSpec(r["seed"], r["m"], r["model"]) for r in old.get("runs", [])]
        # the mask's settings matter only where MaskAAE runs are in the folder and asked for
        holds_maae = any(r.model == "maae" for r in known)
        masked = holds_maae and any(r.model == "maae" for r in runs)
        old_ident = old.get("identity") or {}
        if isinstance(old_ident.get("config"), dict):  # a folder made before the mask: section existed
            old_ident = {**old_ident, "config": translate_legacy(old_ident["config"], str(path))}
        diff = (_first_difference(old_ident, ident) if masked
                else _first_difference(without_mask_fields(old_ident), without_mask_fields(ident)))
        if diff:
            key, was, now = diff
            raise UserError(f"{sweep_dir} holds a sweep made with other training options "
                            f"({key.removeprefix('config.')}: "
                            f"{json.dumps(was)} there, {json.dumps(now)} here): repeat its options "
                            f"(see {path}) or choose another --out")
        if holds_maae and not masked:
            ident = old_ident  # keep the mask settings the folder's MaskAAE runs were trained with
    every = sorted(set(known) | set(runs))
    if not write:
        return every
    now_iso = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = {"identity": ident, "train_args": train_args,
              "runs": [{"model": r.model, "m": r.m, "seed": r.seed} for r in every],
              "created": (old or {}).get("created", now_iso), "updated": now_iso}
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return every
