"""Does the latent cycle error tell runs that kept too many dimensions from the others?

For every finished run folder under the given folders (run folders, `maskaae sweep-m` folders or
discovery work folders), computes maskaae_cli.metrics.latent_cycle on 10,000 prior draws with the
last weights, and sets it against the true dimension of the synthetic data: the largest per-dim
error of the runs that kept at most n open dimensions, the smallest of those that kept more.

    python benchmarks/cycle_check.py runs/fig4a runs/disc --out benchmarks/results/cycle-check.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from maskaae_cli.checkpoint import load_model
from maskaae_cli.metrics.latent_cycle import latent_cycle_error


def run_folders(roots: list[Path]) -> list[Path]:
    """Every folder holding model.ckpt and summary.json at or below ``roots``, sorted."""
    found = {p.parent for root in roots for p in root.rglob("model.ckpt")}
    return sorted(run for run in found if (run / "summary.json").is_file())


def check(run: Path) -> dict:
    model = load_model(run)
    err = latent_cycle_error(model)
    open_err = [float(e) for e in err if not math.isnan(float(e))]
    summary = json.loads((run / "summary.json").read_text())
    cfg = model.cfg
    return {"run": str(run), "model": cfg.model.model, "m": cfg.model.m, "seed": cfg.train.seed,
            "n_true": cfg.data.n_true if cfg.data.dataset == "synthetic" else None,
            "active_dims": len(open_err), "frechet_distance": summary.get("frechet_distance"),
            "cycle_max": max(open_err), "cycle_mean": sum(open_err) / len(open_err),
            "cycle_per_dim": [round(e, 4) for e in open_err]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="results JSON")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    a = p.parse_args()
    if a.out.exists() and not a.overwrite:
        sys.exit(f"error: {a.out} exists: pass --overwrite to replace it, or choose another --out")
    torch.set_num_threads(1)
    runs = run_folders(a.folders)
    if not runs:
        sys.exit(f"error: no finished run (model.ckpt + summary.json) under {', '.join(map(str, a.folders))}")
    rows = [check(r) for r in runs]
    print("| run | n | active | FD | cycle error: max | mean |\n|---|---|---|---|---|---|")
    for r in rows:
        fd = f"{r['frechet_distance']:.2f}" if r["frechet_distance"] is not None else "-"
        print(f"| {r['run']} | {r['n_true']} | {r['active_dims']} | {fd} | {r['cycle_max']:.3f} | "
              f"{r['cycle_mean']:.3f} |")
    known = [r for r in rows if r["n_true"] is not None]
    verdict = {"runs_at_most_n": sum(r["active_dims"] <= r["n_true"] for r in known),
               "runs_above_n": sum(r["active_dims"] > r["n_true"] for r in known)}
    for stat in ("cycle_max", "cycle_mean"):  # the largest per-dim error, and the mean over open dims
        tight = [r[stat] for r in known if r["active_dims"] <= r["n_true"]]
        loose = [r[stat] for r in known if r["active_dims"] > r["n_true"]]
        if tight and loose:
            verdict[stat] = {"largest_at_most_n": max(tight), "smallest_above_n": min(loose),
                             "separated": max(tight) < min(loose)}
    print(json.dumps(verdict, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"verdict": verdict, "runs": rows}, indent=2) + "\n")
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
