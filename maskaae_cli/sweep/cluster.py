"""The cluster launcher: every sweep run one task of a SLURM job array, submitted with submitit.

Each task runs the same job function as the local pool (``SubprocessRunner``: `maskaae train`, then
`maskaae fid` for images) on its node, and writes into the same sweep folder (a shared filesystem).
DIR/jobs.json keeps the job of each run, so a second sweep-m waits for runs that are queued or
running, and submits again only runs whose job ended without finishing them. ``cluster="local"``
runs the same path through submitit's local executor (one background process per run).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from maskaae_cli.errors import UserError
from maskaae_cli.sweep import submitit_seam as seam
from maskaae_cli.sweep.jobs_record import JobsRecord
from maskaae_cli.sweep.runner import DoneFn, Job, JobFn, Outcome, Slot, plan_job

EXECUTOR_DIR = "submitit"  # DIR/submitit/: the pickled tasks, their results and SLURM's logs
LAUNCHERS = ("local", "slurm", "submitit-local")
CLUSTERS = {"slurm": "slurm", "submitit-local": "local"}


def parse_time(text: str) -> int:
    """A SLURM time limit in minutes: MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS."""
    days, _, rest = text.strip().rpartition("-")
    try:
        parts = [int(p) for p in rest.split(":")]
        d = int(days) if days else 0
    except ValueError:
        parts, d = [], 0
    if not parts or len(parts) > 3 or min([*parts, d]) < 0 or text.strip().startswith("-"):
        raise UserError(f"--time {text!r}: write minutes (90), HH:MM:SS (4:00:00) or D-HH:MM:SS (1-12:00:00)")
    if days:
        h, m, s = (parts + [0, 0])[:3]
    else:
        h, m, s = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    minutes = d * 1440 + h * 60 + m + math.ceil(s / 60)
    if minutes < 1:
        raise UserError(f"--time {text!r} is under a minute")
    return minutes


def parse_sbatch(lines: list[str]) -> dict[str, Any]:
    """Extra ``#SBATCH`` lines: ``qos=high``, ``--constraint=a100`` or ``exclusive`` (a flag)."""
    extra: dict[str, Any] = {}
    for line in lines:
        text = line.strip().removeprefix("#SBATCH").strip().lstrip("-")
        key, eq, value = text.partition("=")
        key = key.strip()
        if not key or " " in key or (eq and not value.strip()):
            raise UserError(f"--sbatch {line!r}: give one sbatch option as KEY=VALUE (qos=high) or KEY "
                            "(exclusive)")
        extra[key] = value.strip() if eq else True
    return extra


@dataclass
class ClusterOptions:
    """sweep-m's options for --launcher slurm (submitit-local uses the time limit and GPUs)."""

    partition: str | None = None
    time: str = "24:00:00"
    gpus_per_task: int | None = None  # default: 1, or 0 with --accelerator cpu
    cpus_per_task: int | None = None  # default: --threads, else SLURM's default
    account: str | None = None
    sbatch: list[str] = field(default_factory=list)
    wait: bool = True

    def slurm_parameters(self, accelerator: str, threads: int | None, parallel: int | None) -> dict[str, Any]:
        """SlurmExecutor's parameters (sbatch names) for one task per run."""
        gpus = self.gpus_per_task if self.gpus_per_task is not None else (0 if accelerator == "cpu" else 1)
        cpus = self.cpus_per_task or threads
        params: dict[str, Any] = {"job_name": "maskaae-sweep", "time": parse_time(self.time), "nodes": 1,
                                  "ntasks_per_node": 1}
        optional = {"partition": self.partition, "account": self.account, "cpus_per_task": cpus,
                    "gpus_per_node": gpus or None, "array_parallelism": parallel,
                    "additional_parameters": parse_sbatch(self.sbatch) or None}
        params.update({k: v for k, v in optional.items() if v is not None})
        return params


def run_task(run_one: JobFn, job: Job, slot: Slot) -> Outcome:
    """One array task, on its node: the job its run folder needs now (a requeued task, or one run
    again, trains with --overwrite), timed; an exception becomes a failed outcome."""
    start = time.perf_counter()
    now = plan_job(job.spec, job.run_dir)
    if now is None:
        return Outcome(True, seconds=0.0)
    try:
        outcome = run_one(now, slot)
    except Exception as exc:
        outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
    outcome.seconds = outcome.seconds or time.perf_counter() - start
    return outcome


@dataclass
class Tracked:
    """A run's submitit job, while the launcher waits for it."""

    job: Job
    handle: Any
    job_id: str


class SubmititLauncher:
    """Submits the sweep's jobs as one job array, records them in DIR/jobs.json and (``wait``) reports
    each as it finishes. ``submit=False`` (--collect) submits nothing: it reports the runs whose job
    has ended without finishing them as failed and leaves the others pending."""

    def __init__(self, sweep_dir: Path, cluster: str, params: dict[str, Any], run_one: JobFn, slot: Slot,
                 console: Console, wait: bool = True, submit: bool = True,
                 poll_s: float | None = None) -> None:
        self.sweep_dir, self.cluster, self.params = sweep_dir, cluster, params
        self.run_one, self.slot, self.console = run_one, slot, console
        self.wait, self.submit = wait, submit
        self.poll_s = poll_s if poll_s is not None else (0.5 if cluster == "local" else 15.0)
        self.folder = sweep_dir / EXECUTOR_DIR

    def describe(self) -> str:
        where = "SLURM job array" if self.cluster == "slurm" else "submitit's local executor"
        return where + ("" if self.submit else ", collecting only")

    def launch(self, jobs: list[Job], on_done: DoneFn) -> None:
        record = JobsRecord.load(self.sweep_dir)
        live: list[Tracked] = []
        again: list[Job] = []
        for job in jobs:
            entry = record.runs.get(job.spec.name)
            if entry is None:
                again.append(job)
                continue
            tracked = Tracked(job, self._attach(entry), entry["job_id"])
            state = self._state(entry, tracked.handle)
            if state in seam.ACTIVE:
                live.append(tracked)
            elif not self.submit:  # --collect: the run's row says why it is not done
                on_done(job, self._outcome(tracked, state))
            else:
                record.retire(job.spec.name, state, self._outcome(tracked, state).error)
                again.append(job)
        if live:
            self.console.print(f"{len(live)} run(s) still queued or running (not submitted again): "
                               + ", ".join(f"{t.job.spec.name} ({t.job_id})" for t in live), highlight=False,
                               soft_wrap=True)
        if again and self.submit:
            live += self._submit(again, record)
        elif again:
            self.console.print(f"{len(again)} run(s) not done and not submitted: re-run without --collect "
                               "to submit them", highlight=False, soft_wrap=True)
        if not live:
            return
        if not self.wait:
            self.console.print(f"not waiting for {len(live)} run(s): the same command with --collect "
                               "writes the results once they have finished (without it, it waits)",
                               highlight=False, soft_wrap=True)
            return
        self._wait(live, on_done)

    def _kind(self) -> str:
        return "SLURM" if self.cluster == "slurm" else "local"

    def _attach(self, entry: dict[str, Any]) -> Any:
        return seam.attach(self.cluster, self.folder, entry["job_id"])

    def _state(self, entry: dict[str, Any], handle: Any) -> str:
        if entry.get("cluster") != self.cluster:  # a job of another launcher: not ours to wait for
            return "GONE"
        return seam.job_state(self.cluster, handle)

    def _submit(self, jobs: list[Job], record: JobsRecord) -> list[Tracked]:
        executor = seam.make_executor(self.cluster, self.folder, self.params)
        handles = seam.submit_array(executor, run_task, [(self.run_one, job, self.slot) for job in jobs])
        ids = [str(h.job_id) for h in handles]
        array_id = ids[0].split("_")[0] if all("_" in i for i in ids) else ",".join(ids)
        entries = {job.spec.name: {"job_id": i, "step": job.step} for job, i in zip(jobs, ids, strict=True)}
        record.add_array(self.cluster, array_id, self.folder, entries)
        record.save()
        self.console.print(f"submitted {len(jobs)} run(s) to {self.describe()}: job "
                           + (f"array {array_id} ({ids[0]} ...)" if "_" in ids[0] else f"id(s) {array_id}")
                           + f"; job ids in {record.path}", highlight=False, soft_wrap=True)
        return [Tracked(job, h, i) for job, h, i in zip(jobs, handles, ids, strict=True)]

    def _wait(self, live: list[Tracked], on_done: DoneFn) -> None:
        """Poll the jobs until each has ended; report each outcome as it comes."""
        while live:
            still = []
            for tracked in live:
                state = seam.job_state(self.cluster, tracked.handle)
                if state in seam.ACTIVE:
                    still.append(tracked)
                else:
                    on_done(tracked.job, self._outcome(tracked, state))
            live = still
            if live:
                time.sleep(self.poll_s)

    def _outcome(self, tracked: Tracked, state: str) -> Outcome:
        log = tracked.handle.paths.stderr
        if state == seam.FINISHED:
            try:
                outcome = seam.result(tracked.handle)
            except Exception as exc:
                lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("-")]
                return Outcome(False, f"{self._kind()} job {tracked.job_id} failed: "
                                      f"{lines[-1] if lines else type(exc).__name__} (log: {log})")
            if isinstance(outcome, Outcome):
                return outcome
        return Outcome(False, f"{self._kind()} job {tracked.job_id} ended ({state}) without "
                              f"finishing the run (log: {log})")


def script_for(sweep_dir: Path, params: dict[str, Any], count: int) -> str:
    """The sbatch script that submitting ``count`` runs would write (for --dry-run)."""
    return seam.sbatch_script(sweep_dir / EXECUTOR_DIR, params, count)
