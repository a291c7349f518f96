"""The paper's Figure 4a from `maskaae sweep-m` folders, with the issue's targets checked.

Reads the MaskAAE rows of some sweep folders and the WAE rows of others (or the same) from their
results.csv, so a change that touches only the mask need not retrain the WAE baseline (check
first that WAE's training is unchanged). Writes results.csv, results.json, sweep.png and
sweep.svg to --out, and prints the table, the cost of the WAE search and the verdicts.

The verdicts use the sweep's metric (each run's final Frechet distance on the test split, what
`maskaae fid` reports). Adversarial training makes one reading noisy, so a second table gives each
run's validation distance averaged over its last --last-evals evaluations (from its metrics.csv).
Runs trained with --ema-decay generate from a moving average of the decoder and mask; for them
last-weights.md repeats the tables and verdicts with the same runs' last weights (a paired reading).

    maskaae sweep-m --dataset synthetic --m 2:8:2,12,16,24,32 --models maae,wae --seeds 0,1 \\
        --jobs 2 --out runs/fig4a
    python benchmarks/fig4a.py --maae runs/fig4a --wae runs/fig4a --out benchmarks/results/fig4a
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from pathlib import Path
from statistics import mean

from discovery import recent_mean, val_history

from maskaae_cli.cli.sweep import cost_lines
from maskaae_cli.sweep.plot import plot_sweep
from maskaae_cli.sweep.results import RunResult, cost_summary, write_results

INT_FIELDS = ("m", "seed", "active_dims", "steps")
FLOAT_FIELDS = ("value", "wall_seconds", "job_seconds")


def load_rows(folder: Path, model: str) -> list[RunResult]:
    """``model``'s rows of FOLDER/results.csv, typed as the sweep writes them."""
    if not (folder / "results.csv").is_file():
        sys.exit(f"error: {folder}/results.csv not found: give a `maskaae sweep-m` output folder")
    rows = []
    with (folder / "results.csv").open(newline="") as f:
        raws = list(csv.DictReader(f))
    for raw in raws:
        if raw["model"] != model:
            continue
        values = {k: (None if v == "" else v) for k, v in raw.items()}
        for k in INT_FIELDS:
            values[k] = int(values[k]) if values[k] is not None else None
        for k in FLOAT_FIELDS:
            values[k] = float(values[k]) if values[k] is not None else None
        values["run_dir"] = f"{folder}/{values['run_dir'] or ''}"
        values["error"] = values["error"] or ""
        rows.append(RunResult(**values))
    return rows


def last_evals_mean(run: RunResult, k: int, key: str = "val/frechet") -> float | None:
    """The mean of a run's last ``k`` validation Frechet distances, or None without a metrics.csv."""
    run_dir = Path(run.run_dir)
    values = val_history(run_dir, key) if (run_dir / "metrics.csv").is_file() else []
    return recent_mean(values, k)


def last_weights(rows: list[RunResult]) -> list[RunResult] | None:
    """``rows`` with each run's last-weights Frechet distance (``frechet_distance_raw`` in its
    summary.json) as the value; None unless every finished run generated from a moving average."""
    out = []
    for r in rows:
        path = Path(r.run_dir) / "summary.json"
        raw = json.loads(path.read_text()).get("frechet_distance_raw") if path.is_file() else None
        if raw is None and r.status == "done":
            return None
        out.append(dataclasses.replace(r, value=raw))
    return out


def smoothed_table(maae: list[RunResult], wae: list[RunResult], k: int,
                   key: str = "val/frechet") -> list[str]:
    """Per m: each model's mean over seeds of the last-k validation distance, and WAE's minimum."""
    last_k = partial(last_evals_mean, k=k, key=key)
    w, q = by_m(wae, last_k), by_m(maae, last_k)
    lines = [f"| m | WAE val FD (mean of last {k} evals, over seeds) | MaskAAE |", "|---|---|---|"]
    lines += [f"| {m} | {mean_text(w.get(m, []))} | {mean_text(q.get(m, []))} |"
              for m in sorted(set(w) | set(q))]
    if w:
        best = min(w, key=lambda m: mean(w[m]))
        lines.append(f"WAE minimum on this reading at m = {best} ({mean(w[best]):.2f})")
    return lines


def by_m(rows: list[RunResult], value: Callable[[RunResult], float | None]) -> dict[int, list[float]]:
    """``value`` of each finished run, grouped by m (runs without one are left out)."""
    out: dict[int, list[float]] = {}
    for r in rows:
        v = value(r) if r.status == "done" else None
        if v is not None:
            out.setdefault(r.m, []).append(float(v))
    return out


def curves(maae: list[RunResult], wae: list[RunResult]) -> tuple[dict, dict, dict]:
    """Per m: WAE's metric, MaskAAE's metric and MaskAAE's active dimensions over seeds."""
    metric = attrgetter("value")
    return by_m(wae, metric), by_m(maae, metric), by_m(maae, attrgetter("active_dims"))


def verdicts(maae: list[RunResult], wae: list[RunResult], n: int) -> list[str]:
    """Figure 4a's targets (issue 5)."""
    w, q, act = curves(maae, wae)
    w_mean = {m: mean(v) for m, v in w.items()}
    m_best = min(w_mean, key=w_mean.get)
    best, m_max = w_mean[m_best], max(w_mean)
    above = [m for m in sorted(q) if m >= n]
    flat = {m: mean(q[m]) / best for m in above}
    found = {m: act[m] for m in above}
    return [
        f"WAE minimum at m = {m_best} (mean {best:.3f}); within {n} +/- 2: {abs(m_best - n) <= 2}",
        f"WAE at m = {m_max} is {w_mean[m_max] / best:.2f}x its minimum; at least 1.5x: "
        f"{w_mean[m_max] >= 1.5 * best}",
        "MaskAAE / WAE minimum for m >= n: " + ", ".join(f"m={m}: {r:.2f}" for m, r in flat.items())
        + f"; all within 1.25x: {all(r <= 1.25 for r in flat.values())}",
        "MaskAAE active dims for m >= n: " + ", ".join(f"m={m}: {'/'.join(str(int(a)) for a in v)}"
                                                      for m, v in found.items())
        + f"; all within {n} +/- 1: {all(abs(a - n) <= 1 for v in found.values() for a in v)}",
    ]


def mean_text(values: list[float]) -> str:
    """The mean to two decimals, or '-' for an m that one model has no finished run at."""
    return f"{mean(values):.2f}" if values else "-"


def table(maae: list[RunResult], wae: list[RunResult]) -> list[str]:
    w, q, act = curves(maae, wae)
    lines = ["| m | WAE FD (per seed) | WAE mean | MaskAAE FD (per seed) | MaskAAE mean "
             "| MaskAAE active dims |", "|---|---|---|---|---|---|"]
    for m in sorted(set(w) | set(q)):
        wv, qv = w.get(m, []), q.get(m, [])
        lines.append(f"| {m} | {', '.join(f'{v:.2f}' for v in wv) or '-'} | {mean_text(wv)} | "
                     f"{', '.join(f'{v:.2f}' for v in qv) or '-'} | {mean_text(qv)} | "
                     f"{', '.join(str(int(a)) for a in act.get(m, []))} |")
    return lines


def finished_rows(folders: list[Path], model: str) -> list[RunResult]:
    """The finished rows of one model from several sweep folders; a (m, seed) in two of them is an error."""
    rows = [r for folder in folders for r in load_rows(folder, model) if r.status == "done"]
    seen: set[tuple[int, int]] = set()
    for r in rows:
        if (r.m, r.seed) in seen:
            sys.exit(f"error: {model} m = {r.m}, seed {r.seed} is in more than one of "
                     + ", ".join(map(str, folders)) + ": pass folders that do not overlap")
        seen.add((r.m, r.seed))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--maae", type=Path, required=True, action="append",
                   help="sweep folder whose MaskAAE rows to use (repeat to combine folders)")
    p.add_argument("--wae", type=Path, required=True, action="append",
                   help="sweep folder whose WAE rows to use (repeat to combine folders)")
    p.add_argument("--out", type=Path, required=True, help="folder for the merged results and figure")
    p.add_argument("--n-true", type=int, default=8)
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.add_argument("--last-evals", type=int, default=4,
                   help="the second table averages each run's last this many validation evaluations")
    a = p.parse_args()
    if a.last_evals < 1:
        sys.exit(f"error: --last-evals must be at least 1 (got {a.last_evals})")
    if (a.out / "results.csv").exists() and not a.overwrite:
        sys.exit(f"error: {a.out}/results.csv exists: pass --overwrite to replace it, "
                 "or choose another --out")
    maae, wae = finished_rows(a.maae, "maae"), finished_rows(a.wae, "wae")
    if not maae or not wae:
        sys.exit("error: need finished MaskAAE rows in " + ", ".join(map(str, a.maae))
                 + " and WAE rows in " + ", ".join(map(str, a.wae)) + " (their results.csv)")
    rows = sorted(maae + wae, key=lambda r: (r.m, r.model, r.seed))
    m_max = max(r.m for r in rows)
    cost = cost_summary(rows, m_max)
    checks = verdicts(maae, wae, a.n_true)
    steps = next(r.steps for r in rows if r.steps)
    a.out.mkdir(parents=True, exist_ok=True)
    write_results(a.out, rows, {"dataset": "synthetic", "n_true": a.n_true, "metric": "frechet_distance",
                                "maae_from": [str(f) for f in a.maae], "wae_from": [str(f) for f in a.wae],
                                "cost": cost, "targets": checks})
    plot_sweep(rows, a.out / "sweep", n_true=a.n_true, title=f"synthetic (n = {a.n_true}), {steps} steps")
    print("\n".join(table(maae, wae)))
    smooth = smoothed_table(maae, wae, a.last_evals)
    (a.out / "last-evals.md").write_text("\n".join(smooth) + "\n")
    print("\n".join(smooth))
    print("\n".join(cost_lines(cost) + checks))
    written = "results.csv, results.json, last-evals.md, sweep.png, sweep.svg"
    raw_maae, raw_wae = last_weights(maae), last_weights(wae)
    if raw_maae and raw_wae:  # the same runs read from their last weights instead of the average
        lines = ["The same runs, generating from their last weights instead of the moving average:", "",
                 *table(raw_maae, raw_wae), "", *smoothed_table(raw_maae, raw_wae, a.last_evals,
                                                              key="val/frechet_raw"),
                 "", *verdicts(raw_maae, raw_wae, a.n_true)]
        (a.out / "last-weights.md").write_text("\n".join(lines) + "\n")
        print("\n" + "\n".join(lines))
        written += ", last-weights.md"
    print(f"written: {a.out}/{written}")


if __name__ == "__main__":
    main()
