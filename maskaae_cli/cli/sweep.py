"""`maskaae sweep-m`: the latent-size study (every model x m x seed), its table and its figure."""

from __future__ import annotations

import inspect
from copy import copy
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from maskaae_cli.cli import train as train_cli
from maskaae_cli.cli.app import app
from maskaae_cli.cli.options import config_parameters, with_parameters
from maskaae_cli.sweep.plan import RANGE_HELP

if TYPE_CHECKING:
    from maskaae_cli.sweep.command import SweepOptions
    from maskaae_cli.sweep.results import RunResult
    from maskaae_cli.sweep.runner import JobFn
    from maskaae_cli.sweep.study import Sweep

console = Console(markup=False)
stderr_console = Console(stderr=True, markup=False)

# train options the sweep sets itself for every run (or replaces with its own option)
OWNED = ("m", "model", "seed", "out", "overwrite", "progress", "threads")
SWEEP_PANEL = "Sweep options"
CLUSTER_PANEL = "Cluster options (--launcher slurm; pip install 'maskaae\\[cluster]')"  # \\[: not rich markup
TRAIN_PANEL = "Training options (passed to every 'maskaae train' run)"


def _train_parameters() -> list[inspect.Parameter]:
    """`maskaae train`'s --recipe and config options (help included), less those the sweep sets itself."""
    recipe = inspect.signature(train_cli.train, eval_str=True).parameters["recipe"]
    info = copy(recipe.annotation.__metadata__[0])
    info.rich_help_panel = TRAIN_PANEL
    return [recipe.replace(kind=inspect.Parameter.KEYWORD_ONLY,
                           annotation=Annotated[recipe.annotation.__origin__, info]),
            *config_parameters(exclude=OWNED, panel=TRAIN_PANEL)]


def sweep_m(
    ctx: typer.Context,
    m: Annotated[str, typer.Option("--m", rich_help_panel=SWEEP_PANEL, show_default=False,
                 help=f"Latent sizes to train: {RANGE_HELP}. Example: 2:32:2 is 2, 4, ..., 32; "
                 "2:8:2,12,16,24,32 is the paper's Figure 4a. (required)")],
    models: Annotated[str, typer.Option(rich_help_panel=SWEEP_PANEL, help="Models, comma-separated: "
                      "maae (with the mask), wae (the baseline without it).")] = "maae,wae",
    seeds: Annotated[str, typer.Option(rich_help_panel=SWEEP_PANEL, help="Random seeds, written like "
                     "--m (0,1,2 or 0:2); the figure shows the mean and the min-max band over them.")
                     ] = "0",
    out: Annotated[Path, typer.Option(rich_help_panel=SWEEP_PANEL, help="Sweep folder: runs/<model>-"
                   "m<m>-s<seed>/ (one 'maskaae train' run folder each), logs/, sweep.json (the "
                   "options), results.csv, results.json, sweep.png and sweep.svg.")] = Path("runs/sweep-m"),
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, rich_help_panel=SWEEP_PANEL,
                    show_default=False, help="Runs trained at once, each in its own process; with GPUs "
                    "visible each job gets one (round-robin over CUDA_VISIBLE_DEVICES). With --launcher "
                    "slurm: the array's tasks running at once. (default: 1; slurm: no limit)")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, rich_help_panel=SWEEP_PANEL, show_default=False,
                       help="CPU threads for each job. (default: the CPU cores divided by --jobs)")] = None,
    fid_n: Annotated[int, typer.Option(min=2, rich_help_panel=SWEEP_PANEL, help="Image datasets: "
                     "samples for each run's 'maskaae fid RUN --json --seed SEED'. Synthetic data use "
                     "summary.json's Frechet distance (the same number 'maskaae fid' gives).")] = 10_000,
    inception_weights: Annotated[Optional[Path], typer.Option(rich_help_panel=SWEEP_PANEL,
                                 show_default=False, help="Image datasets: Inception weights file "
                                 "for 'maskaae fid' (for machines without internet).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", rich_help_panel=SWEEP_PANEL, help="Print what "
                       "each run needs (train, retrain, measure or nothing) and stop; writes "
                       "nothing.")] = False,
    progress: Annotated[bool, typer.Option(rich_help_panel=SWEEP_PANEL, help="Show the live progress "
                        "display (a line per finished run is printed either way).")] = True,
    launcher: Annotated[str, typer.Option(rich_help_panel=SWEEP_PANEL, help="Where the runs train: local "
                        "(processes of this machine, --jobs at a time), slurm (each run one task of a "
                        "SLURM job array, submitted with submitit from a login node; the sweep folder "
                        "must be on a filesystem the nodes share) or submitit-local (the slurm path "
                        "through submitit's local executor on this machine, to try it).")] = "local",
    collect: Annotated[bool, typer.Option("--collect", rich_help_panel=SWEEP_PANEL, help="Run nothing: "
                       "write the results table, figure and cost from the run folders as they are "
                       "(with --launcher slurm: runs whose job ended unfinished are reported as "
                       "failed).")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", rich_help_panel=CLUSTER_PANEL, help="Wait for "
                    "the array to finish and write the results; --no-wait submits and returns (then "
                    "--collect later).")] = True,
    partition: Annotated[Optional[str], typer.Option(rich_help_panel=CLUSTER_PANEL, show_default=False,
                         help="SLURM partition. (default: the cluster's)")] = None,
    time: Annotated[str, typer.Option(rich_help_panel=CLUSTER_PANEL, help="Time limit of each run's "
                    "task: minutes, HH:MM:SS or D-HH:MM:SS.")] = "24:00:00",
    gpus_per_task: Annotated[Optional[int], typer.Option(min=0, rich_help_panel=CLUSTER_PANEL,
                             show_default=False, help="GPUs for each run. (default: 1; 0 with "
                             "--accelerator cpu)")] = None,
    cpus_per_task: Annotated[Optional[int], typer.Option(min=1, rich_help_panel=CLUSTER_PANEL,
                             show_default=False, help="CPU cores for each run (its --threads unless "
                             "--threads is given). (default: --threads, else the cluster's)")] = None,
    account: Annotated[Optional[str], typer.Option(rich_help_panel=CLUSTER_PANEL, show_default=False,
                       help="SLURM account to charge.")] = None,
    sbatch: Annotated[Optional[list[str]], typer.Option(rich_help_panel=CLUSTER_PANEL, show_default=False,
                      help="An extra #SBATCH option, KEY=VALUE or KEY (repeat it): --sbatch qos=high "
                      "--sbatch constraint=a100.")] = None,
    **train_options: Any,
) -> None:
    """The latent-size study: train every (model, m, seed), measure each as 'maskaae fid' does, plot.

    Writes results.csv / results.json (one row per run) and sweep.png / sweep.svg: the metric against
    m for each model (mean and min-max band over the seeds) and MaskAAE's active dimensions against m,
    with the diagonal and the true n (the paper's Figure 4a); prints a table and the cost of the WAE
    search over m against one MaskAAE run at the largest m.

    Re-running the same command skips finished runs, retrains unfinished ones (their run folder only)
    and re-measures trained runs whose metric failed; results.csv is rewritten after every finished
    run, so an interrupted sweep loses no finished result. More m values, models or seeds can join an
    existing sweep folder; other training options cannot (use another --out). The exit code is 1 when
    a run failed (its one-line reason is in results.csv, its output in DIR/logs/).

    On a SLURM cluster, --launcher slurm submits every run as one task of a job array (DIR/jobs.json
    keeps the job ids) and waits for it; re-running the same command waits for the runs still
    queued or running and submits again only those whose job ended unfinished. --dry-run prints the
    sbatch script; --no-wait submits and returns, and --collect writes the results later.

    Example: maskaae sweep-m --dataset synthetic --m 2:8:2,12,16,24,32 --seeds 0,1 --jobs 2 --out runs/fig4a
    """
    from maskaae_cli.sweep.cluster import ClusterOptions
    from maskaae_cli.sweep.command import SweepOptions

    cluster = ClusterOptions(partition=partition, time=time, gpus_per_task=gpus_per_task,
                             cpus_per_task=cpus_per_task, account=account, sbatch=list(sbatch or []),
                             wait=wait)
    rows = run_command(SweepOptions(m=m, models=models, seeds=seeds, out=out, jobs=jobs, threads=threads,
                                    fid_n=fid_n, inception_weights=inception_weights, dry_run=dry_run,
                                    progress=progress, launcher=launcher, collect=collect, cluster=cluster,
                                    train_options=train_options,
                                    train_args=passthrough_args(ctx, train_options)),
                       console, stderr_console)
    if any(row.status == "failed" for row in rows):
        raise typer.Exit(1)


def passthrough_args(ctx: typer.Context, values: dict[str, Any]) -> list[str]:
    """The command-line words that give each `maskaae train` the pass-through options set here."""
    words: list[str] = []
    for param in ctx.command.params:
        value = values.get(param.name or "")
        if value is None:
            continue
        if isinstance(value, bool):
            flag = param.opts[0] if value else (param.secondary_opts or [None])[0]
            words += [flag] if flag else []
        else:
            words += [param.opts[0], str(value)]
    return words


def run_command(opts: SweepOptions, console: Console, status_console: Console,
                run_one: JobFn | None = None) -> list[RunResult]:
    """`maskaae sweep-m`: plan, run (``run_one`` replaces the real trainer in tests), report."""
    from maskaae_cli.sweep.command import execute, plan_sweep
    from maskaae_cli.sweep.manifest import MANIFEST

    sweep = plan_sweep(opts)
    if opts.dry_run:
        console.print(dry_run_table(sweep))
        if opts.launcher != "local":
            print_sbatch_script(opts, sweep, console)
        return []
    rows, cost = execute(opts, sweep, status_console, run_one)
    console.print(results_table(rows, f"sweep-m {opts.out}"))
    for line in cost_lines(cost):
        console.print(line, highlight=False, soft_wrap=True)
    failed = sum(r.status == "failed" for r in rows)
    written = ["results.csv", "results.json"] + (
        ["sweep.png", "sweep.svg"] if any(r.status == "done" for r in rows) else [])
    console.print(f"wrote {', '.join(str(opts.out / w) for w in written)} ({MANIFEST}: the options)"
                  + (f"; {failed} failed: re-run the same command to retry them" if failed else ""),
                  highlight=False, soft_wrap=True)
    return rows


def print_sbatch_script(opts: SweepOptions, sweep: Sweep, console: Console) -> None:
    """--dry-run --launcher slurm: the sbatch script of the array it would submit."""
    from maskaae_cli.sweep.cluster import script_for
    from maskaae_cli.sweep.command import cluster_parameters

    count = len(sweep.jobs())
    if not count:
        console.print("nothing to submit: every run is done", highlight=False)
        return
    console.print(f"# the sbatch script for the {count} run(s) not done (a run still queued or running, "
                  f"per {opts.out}/jobs.json, is not submitted again):", highlight=False, soft_wrap=True)
    console.print(script_for(opts.out, cluster_parameters(opts), count), highlight=False, markup=False,
                  soft_wrap=True)


def dry_run_table(sweep: Sweep) -> Table:
    """What each run of the grid would do."""
    table = Table(title=f"sweep-m --dry-run: {sweep.sweep_dir}")
    table.add_column("run")
    table.add_column("would")
    todo = {job.spec: job for job in sweep.jobs()}
    for spec in sweep.grid:
        job = todo.get(spec)
        table.add_row(spec.name, "skip (done)" if job is None else
                      "measure" if job.step == "metric" else "retrain (--overwrite of its folder)"
                      if job.retry else "train")
    return table


def cost_lines(cost: dict[str, Any]) -> list[str]:
    """The paper's comparison in words: the WAE search over m against one MaskAAE run."""
    if not cost:
        return ["cost: needs at least one trained WAE run and one MaskAAE run at the largest m"]
    partial = "" if cost["wae_complete"] else " (so far: not every WAE run has finished)"
    return [f"cost: the WAE search over m = {','.join(map(str, cost['wae_m_values']))} took "
            f"{cost['wae_sweep_wall_seconds']:.0f} s and {cost['wae_sweep_steps']:.0f} steps{partial}; "
            f"one MaskAAE run at m = {cost['maae_m']} took {cost['maae_run_wall_seconds']:.0f} s and "
            f"{cost['maae_run_steps']:.0f} steps (means over seeds): "
            f"{cost['wall_ratio']:.2f}x the wall time, {cost['steps_ratio']:.2f}x the steps"]


def results_table(rows: list, title: str) -> Table:
    """The rich table of the study's runs."""
    metric = next((r.metric for r in rows if r.metric), "metric")
    table = Table(title=title)
    for name in ("model", "m", "seed", "status", "active dims", metric, "steps", "train s"):
        table.add_column(name, justify="left" if name in ("model", "status") else "right")
    for r in rows:
        status = Text(r.status, style={"done": "green", "failed": "red"}.get(r.status, ""))
        table.add_row(r.model, str(r.m), str(r.seed), status,
                      "" if r.active_dims is None else str(r.active_dims),
                      "" if r.value is None else f"{r.value:.4g}",
                      "" if r.steps is None else str(r.steps),
                      "" if r.wall_seconds is None else f"{r.wall_seconds:.1f}")
    return table


def _paragraphs(doc: str) -> str:
    """The docstring with each paragraph on one line (rich help keeps single line breaks)."""
    return "\n\n".join(" ".join(p.split("\n")) for p in inspect.cleandoc(doc).split("\n\n"))


with_parameters(sweep_m, _train_parameters())
app.command("sweep-m", help=_paragraphs(sweep_m.__doc__ or ""))(sweep_m)
