"""What `maskaae sweep-m` does once its options are parsed: check them, then run the sweep."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from maskaae_cli.errors import UserError
from maskaae_cli.presets import build_config, config_overrides
from maskaae_cli.sweep.manifest import identity, open_sweep
from maskaae_cli.sweep.plan import grid, parse_int_range, parse_models
from maskaae_cli.sweep.results import RunResult
from maskaae_cli.sweep.runner import JobFn, SubprocessRunner, make_slots, visible_gpus
from maskaae_cli.sweep.study import Sweep, run_sweep


@dataclass
class SweepOptions:
    """The parsed command line of `maskaae sweep-m`."""

    m: str
    models: str = "maae,wae"
    seeds: str = "0"
    out: Path = Path("runs/sweep-m")
    jobs: int = 1
    threads: int | None = None
    fid_n: int = 10_000
    inception_weights: Path | None = None
    dry_run: bool = False
    progress: bool = True
    train_options: dict[str, Any] = field(default_factory=dict)  # pass-through values (None: unset)
    train_args: list[str] = field(default_factory=list)  # the same, as command-line words


def plan_sweep(opts: SweepOptions) -> Sweep:
    """Parse and check everything (one clear error for bad input) before anything runs."""
    ms = parse_int_range(opts.m, "--m", minimum=1)
    seeds = parse_int_range(opts.seeds, "--seeds", minimum=0)
    models = parse_models(opts.models)
    if opts.jobs < 1:
        raise UserError("--jobs must be at least 1")
    cfg, _ = build_config(opts.train_options.get("recipe"), config_overrides(
        {**opts.train_options, "model": models[0], "m": ms[0], "seed": seeds[0]}))
    ident = identity(cfg.to_dict(), opts.fid_n)
    runs = grid(models, ms, seeds)
    study = open_sweep(opts.out, ident, runs, opts.train_args, write=not opts.dry_run)
    synthetic = cfg.data.dataset == "synthetic"
    return Sweep(opts.out, study, runs, n_true=cfg.data.n_true if synthetic else None, info={
        "dataset": cfg.data.dataset, "train_args": opts.train_args, "fid_n": opts.fid_n,
        "title": f"{cfg.data.dataset}" + (f" (n = {cfg.data.n_true})" if synthetic else "")
                 + f", {cfg.train.max_steps} steps"})


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM acts as Ctrl-C while the sweep runs, so its training subprocesses are stopped too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(opts: SweepOptions, sweep: Sweep, status_console: Console,
            run_one: JobFn | None = None) -> tuple[list[RunResult], dict[str, Any]]:
    """Run what ``sweep`` still needs (``run_one`` replaces the real trainer in tests); return the
    rows of the whole study and the cost summary."""
    accelerator = str(opts.train_options.get("accelerator") or "auto")
    gpus = [] if accelerator == "cpu" else visible_gpus()
    slots = make_slots(opts.jobs, opts.threads, gpus)
    fid_args = ["--n", str(opts.fid_n)]
    if opts.inception_weights:
        fid_args += ["--inception-weights", str(opts.inception_weights)]
    runner = SubprocessRunner(opts.train_args, fid_args, opts.out / "logs")
    where = f"{len(gpus)} GPU(s)" if gpus else f"{slots[0].threads} CPU thread(s) each"
    status_console.print(f"sweep-m: {len(sweep.grid)} runs, {len(slots)} at a time, {where}; "
                         f"folder {opts.out}", highlight=False)
    with sigterm_interrupts():
        return run_sweep(sweep, slots, run_one or runner, status_console, opts.progress,
                         on_interrupt=runner.stop if run_one is None else None)
