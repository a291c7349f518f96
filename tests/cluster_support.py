"""A stand-in trainer that submitit's tasks can unpickle (this folder is on their PYTHONPATH).

It writes summary.json as training does. Files in its control folder steer it from the test:
``hold-NAME`` makes run NAME wait for ``gate-NAME``; ``fail-NAME`` makes it fail. Every call appends
``NAME STEP RETRY`` to ``calls.log`` there (the tasks run in other processes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

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
            deadline = time.monotonic() + 120
            while not (self.control / f"gate-{name}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
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
