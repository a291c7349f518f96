"""A stand-in trainer that submitit's tasks can unpickle (this folder is on their PYTHONPATH), and
helpers to run a sweep through a cluster launcher in-process.

It writes summary.json as training does. Files in its control folder steer it from the test:
``hold-NAME`` makes run NAME wait for ``gate-NAME`` (a SIGTERM stops it); ``fail-NAME`` makes it
fail. Every call appends ``NAME STEP RETRY`` to ``calls.log`` there (the tasks run in other processes).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from maskaae_cli.sweep.runner import Job, Outcome, Slot


@dataclass
class ScriptedTrainer:
    control: Path

    def __call__(self, job: Job, slot: Slot) -> Outcome:
        name = job.spec.name
        with (self.control / "calls.log").open("a") as f:
            f.write(f"{name} {job.step} {int(job.retry)}\n")
        job.run_dir.mkdir(parents=True, exist_ok=True)
        (job.run_dir / "config.yaml").write_text("partial\n")
        if (self.control / f"hold-{name}").exists():
            stopped: list[int] = []  # like `maskaae train`, a SIGTERM (scancel) stops it
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
            try:
                deadline = time.monotonic() + 120
                while not (self.control / f"gate-{name}").exists() and time.monotonic() < deadline:
                    if stopped:
                        return Outcome(False, "train: stopped by SIGTERM")
                    time.sleep(0.05)
            finally:
                signal.signal(signal.SIGTERM, previous)
        if (self.control / f"fail-{name}").exists():
            return Outcome(False, "train: boom")
        spec = job.spec
        summary = {"model": spec.model, "m": spec.m, "seed": spec.seed, "steps": 10 + spec.m,
                   "active_dims": min(spec.m, 3) if spec.model == "maae" else spec.m,
                   "wall_seconds": float(spec.m), "frechet_distance": 1.0 + spec.m / 10}
        (job.run_dir / "summary.json").write_text(json.dumps(summary))
        return Outcome(True, seconds=1.0)


def calls(control: Path) -> list[str]:
    path = control / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def sweep(out: Path, trainer: ScriptedTrainer | None, *, wait: bool = True, collect: bool = False,
          **options) -> str:
    """Run sweep-m in-process through a cluster launcher (submitit's local executor unless
    ``launcher=`` says otherwise); return what it printed."""
    # imported here: the tasks that unpickle ScriptedTrainer need none of the CLI
    from maskaae_cli.cli.sweep import run_command
    from maskaae_cli.sweep.cluster import ClusterOptions
    from maskaae_cli.sweep.command import SweepOptions

    text = io.StringIO()
    console = Console(file=text, width=300)
    opts = SweepOptions(**{"m": "2,4", "models": "maae,wae", "seeds": "0", "out": out, "threads": 1,
                           "progress": False, "launcher": "submitit-local", "collect": collect,
                           "cluster": ClusterOptions(time="10", wait=wait),
                           "train_options": {"accelerator": "cpu"}, **options})
    run_command(opts, console, console, run_one=trainer)
    return text.getvalue()


def table(out: Path) -> dict[str, dict[str, str]]:
    with (out / "results.csv").open(newline="") as f:
        return {f"{r['model']}-m{r['m']}-s{r['seed']}": r for r in csv.DictReader(f)}


def jobs(out: Path) -> dict:
    return json.loads((out / "jobs.json").read_text())


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
