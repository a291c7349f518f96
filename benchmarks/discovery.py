"""Does MaskAAE find the true latent dimension of synthetic data, and at what quality?

Trains, through the real `maskaae train` CLI, MaskAAE on synthetic n-dimensional data from
m = 2n and m = 4n, and WAE at m = n and m = 4n, with the same nets and steps. Prints and writes
(benchmarks/results/discovery.json) each run's final active dimensions, its Frechet distance
(mean of the last --last-evals validation evaluations, plus the final test-split value) and its
wall time.

    python benchmarks/discovery.py                       # n = 8 (the issue's targets)
    python benchmarks/discovery.py --n-true 4 --n-true 12 --jobs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_one(name: str, args: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "maskaae_cli", "train", *args, "--out", str(out), "--overwrite",
           "--threads", "1", "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"name": name, "status": "failed", "error": proc.stderr.strip().splitlines()[-1:]}
    summary = json.loads((out / "summary.json").read_text())
    return {"name": name, "status": "ok", "model": summary["model"], "m": summary["m"],
            "steps": summary["steps"], "active_dims": summary["active_dims"],
            "frechet_test": summary["frechet_distance"], "frechet_val_history": val_history(out),
            "train_seconds": summary["wall_seconds"], "wall_seconds": round(wall, 1)}


def val_history(out: Path, key: str = "val/frechet") -> list[float]:
    """A run's validation Frechet distances in order (``val/frechet_raw``: the last weights')."""
    with (out / "metrics.csv").open(newline="") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def recent_mean(history: list[float], last: int) -> float | None:
    """The mean of the last ``last`` values of ``history`` (None when it is empty)."""
    recent = history[-last:]
    return sum(recent) / len(recent) if recent else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-true", type=int, action="append", help="true dimension(s); default 8")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse-wae", default=None, metavar="JSON",
                   help="take the WAE rows from an earlier results file instead of retraining them "
                        "(only when WAE training is unchanged since)")
    p.add_argument("--recipe", default=None, help="a recipe for every run (default: built-in defaults)")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (each on one thread)")
    p.add_argument("--last-evals", type=int, default=4, help="average the Frechet distance over these")
    p.add_argument("--workdir", default="runs/benchmark-discovery")
    p.add_argument("--out", default=str(RESULTS / "discovery.json"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out results file")
    a = p.parse_args()
    if a.last_evals < 1:
        sys.exit(f"error: --last-evals must be at least 1 (got {a.last_evals})")
    if Path(a.out).exists() and not a.overwrite:
        sys.exit(f"error: {a.out} exists: pass --overwrite to replace it, or choose another --out")
    work = Path(a.workdir)
    ns = a.n_true or [8]
    reused = [r for r in json.loads(Path(a.reuse_wae).read_text())["runs"]
              if r.get("model") == "wae" and r["n_true"] in ns] if a.reuse_wae else []
    plans = []
    for n in ns:
        common = ["--n-true", str(n), "--seed", str(a.seed)]
        common += ["--max-steps", str(a.steps)] if a.steps else []
        common += ["--recipe", a.recipe] if a.recipe else []
        for model, m in (("maae", 2 * n), ("maae", 4 * n), ("wae", n), ("wae", 4 * n)):
            name = f"n{n}-{model}-m{m}"
            if any(r["name"] == name for r in reused):
                continue
            plans.append((n, name, [*common, "--model", model, "--m", str(m)], work / name))
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda t: (t[0], run_one(*t[1:])), plans))
    rows = []
    for r in reused:
        r["reused_from"] = a.reuse_wae
    results = [(r["n_true"], r) for r in reused] + results
    for n, r in results:
        r["n_true"] = n
        r["frechet_recent_mean"] = recent_mean(r.get("frechet_val_history") or [], a.last_evals) or 0.0
        rows.append(r)
    rows.sort(key=lambda r: (ns.index(r["n_true"]), r["name"]))
    print(f"{'run':<18}{'active':>7}{'FD(last evals)':>16}{'FD(test)':>10}{'train s':>9}")
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['name']:<18} FAILED {r['error']}")
            continue
        print(f"{r['name']:<18}{r['active_dims']:>7}{r['frechet_recent_mean']:>16.3f}{r['frechet_test']:>10.3f}"
              f"{r['train_seconds']:>9.0f}")
    verdicts = targets(rows)
    for line in verdicts:
        print(line)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"runs": rows, "targets": verdicts, "jobs": a.jobs,
                                          "recipe": a.recipe, "reuse_wae": a.reuse_wae}, indent=2) + "\n")
    print(f"written: {a.out}")


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets, per true dimension."""
    out = []
    by = {(r["n_true"], r.get("model"), r.get("m")): r for r in rows if r["status"] == "ok"}
    for n in sorted({r["n_true"] for r in rows}):
        runs = [by.get((n, "maae", 2 * n)), by.get((n, "maae", 4 * n))]
        w_n, w_big = by.get((n, "wae", n)), by.get((n, "wae", 4 * n))
        if None in runs or not w_n or not w_big:
            out.append(f"n={n}: incomplete")
            continue
        found = all(abs(r["active_dims"] - n) <= 1 for r in runs)
        fd = runs[1]["frechet_recent_mean"]
        quality = fd <= 1.25 * w_n["frechet_recent_mean"] and fd < w_big["frechet_recent_mean"]
        fast = all(r["wall_seconds"] < 900 for r in runs)
        out.append(f"n={n}: active dims within n+/-1 from both starts: {found}; "
                   f"FD(maae, m={4 * n}) <= 1.25 x FD(wae, m={n}) and < FD(wae, m={4 * n}): {quality}; "
                   f"each MaskAAE run under 15 min: {fast}")
    return out


if __name__ == "__main__":
    main()
