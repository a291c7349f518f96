"""Loading trained models safely: weights_only=True, never unpickling arbitrary objects."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from maskaae_cli.config import Config
from maskaae_cli.divergence import first_non_finite
from maskaae_cli.errors import UserError
from maskaae_cli.model import MaskAAE
from maskaae_cli.replace_journal import recover_near
from maskaae_cli.run_files import FINAL_CHECKPOINT, LAST_CHECKPOINT


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its model.ckpt, else checkpoints/last.ckpt); an interrupted
    ``--overwrite`` of the run folder is finished or undone first."""
    p = Path(path)
    recover_near(p)
    if p.is_dir():
        for candidate in (p / FINAL_CHECKPOINT, p / LAST_CHECKPOINT):
            if candidate.is_file():
                return candidate
        raise UserError(f"no checkpoint in run folder {p}: expected {FINAL_CHECKPOINT} or "
                        f"{LAST_CHECKPOINT} (did the run finish?)")
    if not p.is_file():
        raise UserError(f"checkpoint {p} not found: give a .ckpt file or a run folder")
    return p


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, loaded with ``weights_only=True``.

    Anything that is not a maskaae checkpoint (a text file, a truncated or corrupt file, a
    pickle holding Python objects, a tensor file from another program) raises
    :class:`UserError` with one line that says what is wrong.
    """
    p = resolve_checkpoint(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() and _is_pickle(p):  # a class or function was refused
            raise UserError(f"{p} holds Python objects besides tensors and was refused (maskaae loads "
                            "checkpoints with weights_only=True and never runs code from a file): "
                            "pass a model.ckpt written by 'maskaae train'") from exc
        raise _unreadable(p, exc) from exc
    except Exception as exc:  # torch.load reports bad bytes through many exception types
        raise _unreadable(p, exc) from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise UserError(f"{p} is not a maskaae checkpoint (no state_dict / hyper_parameters): "
                        "pass a model.ckpt written by 'maskaae train'")
    return ckpt


def _is_pickle(p: Path) -> bool:
    """Whether ``p`` starts as a pickle (PROTO 2..5) or a torch.save zip does; random bytes do not."""
    with p.open("rb") as f:
        head = f.read(4)
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") or head == b"PK\x03\x04"


def _unreadable(p: Path, exc: BaseException) -> UserError:
    text = str(exc).strip()
    first = text.splitlines()[0].split(". ")[0] if text else ""
    reason = f"{type(exc).__name__}: {first[:120]}" if first else type(exc).__name__
    return UserError(f"{p} is not a readable maskaae checkpoint ({reason}); it may be truncated, "
                     "corrupt or from another program")


def saved_config(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The config a checkpoint was trained with; one that holds no moving average (written before
    ``optim.ema_decay`` existed, or with it at 0) gets ``ema_decay: 0``, so the model rebuilt from it
    has the same parameters as the file."""
    config = ckpt["hyper_parameters"]["config"]
    if any(k.startswith("ema.") for k in ckpt["state_dict"]):
        return config
    return {**config, "optim": {**config.get("optim", {}), "ema_decay": 0.0}}


def load_model(path: str | Path, device: str | torch.device = "cpu") -> MaskAAE:
    """Rebuild a trained :class:`MaskAAE` from a checkpoint, in eval mode."""
    ckpt = load_checkpoint_dict(path)
    hp = ckpt["hyper_parameters"]
    try:
        model = MaskAAE(Config.from_dict(saved_config(ckpt)), tuple(hp["data_shape"]), hp["is_image"])
        model.load_state_dict(ckpt["state_dict"])
        model.step_count = int(ckpt.get("global_step", 0)) // model.opt_steps_per_iter
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise UserError(f"{path} does not match this version of maskaae ({type(exc).__name__}): "
                        "retrain, or load it with the maskaae version that wrote it") from exc
    bad = first_non_finite(model.state_dict().items())
    if bad is not None:
        raise UserError(f"{resolve_checkpoint(path)} holds non-finite weights ({bad}): the run diverged; "
                        "use an earlier checkpoint, or train again with lower learning rates")
    return model.to(device).eval()
