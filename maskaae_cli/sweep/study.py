"""Run a sweep: decide what each run folder still needs, run it, keep results.csv current, plot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from maskaae_cli.errors import UserError
from maskaae_cli.run_lock import pid_alive
from maskaae_cli.sweep.plan import RunSpec
from maskaae_cli.sweep.plot import plot_sweep
from maskaae_cli.sweep.results import RunResult, cost_summary, load_result, read_json, write_results
from maskaae_cli.sweep.runner import Job, Launcher, Outcome, plan_job

LOCK = "sweep.lock"


@dataclass
class Sweep:
    """A sweep folder and what to do in it."""

    sweep_dir: Path
    study: list[RunSpec]  # every run the folder's study holds (earlier invocations included)
    grid: list[RunSpec]  # the runs this invocation asks for
    n_true: int | None = None  # the true latent dimension, when known (synthetic data)
    info: dict[str, Any] = field(default_factory=dict)  # copied into results.json

    def run_dir(self, spec: RunSpec) -> Path:
        return self.sweep_dir / "runs" / spec.name

    def label(self, spec: RunSpec) -> str:
        return f"runs/{spec.name}"

    def load(self, spec: RunSpec, error: str = "", seconds: float | None = None) -> RunResult:
        return load_result(spec, self.run_dir(spec), self.label(spec), error, seconds)

    def jobs(self) -> list[Job]:
        """The grid's runs that are not done: unfinished folders retrain, unmeasured ones measure."""
        return [job for spec in self.grid if (job := plan_job(spec, self.run_dir(spec))) is not None]


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Refuse a second `sweep-m` working in the same folder at the same time."""
    path = sweep_dir / LOCK
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid and pid != os.getpid() and pid_alive(pid):
        raise UserError(f"another sweep-m (process {pid}) is running in {sweep_dir}: wait for it to "
                        f"finish or stop it (delete {path} if that process is not a sweep)")
    path.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def carry_job_seconds(sweep_dir: Path, rows: dict[RunSpec, RunResult]) -> None:
    """Keep the job times that the last results.json recorded for runs that are still done."""
    old = read_json(sweep_dir / "results.json") or {}
    for record in old.get("runs", []):
        try:
            spec = RunSpec(int(record["seed"]), int(record["m"]), str(record["model"]))
        except (KeyError, TypeError, ValueError):
            continue
        row = rows.get(spec)
        if row is not None and row.status == "done" and record.get("status") == "done":
            row.job_seconds = record.get("job_seconds")


def save(sweep: Sweep, rows: dict[RunSpec, RunResult]) -> dict[str, Any]:
    """Rewrite results.csv / results.json from ``rows``; return the cost summary."""
    ordered = [rows[spec] for spec in sweep.study]
    cost = cost_summary(ordered, max(s.m for s in sweep.study))
    metric = next((r.metric for r in ordered if r.metric), None)
    write_results(sweep.sweep_dir, ordered, {
        **sweep.info, "metric": metric, "n_true": sweep.n_true, "cost": cost,
        "counts": {s: sum(r.status == s for r in ordered) for s in ("done", "failed", "pending")},
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return cost or {}


def finished_line(row: RunResult, seconds: float) -> Text:
    """One line per finished run for the terminal (the run's error printed literally)."""
    name = f"{row.model}-m{row.m}-s{row.seed}"
    if row.status != "done":
        return Text.assemble(("failed", "red"), f" {name} ({seconds:.0f}s): {row.error}")
    return Text.assemble(("done", "green"), f"   {name}: {row.metric} {row.value:.4g}, {row.active_dims} "
                         f"active of {row.m}, {row.steps} steps, {seconds:.0f}s")


def run_sweep(sweep: Sweep, launcher: Launcher, console: Console,
              progress: bool = True) -> tuple[list[RunResult], dict[str, Any]]:
    """Run what the grid still needs through ``launcher``; results.csv is rewritten after every
    finished run (a launcher that leaves a cluster array running returns before its runs finish).

    Returns the rows of the whole study and the cost summary; writes sweep.png / sweep.svg.
    """
    with sweep_lock(sweep.sweep_dir):
        rows = {spec: sweep.load(spec) for spec in sweep.study}
        carry_job_seconds(sweep.sweep_dir, rows)
        jobs = sweep.jobs()
        save(sweep, rows)
        skipped = len(sweep.grid) - len(jobs)
        if skipped:
            console.print(f"{skipped} of {len(sweep.grid)} runs already done in {sweep.sweep_dir}: "
                          "skipped", highlight=False)
        display = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(),
                           MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                           console=console, disable=not (progress and console.is_terminal))
        with display:
            task = display.add_task(f"sweep ({launcher.describe()})", total=len(sweep.grid),
                                    completed=skipped)

            def on_done(job: Job, outcome: Outcome) -> None:
                error = "" if outcome.ok else outcome.error or "failed"
                row = sweep.load(job.spec, error, outcome.seconds)
                if row.status != "done" and not row.error:
                    row.status, row.error = "failed", "finished without a metric"
                rows[job.spec] = row
                save(sweep, rows)
                display.advance(task)
                display.console.print(finished_line(row, outcome.seconds), highlight=False,
                                      soft_wrap=True)

            try:
                launcher.launch(jobs, on_done)
            finally:  # an interrupted sweep still gets the figure of what has finished
                cost = save(sweep, rows)
                ordered = [rows[spec] for spec in sweep.study]
                if any(r.status == "done" for r in ordered):
                    plot_sweep(ordered, sweep.sweep_dir / "sweep", sweep.n_true, sweep.info.get("title", ""))
        return ordered, cost
