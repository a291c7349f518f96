"""Loading trained models safely: weights_only=True, never unpickling arbitrary objects."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from maskaae_cli.errors import UserError
from maskaae_cli.model import MaskAAE

FINAL_CHECKPOINT = "model.ckpt"


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its model.ckpt, else checkpoints/last.ckpt)."""
    p = Path(path)
    if p.is_dir():
        for candidate in (p / FINAL_CHECKPOINT, p / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise UserError(f"no checkpoint in run folder {p}: expected {FINAL_CHECKPOINT} or "
                        "checkpoints/last.ckpt (did the run finish?)")
    if not p.is_file():
        raise UserError(f"checkpoint {p} not found: give a .ckpt file or a run folder")
    return p


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, loaded with ``weights_only=True``."""
    p = resolve_checkpoint(path)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{p} is not a readable maskaae checkpoint ({first[:160]}); "
                        "it may be truncated, corrupt or from another program") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise UserError(f"{p} is not a maskaae checkpoint (no state_dict / hyper_parameters): "
                        "pass a model.ckpt written by 'maskaae train'")
    return ckpt


def load_model(path: str | Path, device: str | torch.device = "cpu") -> MaskAAE:
    """Rebuild a trained :class:`MaskAAE` from a checkpoint, in eval mode."""
    ckpt = load_checkpoint_dict(path)
    hp = ckpt["hyper_parameters"]
    try:
        model = MaskAAE(hp["config"], tuple(hp["data_shape"]), hp["is_image"])
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path} does not match this version of maskaae ({type(exc).__name__}): "
                        "retrain, or load it with the maskaae version that wrote it") from exc
    model.step_count = int(ckpt.get("global_step", 0)) // model.opt_steps_per_iter
    return model.to(device).eval()
