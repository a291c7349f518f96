"""What each run folder holds, the results table (results.csv / results.json) and the cost summary."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from statistics import mean
from typing import Any

from maskaae_cli.atomic_io import atomic_write_text
from maskaae_cli.sweep.plan import RunSpec

FID_FILE = "fid.json"  # `maskaae fid RUN --json` output, for image datasets
SYNTHETIC_METRIC = "frechet_distance"  # summary.json's, the same number as `maskaae fid RUN --seed SEED`
IMAGE_METRIC = "fid"


@dataclass
class RunResult:
    """One row of results.csv."""

    model: str
    m: int
    seed: int
    status: str  # done, failed or pending
    active_dims: int | None = None
    metric: str | None = None
    value: float | None = None
    steps: int | None = None
    wall_seconds: float | None = None  # training time (summary.json)
    job_seconds: float | None = None  # the whole subprocess(es) of this sweep run, when run now
    run_dir: str = ""
    error: str = ""

    @property
    def trained(self) -> bool:
        return self.steps is not None


COLUMNS = [f.name for f in fields(RunResult)]


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable (a crashed write)."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def run_metric(run_dir: Path, summary: dict[str, Any]) -> tuple[str, float] | None:
    """(metric name, value) of a trained run: summary.json's Frechet distance, else fid.json's FID."""
    if summary.get(SYNTHETIC_METRIC) is not None:
        return SYNTHETIC_METRIC, float(summary[SYNTHETIC_METRIC])
    record = read_json(run_dir / FID_FILE)
    if record and record.get(IMAGE_METRIC) is not None:
        return IMAGE_METRIC, float(record[IMAGE_METRIC])
    return None


def load_result(spec: RunSpec, run_dir: Path, label: str, error: str = "",
                job_seconds: float | None = None) -> RunResult:
    """The row for ``spec`` from its folder: done (trained and measured), else failed or pending.

    ``error`` (the last attempt's one-line reason) makes an unfinished run ``failed``.
    """
    row = RunResult(spec.model, spec.m, spec.seed, "pending", run_dir=label,
                    job_seconds=round(job_seconds, 2) if job_seconds is not None else None)
    summary = read_json(run_dir / "summary.json")
    if summary is not None:
        row.active_dims = summary.get("active_dims")
        row.steps = summary.get("steps")
        row.wall_seconds = summary.get("wall_seconds")
        metric = run_metric(run_dir, summary)
        if metric is not None:
            row.metric, row.value = metric
            row.status = "done"
            return row
        row.metric = IMAGE_METRIC
    if error:
        row.status, row.error = "failed", error
    return row


def needs(run_dir: Path) -> str:
    """What a run folder still needs: ``nothing``, ``metric`` (trained, not measured) or ``train``."""
    summary = read_json(run_dir / "summary.json")
    if summary is None:
        return "train"
    return "nothing" if run_metric(run_dir, summary) is not None else "metric"


def write_results(sweep_dir: Path, rows: list[RunResult], extra: dict[str, Any]) -> None:
    """results.csv (one row per run) and results.json (the rows plus ``extra``: options, cost, ...)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    atomic_write_text(sweep_dir / "results.csv", buffer.getvalue())
    payload = {**extra, "runs": [asdict(row) for row in rows]}
    atomic_write_text(sweep_dir / "results.json", json.dumps(payload, indent=2) + "\n")


def cost_summary(rows: list[RunResult], m_max: int) -> dict[str, Any] | None:
    """The brute-force WAE search over every m against one MaskAAE run at the largest m.

    Both sides average over the seeds that finished training: the WAE side sums, over m, the mean
    wall time (and steps) of its seeds; the MaskAAE side is the mean over seeds at ``m_max``.
    None until at least one run of each side has trained.
    """
    wae = [r for r in rows if r.model == "wae"]
    maae = [r for r in rows if r.model == "maae" and r.m == m_max and r.trained]
    wae_ms = sorted({r.m for r in wae})
    per_m = {m: [r for r in wae if r.m == m and r.trained] for m in wae_ms}
    if not maae or not any(per_m.values()):
        return None
    wae_wall = sum(mean(r.wall_seconds or 0.0 for r in runs) for runs in per_m.values() if runs)
    wae_steps = sum(mean(r.steps or 0 for r in runs) for runs in per_m.values() if runs)
    maae_wall = mean(r.wall_seconds or 0.0 for r in maae)
    maae_steps = mean(r.steps or 0 for r in maae)
    return {
        "wae_m_values": [m for m, runs in per_m.items() if runs],
        "wae_complete": all(r.trained for r in wae),
        "wae_sweep_wall_seconds": round(wae_wall, 2),
        "wae_sweep_steps": round(wae_steps, 1),
        "maae_m": m_max,
        "maae_seeds": len(maae),
        "maae_run_wall_seconds": round(maae_wall, 2),
        "maae_run_steps": round(maae_steps, 1),
        "wall_ratio": round(wae_wall / maae_wall, 3) if maae_wall else None,
        "steps_ratio": round(wae_steps / maae_steps, 3) if maae_steps else None,
    }
