"""`maskaae train`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from maskaae_cli.cli.app import app
from maskaae_cli.cli.options import config_parameters, with_parameters
from maskaae_cli.data.registry import preset_names
from maskaae_cli.errors import UserError
from maskaae_cli.presets import build_config, config_overrides

console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def train(
    recipe: Annotated[Optional[str], typer.Option(help="YAML recipe: a file, or a preset's name "
                      f"({', '.join(preset_names())}). Without it, --dataset picks its own preset "
                      "(the CPU-sized one on a CPU where there is one); options given here override "
                      "either.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue an interrupted run: its folder "
                      "(its newest checkpoint) or a .ckpt file. The run keeps its config; only "
                      "--max-steps, logging/checkpoint intervals and hardware options may change.",
                      show_default=False)] = None,
    **options: Any,
) -> None:
    """Train a MaskAAE (or the WAE baseline) and write a run folder.

    --dataset X trains with X's preset (the CPU-sized one on a CPU where there is one; folder: and
    idx: data take the closest built-in dataset's); the first line printed names it and why.
    Options given here override the preset; --recipe picks another.

    Example: maskaae train --dataset synthetic --n-true 8 --m 32 --out runs/syn8

    Several GPUs: maskaae train --recipe cifar10 --gpus 4 --out runs/c10 (--batch-size is per
    GPU). Ctrl+C or SIGTERM saves RUN/checkpoints/last.ckpt; continue with
    maskaae train --resume RUN.
    """
    from maskaae_cli.errors import TrainingInterrupted
    from maskaae_cli.resume import find_resume_point, resume_command, resume_config
    from maskaae_cli.training import train as run_training  # (heavy imports)

    point, line = None, None
    if resume is not None:
        if recipe:
            raise UserError("--recipe cannot be used with --resume (the run keeps its config)")
        point = find_resume_point(resume)
        cfg = resume_config(point, config_overrides({**options, "progress": None}))
        cfg.train.progress = options["progress"]
        if _is_rank_zero():
            err_console.print(f"resuming {point.run_dir} at iteration {point.iteration} of "
                              f"{cfg.train.max_steps} from {point.checkpoint}", highlight=False,
                              soft_wrap=True)
    else:
        cfg, line = build_config(recipe, config_overrides(options))
    try:
        summary = run_training(cfg, resume=point, announce=line)
    except TrainingInterrupted as stop:
        if stop.is_global_zero:
            err_console.print(f"{stop.signal_name}: stopped after iteration {stop.iteration} of "
                              f"{cfg.train.max_steps}; checkpoint saved to {stop.checkpoint}",
                              highlight=False, soft_wrap=True)
            err_console.print(f"resume with: {resume_command(Path(cfg.train.out))}", highlight=False,
                              soft_wrap=True)
        sys.exit(stop.exit_code)
    if summary is not None:
        print_summary(summary, cfg.train.out)


with_parameters(train, config_parameters())
app.command()(train)


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def print_summary(summary: dict, out: str) -> None:
    table = Table(title=f"run {out}", show_header=False)
    for key in ("model", "dataset", "m", "steps", "resumed_from_iteration", "devices",
                "global_batch_size", "active_dims", "frechet_distance", "test_reconstruction",
                "wall_seconds"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"summary: {Path(out) / 'summary.json'}   checkpoint: {Path(out) / 'model.ckpt'}")
