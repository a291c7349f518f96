"""DIR/jobs.json: the cluster job that runs (or ran) each sweep run, and the ones it replaced."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maskaae_cli.atomic_io import atomic_write_text
from maskaae_cli.errors import UserError
from maskaae_cli.sweep.results import read_json

JOBS = "jobs.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class JobsRecord:
    """``runs``: run name -> its latest job ({job_id, cluster, array_id, step, submitted});
    ``arrays``: every submission; ``replaced``: earlier jobs of a run and the state they ended in."""

    path: Path
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrays: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, sweep_dir: Path) -> JobsRecord:
        path = sweep_dir / JOBS
        if not path.exists():
            return cls(path)
        record = read_json(path)
        if record is None:
            raise UserError(f"{path} is not readable JSON: fix or delete it (it only lists the "
                            "submitted jobs; without it every unfinished run is submitted again)")
        return cls(path, dict(record.get("runs", {})), list(record.get("arrays", [])),
                   list(record.get("replaced", [])))

    def add_array(self, cluster: str, array_id: str, folder: Path,
                  entries: dict[str, dict[str, Any]]) -> None:
        """Record one submitted array: ``entries`` maps run names to {job_id, step}."""
        when = now_iso()
        self.arrays.append({"array_id": array_id, "cluster": cluster, "submitted": when,
                            "folder": str(folder), "runs": sorted(entries)})
        for name, entry in entries.items():
            self.runs[name] = {**entry, "cluster": cluster, "array_id": array_id, "submitted": when}

    def retire(self, name: str, state: str, error: str = "") -> None:
        """``name``'s job has ended without finishing the run (``error``: why): keep it in ``replaced``."""
        old = self.runs.pop(name, None)
        if old is not None:
            self.replaced.append({"run": name, **old, "state": state, "error": error})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"runs": self.runs, "arrays": self.arrays,
                                                 "replaced": self.replaced, "updated": now_iso()},
                                                indent=2) + "\n")
