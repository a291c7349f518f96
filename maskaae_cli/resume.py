"""`maskaae train --resume RUN_DIR|CKPT`: find the checkpoint, rebuild the config, keep the folder.

Everything a run continues with comes from the checkpoint (loaded with weights_only=True):
the model, the four optimisers' states, Lightning's loop counters and the mask history.
The mask regulariser weight and the learning rates are functions of the iteration
(maskaae_cli/schedule.py), so restoring the step count restores them.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maskaae_cli.atomic_io import write_json
from maskaae_cli.checkpoint import load_checkpoint_dict, saved_config
from maskaae_cli.config import Config
from maskaae_cli.errors import UserError
from maskaae_cli.iteration import steps_per_iteration
from maskaae_cli.replace_journal import recover_near
from maskaae_cli.run_files import FINAL_CHECKPOINT, LAST_CHECKPOINT, RUN_RECORD, SUMMARY
from maskaae_cli.run_folder import check_resumable, read_record, run_folder_of
from maskaae_cli.run_lock import check_unlocked

# train options a resumed run may change; everything else is the checkpoint's
RESUMABLE = ("max_steps", "log_every", "eval_every", "eval_samples", "ckpt_every", "gpus",
             "accelerator", "devices", "num_nodes", "strategy", "precision", "progress", "threads",
             "cuda_graphs")


@dataclass
class ResumePoint:
    """Where a run continues: its folder, the checkpoint and the iterations it had completed."""

    run_dir: Path
    checkpoint: Path
    iteration: int
    config: dict[str, Any]


def _iterations(ckpt: dict[str, Any]) -> int:
    cfg = Config.from_dict(ckpt["hyper_parameters"]["config"])
    return int(ckpt.get("global_step", 0)) // steps_per_iteration(cfg)


def find_resume_point(source: str | Path) -> ResumePoint:
    """The newest checkpoint of run folder ``source`` (or the checkpoint file ``source``).

    The folder it writes into must be a run folder (:func:`maskaae_cli.run_folder.check_resumable`):
    a checkpoint copied into a folder of one's own is refused, never written beside.
    """
    p = Path(source)
    recover_near(p)
    if p.is_dir():
        candidates = [p / LAST_CHECKPOINT, p / FINAL_CHECKPOINT]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise UserError(f"--resume {p}: no checkpoint there (expected {LAST_CHECKPOINT} or "
                            f"{FINAL_CHECKPOINT}); the run stopped before its first checkpoint")
        loaded = [(c, load_checkpoint_dict(c)) for c in found]
        checkpoint, ckpt = max(loaded, key=lambda item: int(item[1].get("global_step", 0)))
        run_dir = p
    elif p.is_file():
        checkpoint, ckpt = p, load_checkpoint_dict(p)
        run_dir = run_folder_of(p) or p.parent
    else:
        raise UserError(f"--resume {p}: no such run folder or checkpoint file")
    if "optimizer_states" not in ckpt or "loops" not in ckpt:
        raise UserError(f"--resume {checkpoint}: holds weights only, not a training state to resume")
    check_resumable(run_dir)
    from lightning.pytorch.utilities import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:  # the other ranks of a multi-node run see rank 0's lock
        check_unlocked(run_dir)
    return ResumePoint(run_dir, checkpoint, _iterations(ckpt), saved_config(ckpt))


def resume_config(point: ResumePoint, overrides: dict[str, dict[str, Any]]) -> Config:
    """The checkpoint's config with the command line's train options from :data:`RESUMABLE`.

    ``overrides`` holds what the command line gave ({section: {field: value}}, None where not
    given); any other option is an error, since the run's data, nets and schedule are fixed.
    """
    cfg = Config.from_dict(point.config, source=str(point.checkpoint))
    refused = [f"--{key.replace('_', '-')}" for section, values in overrides.items()
               for key, value in values.items()
               if value is not None and not (section == "train" and key in RESUMABLE)]
    if refused:
        raise UserError(f"{', '.join(refused)} cannot change when resuming (the run keeps its "
                        f"config); a resumed run accepts only "
                        f"{', '.join('--' + k.replace('_', '-') for k in RESUMABLE)}")
    before = cfg.train.max_steps
    if overrides.get("train", {}).get("gpus") is not None:  # --gpus replaces the saved devices
        cfg.train.accelerator, cfg.train.devices = "auto", "auto"
    cfg.update({"train": {k: v for k, v in overrides.get("train", {}).items() if v is not None}})
    if cfg.optim.schedule == "budget" and cfg.train.max_steps != before:
        raise UserError(f"--max-steps cannot change when resuming a run with optim.schedule=budget "
                        f"(its schedule is laid out over --max-steps {before})")
    cfg.train.out = str(point.run_dir)
    cfg.train.overwrite = False
    cfg.validate()
    if point.iteration >= cfg.train.max_steps and cfg.optim.schedule == "budget":
        raise UserError(f"{point.run_dir} already completed all {point.iteration} iterations, and its "
                        f"optim.schedule=budget is laid out over --max-steps {cfg.train.max_steps}, so it "
                        "cannot train further: start a new run (--out elsewhere) with a larger --max-steps")
    if point.iteration >= cfg.train.max_steps:
        raise UserError(f"{point.run_dir} already completed {point.iteration} of --max-steps "
                        f"{cfg.train.max_steps}: pass a larger --max-steps to train it further")
    return cfg


def prepare_resumed_run_dir(point: ResumePoint) -> None:
    """Rank 0, before training: keep a finished run's final files and note the resume in run.json.

    A run resumed after it finished (to train further) rewrites model.ckpt and summary.json
    at its new end; copies of the earlier ones are kept as ``*.iterN.*`` beside them
    (model.ckpt itself stays until then: it may be the checkpoint every rank resumes from).
    """
    run_dir = point.run_dir
    for name in (FINAL_CHECKPOINT, SUMMARY):
        old = run_dir / name
        if old.is_file():
            kept = old.with_name(f"{old.stem}.iter{point.iteration}{old.suffix}")
            if kept.exists():
                raise UserError(f"{kept} already exists: move it away before resuming {run_dir}")
            shutil.copy2(old, kept)
    record_path = run_dir / RUN_RECORD
    record = read_record(record_path)
    record.setdefault("resumed", []).append({
        "checkpoint": str(point.checkpoint), "iteration": point.iteration, "command": sys.argv,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    write_json(record_path, record)


def resume_command(run_dir: Path) -> str:
    """The command that continues ``run_dir``."""
    import shlex

    return f"maskaae train --resume {shlex.quote(str(run_dir))}"
