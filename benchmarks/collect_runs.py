"""Gather finished `maskaae train` run folders into one results file.

For each run folder: its model, m, seed, true dimension and recipe (from config.yaml and
run.json), the final active dimensions and test-split Frechet distance (summary.json), the mean of
its last --last-evals validation Frechet distances and the whole validation history (metrics.csv),
and its wall time. Prints a table and writes --out (JSON). Use it for runs made outside a
benchmark script, e.g. single points of Figure 4a:

    python benchmarks/collect_runs.py runs/r9/fig4a-m*-s* --about "round 9, Figure 4a points" \\
        --out benchmarks/results/fig4a-round9-points.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from discovery import recent_mean, val_history


def collect(run: Path, last_evals: int) -> dict:
    """One finished run folder as a results row."""
    summary = json.loads((run / "summary.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    history = val_history(run)
    return {"run": str(run), "model": summary["model"], "m": summary["m"], "seed": summary["seed"],
            "n_true": config["data"]["n_true"], "steps": summary["steps"],
            "active_dims": summary["active_dims"], "frechet_test": summary.get("frechet_distance"),
            "frechet_recent_mean": recent_mean(history, last_evals),
            "frechet_val_history": history, "wall_seconds": summary["wall_seconds"],
            "command": json.loads((run / "run.json").read_text()).get("command")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished run folders")
    p.add_argument("--last-evals", type=int, default=4, help="average the Frechet distance over these")
    p.add_argument("--about", default="", help="what the runs are, written into the file")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out results file")
    a = p.parse_args()
    if a.last_evals < 1:
        sys.exit(f"error: --last-evals must be at least 1 (got {a.last_evals})")
    if a.out.exists() and not a.overwrite:
        sys.exit(f"error: {a.out} exists: pass --overwrite to replace it, or choose another --out")
    needed = ("summary.json", "config.yaml", "run.json", "metrics.csv")
    missing = [str(r) for r in a.runs if not all((r / f).is_file() for f in needed)]
    if missing:
        sys.exit(f"error: not a finished run folder (needs {', '.join(needed)}): {', '.join(missing)}")
    rows = sorted((collect(r, a.last_evals) for r in a.runs),
                  key=lambda r: (r["n_true"], r["model"], r["m"], r["seed"]))
    print(f"{'run':<32}{'n':>3}{'m':>4}{'seed':>5}{'active':>7}{'FD(last evals)':>16}{'FD(test)':>10}"
          f"{'wall s':>8}")
    for r in rows:
        fds = [f"{v:.3f}" if v is not None else "-" for v in (r["frechet_recent_mean"], r["frechet_test"])]
        print(f"{Path(r['run']).name:<32}{r['n_true']:>3}{r['m']:>4}{r['seed']:>5}{r['active_dims']:>7}"
              f"{fds[0]:>16}{fds[1]:>10}{r['wall_seconds']:>8.0f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"about": a.about, "last_evals": a.last_evals, "runs": rows}
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
