"""Helpers the tests share: a tiny config that trains in seconds (also as a recipe file), a folder's
bytes, and a pickle that proves whether a loader ran the code it carries.

Imported by subprocess scripts too (ddp_script.py): it loads no more than the config.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from maskaae_cli.config import Config

# the train fields a sweep's recipe keeps: the rest comes from the command line and the defaults
PERIODS = ("eval_every", "log_every", "ckpt_every", "eval_samples")
# `maskaae train` options for a tiny synthetic run of 12 iterations (seconds)
TINY = ["--n-true", "2", "--data-dim", "16", "--m", "6", "--max-steps", "12", "--eval-every", "6",
        "--log-every", "3", "--ckpt-every", "6", "--threads", "1", "--no-progress"]


def tiny_config(out: Path, **sections: dict) -> Config:
    """A synthetic config small enough to train in a couple of seconds."""
    cfg = Config.from_dict({
        "data": {"n_true": 2, "data_dim": 16, "data_hidden": 16, "n_train": 512, "n_val": 128,
                 "n_test": 256},
        "model": {"m": 6, "hidden": 16, "depth": 1, "critic_hidden": 16, "critic_depth": 1},
        "optim": {"batch_size": 16, "n_critic": 2, "schedule": "reference", "schedule_period": 5},
        "mask": {"start": 0},
        "train": {"max_steps": 20, "eval_every": 10, "log_every": 5, "ckpt_every": 10,
                  "eval_samples": 128, "out": str(out), "progress": False, "threads": 1},
    })
    cfg.update(sections)
    return cfg


def tiny_recipe(path: Path, train: Iterable[str] = (), **sections: dict) -> Path:
    """:func:`tiny_config` (with ``sections`` changed) as the recipe file ``path``, keeping only the
    ``train`` fields named (the command line gives the rest)."""
    import yaml

    cfg = tiny_config(path.parent / "unused", **sections).to_dict()
    kept = {k: cfg["train"][k] for k in train}
    if kept:
        cfg["train"] = kept
    else:
        del cfg["train"]
    path.write_text(yaml.safe_dump(cfg))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Payload:
    """Unpickling this calls open(marker, 'w'): proof of whether a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))
