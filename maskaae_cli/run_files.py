"""The names of the files in a run folder: every module that reads or writes one takes it from here."""

from __future__ import annotations

import re
from pathlib import Path

FINAL_CHECKPOINT = "model.ckpt"  # the finished run's full state
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = f"{CHECKPOINT_DIR}/last.ckpt"  # the latest periodic (or interrupted) checkpoint
CONFIG = "config.yaml"  # the resolved configuration
RUN_RECORD = "run.json"  # seed, command, versions, git state: what marks a folder as a run folder
METRICS = "metrics.csv"
HPARAMS = "hparams.yaml"  # written by Lightning's CSV logger
LOGGER_RECORD = "logger.json"
MASK_HISTORY = "mask_history.csv"
MASK_PLOT = "mask_trajectory.png"
SUMMARY = "summary.json"  # written only by a run that finished
FID_RECORD = "fid.json"  # `maskaae fid RUN --json`, kept by sweep-m for image runs
LOCK = "run.lock"  # the process that trains in the folder
TRAVERSE_PICTURE = "traverse.png"  # `maskaae traverse RUN`: an image grid, or a vector model's change plot
TRAVERSE_TENSORS = "traverse.npz"  # its raw tensors
TRAVERSE_CHANGES = "traverse.csv"  # vectors: the change of the decoded vector per dimension and value
TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"

RUN_FILES = frozenset({FINAL_CHECKPOINT, CONFIG, RUN_RECORD, METRICS, HPARAMS, LOGGER_RECORD, MASK_HISTORY,
                       MASK_PLOT, SUMMARY, FID_RECORD, LOCK, TRAVERSE_PICTURE, TRAVERSE_TENSORS,
                       TRAVERSE_CHANGES})
RUN_DIRS = frozenset({CHECKPOINT_DIR, TENSORBOARD_DIR, WANDB_DIR})
# copies a resumed run keeps of a finished run's files (model.iter1000.ckpt), and temporary files
_KEPT_COPY = re.compile(r"^(model\.iter\d+\.ckpt|summary\.iter\d+\.json)$")
_TEMPORARY = re.compile(r"^\..+\.tmp(\.\w+)?$")


def is_run_file(name: str) -> bool:
    """Whether a top-level name in a folder is one that `maskaae train` writes."""
    return (name in RUN_FILES or name in RUN_DIRS or bool(_KEPT_COPY.match(name))
            or bool(_TEMPORARY.match(name)))


def foreign_entries(folder: Path) -> list[str]:
    """The top-level names in ``folder`` that no maskaae run writes (sorted)."""
    return sorted(p.name for p in folder.iterdir() if not is_run_file(p.name))
