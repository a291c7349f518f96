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
from maskaae_cli.sweep.cluster import CLUSTERS, LAUNCHERS, ClusterOptions, SubmititLauncher
from maskaae_cli.sweep.manifest import identity, open_sweep
from maskaae_cli.sweep.plan import grid, parse_int_range, parse_models
from maskaae_cli.sweep.results import RunResult
from maskaae_cli.sweep.runner import (
    CollectOnly,
    JobFn,
    Launcher,
    LocalPool,
    Slot,
    SubprocessRunner,
    make_slots,
    visible_gpus,
)
from maskaae_cli.sweep.study import Sweep, run_sweep


@dataclass
class SweepOptions:
    """The parsed command line of `maskaae sweep-m`."""

    m: str
    models: str = "maae,wae"
    seeds: str = "0"
    out: Path = Path("runs/sweep-m")
    jobs: int | None = None  # local: 1 by default; a cluster: the array's tasks at once (default: all)
    threads: int | None = None
    fid_n: int = 10_000
    inception_weights: Path | None = None
    dry_run: bool = False
    progress: bool = True
    launcher: str = "local"  # local, slurm or submitit-local (cluster.LAUNCHERS)
    collect: bool = False  # write the results from the folders; run nothing
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    train_options: dict[str, Any] = field(default_factory=dict)  # pass-through values (None: unset)
    train_args: list[str] = field(default_factory=list)  # the same, as command-line words


def plan_sweep(opts: SweepOptions) -> Sweep:
    """Parse and check everything (one clear error for bad input) before anything runs."""
    ms = parse_int_range(opts.m, "--m", minimum=1)
    seeds = parse_int_range(opts.seeds, "--seeds", minimum=0)
    models = parse_models(opts.models)
    if opts.jobs is not None and opts.jobs < 1:
        raise UserError("--jobs must be at least 1")
    check_launcher(opts)
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


def check_launcher(opts: SweepOptions) -> None:
    """The launcher options fit together, and submitit is installed where it is needed."""
    if opts.launcher not in LAUNCHERS:
        raise UserError(f"unknown --launcher {opts.launcher!r}: use {', '.join(LAUNCHERS)}")
    if opts.collect and opts.dry_run:
        raise UserError("--collect and --dry-run do not go together: --collect writes the results, "
                        "--dry-run writes nothing")
    if opts.launcher == "local":
        if opts.cluster != ClusterOptions():
            raise UserError("the cluster options (--partition, --time, --gpus-per-task, --cpus-per-task, "
                            "--account, --sbatch, --no-wait) need --launcher slurm")
        return
    cluster_parameters(opts)  # a bad --time or --sbatch is one line before anything is written
    from maskaae_cli.sweep.submitit_seam import check_slurm, require

    require(f"--launcher {opts.launcher}")
    if opts.launcher == "slurm" and not (opts.dry_run or opts.collect):
        check_slurm()


def cluster_parameters(opts: SweepOptions) -> dict[str, Any]:
    accelerator = str(opts.train_options.get("accelerator") or "auto")
    return opts.cluster.slurm_parameters(accelerator, opts.threads, opts.jobs)


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


def make_launcher(opts: SweepOptions, status_console: Console, run_one: JobFn | None = None) -> Launcher:
    """Where the jobs run: the local pool, a SLURM array (or submitit's local executor), or nowhere
    (--collect). ``run_one`` replaces the real trainer in tests."""
    fid_args = ["--n", str(opts.fid_n)]
    if opts.inception_weights:
        fid_args += ["--inception-weights", str(opts.inception_weights)]
    runner = SubprocessRunner(opts.train_args, fid_args, opts.out / "logs")
    if opts.launcher != "local":
        params = cluster_parameters(opts)
        slot = Slot(0, opts.threads or opts.cluster.cpus_per_task, None)  # SLURM gives the task its GPUs
        return SubmititLauncher(opts.out, CLUSTERS[opts.launcher], params, run_one or runner, slot,
                                status_console, wait=opts.cluster.wait and not opts.collect,
                                submit=not opts.collect)
    if opts.collect:
        return CollectOnly(lambda line: status_console.print(line, highlight=False))
    accelerator = str(opts.train_options.get("accelerator") or "auto")
    gpus = [] if accelerator == "cpu" else visible_gpus()
    slots = make_slots(opts.jobs or 1, opts.threads, gpus)
    return LocalPool(slots, run_one or runner, runner.stop if run_one is None else None)


def execute(opts: SweepOptions, sweep: Sweep, status_console: Console,
            run_one: JobFn | None = None) -> tuple[list[RunResult], dict[str, Any]]:
    """Run what ``sweep`` still needs (``run_one`` replaces the real trainer in tests); return the
    rows of the whole study and the cost summary."""
    launcher = make_launcher(opts, status_console, run_one)
    status_console.print(f"sweep-m: {len(sweep.grid)} runs, {launcher.describe()}; folder {opts.out}",
                         highlight=False)
    with sigterm_interrupts():
        return run_sweep(sweep, launcher, status_console, opts.progress)
