"""The paper's Figure 4c on real MNIST, on a CPU: WAE's U-shaped quality curve against MaskAAE.

    python benchmarks/mnist_fig4.py --data PATH/TO/mnist-test --workdir runs/mnist-fig4 \
        --out benchmarks/results/mnist-fig4.json --jobs 2

1. Splits the MNIST test file once (``benchmarks/mnist_eval.py``): 8,000 images train the
   auto-encoders (the run's own 10% of them validate) and a digit classifier; 2,000 only evaluate.
2. ``maskaae sweep-m`` trains WAE and MaskAAE at every --m with seed 0, and at --seed1-m with
   seed 1, with the preset (--recipe, default mnist-cpu), one thread each, --jobs at a time.
   Re-running resumes: finished runs are skipped.
3. Measures every run through the CLI: ``maskaae fid RUN --features digit_features.pt`` (10,000
   samples against the 2,000 evaluation images, in the classifier's 128-dimensional feature
   space) and ``--features raw`` (pixel space); and, in-process, the reconstructions of the
   evaluation images (their error and their Frechet distance in the classifier's space).
4. Prints each target with its verdict, writes the results file and the figure beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from maskaae_cli.checkpoint import load_model
from maskaae_cli.data.idx import read_idx_images
from maskaae_cli.metrics.features import build_feature_space
from maskaae_cli.metrics.fid import compare, compute_real, summarise
from maskaae_cli.sampling import reconstruct
from maskaae_cli.sweep.plan import RunSpec, grid, parse_int_range

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fig4_common import MODELS, cli, machine, plot_against_m, run_sweep  # noqa: E402
from mnist_eval import md5, prepare  # noqa: E402

PAPER_ACTIVE = {32: 11, 64: 13, 110: 11}
TARGETS = {"wae_u_ratio": 1.3, "maae_within": 1.15, "active": (9, 16), "mle_band": (0.5, 2.0), "minutes": 30}


def sweep(args: argparse.Namespace, eval_dir: Path, ms: str, seeds: str) -> None:
    words = ["sweep-m", "--dataset", f"idx:{eval_dir / 'data'}", "--recipe", args.recipe, "--m", ms,
             "--seeds", seeds, "--jobs", args.jobs, "--threads", 1, "--eval-features",
             eval_dir / "digit_features.pt", "--out", args.workdir / "sweep", "--no-progress"]
    run_sweep(words)


@torch.no_grad()
def reconstruction_metrics(run: Path, images: torch.Tensor, features: Path,
                           real_stats: Any) -> dict[str, float]:
    """Error and classifier-space Frechet distance of the reconstructions of the evaluation images."""
    model = load_model(run)
    x = images.float() / 255.0
    x_hat = reconstruct(model, images, batch_size=500)
    space = build_feature_space(str(features))
    fake = summarise(space, x_hat.split(500))
    return {"eval_reconstruction_mse": F.mse_loss(x_hat, x).item(),
            "eval_reconstruction_bce": F.binary_cross_entropy(x_hat.clamp(1e-7, 1 - 1e-7), x).item(),
            "eval_reconstruction_frechet": compare(fake, real_stats, space.name).fid}


def measure(run: Path, seed: int, features: Path, images: torch.Tensor, real_stats: Any) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text())
    clf = json.loads(cli("fid", run, "--features", features, "--json", "--seed", seed, "-n", 10_000,
                         "--no-progress", "--no-cache").stdout)
    raw = json.loads(cli("fid", run, "--features", "raw", "--json", "--seed", seed, "-n", 10_000,
                         "--no-progress").stdout)
    return {"active_dims": summary["active_dims"], "steps": summary["steps"],
            "frechet_classifier": clf["fid"], "frechet_pixels": raw["fid"],
            "summary_frechet": summary.get("frechet_distance"),
            "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"],
            **reconstruction_metrics(run, images, features, real_stats)}


def verdicts(rows: list[dict[str, Any]], mle: float | None = None,
             better_at: tuple[int, ...] = (32, 64)) -> list[dict[str, Any]]:
    """Each target of the benchmark, with what was measured and whether it is met. With ``mle`` (an
    intrinsic-dimension estimate) the dimension target is also met within its band of the estimate;
    MaskAAE is compared with WAE at the same m for the m of ``better_at``."""
    def fd(model: str, m: int, seed: int = 0) -> float | None:
        found = [r for r in rows if (r["model"], r["m"], r["seed"]) == (model, m, seed)]
        return found[0]["frechet_classifier"] if found else None

    wae = {r["m"]: r["frechet_classifier"] for r in rows if r["model"] == "wae" and r["seed"] == 0}
    if not wae:
        return [{"target": "WAE trained at some m", "measured": "none", "met": False}]
    ms = sorted(wae)
    best_m = min(wae, key=wae.get)
    best = wae[best_m]
    out = [{"target": "WAE's curve is U-shaped: its minimum at an interior m",
            "measured": f"minimum {best:.1f} at m = {best_m} (m from {ms[0]} to {ms[-1]})",
            "met": ms[0] < best_m < ms[-1]},
           {"target": f"WAE at m = {ms[-1]} is at least {TARGETS['wae_u_ratio']}x its minimum",
            "measured": f"{wae[ms[-1]] / best:.2f}x", "met": wae[ms[-1]] >= TARGETS["wae_u_ratio"] * best}]
    masked = sorted((r for r in rows if r["model"] == "maae" and r["m"] >= 16),
                    key=lambda r: (r["seed"], r["m"]))
    for r in masked:
        ratio = r["frechet_classifier"] / best
        out.append({"target": f"MaskAAE m = {r['m']} (seed {r['seed']}) within {TARGETS['maae_within']}x of "
                              "WAE's minimum", "measured": f"{ratio:.2f}x",
                    "met": ratio <= TARGETS["maae_within"]})
        low, high = TARGETS["active"]
        keeps = low <= r["active_dims"] <= high
        if mle is None:
            out.append({"target": f"MaskAAE m = {r['m']} (seed {r['seed']}) keeps {low}-{high} dimensions",
                        "measured": f"{r['active_dims']}", "met": keeps})
        else:
            below, above = TARGETS["mle_band"]
            ratio = r["active_dims"] / mle
            out.append({"target": f"MaskAAE m = {r['m']} (seed {r['seed']}) keeps {low}-{high} dimensions or "
                                  f"{below}x-{above}x the MLE estimate ({mle:.1f})",
                        "measured": f"{r['active_dims']} ({ratio:.2f}x)",
                        "met": keeps or below <= ratio <= above})
        other = fd("wae", r["m"], r["seed"])
        if r["m"] in better_at and other is not None:
            out.append({"target": f"MaskAAE better than WAE at m = {r['m']} (seed {r['seed']})",
                        "measured": f"{r['frechet_classifier']:.1f} vs {other:.1f}",
                        "met": r["frechet_classifier"] < other})
    slowest = max(rows, key=lambda r: r["wall_seconds"])
    out.append({"target": f"every run under {TARGETS['minutes']} minutes",
                "measured": f"slowest {slowest['wall_seconds'] / 60:.1f} min "
                            f"({slowest['model']} m = {slowest['m']})",
                "met": slowest["wall_seconds"] < 60 * TARGETS["minutes"]})
    return out


def figure(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    def mark(ax: Any, all_m: list[int]) -> None:
        ax.axhspan(TARGETS["active"][0], TARGETS["active"][1], color="green", alpha=0.1, label="target 9-16")
        for m, n in PAPER_ACTIVE.items():
            if m <= max(all_m):
                ax.plot([m], [n], "k*", ms=9, label="paper" if m == 32 else None)

    quality = [("frechet_classifier", "Frechet distance, digit-classifier features",
                "sample quality against m"),
               ("frechet_pixels", "Frechet distance, pixels", "sample quality in pixel space")]
    plot_against_m(rows, path, title, quality, mark, figsize=(15, 4.2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with the MNIST test split's IDX files")
    p.add_argument("--workdir", type=Path, default=Path("runs/mnist-fig4"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/mnist-fig4.json"))
    p.add_argument("--recipe", default="mnist-cpu")
    p.add_argument("--m", default="4,8,12,16,32,64", help="latent sizes, seed 0")
    p.add_argument("--seed1-m", default="16,64", help="latent sizes also trained with seed 1")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--machine-note", default="", help="what else shared the machine (for the record)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    p.add_argument("--measure-only", action="store_true",
                   help="train nothing: measure the finished runs of --workdir's sweep (unfinished ones are "
                        "listed as missing and their targets as not measured)")
    args = p.parse_args()
    if args.out.exists() and not args.overwrite:
        sys.exit(f"error: {args.out} exists: pass --overwrite to replace it, or choose another --out")
    started = time.time()
    eval_dir = args.workdir / "eval"
    split_file = eval_dir / "split.json"
    candidates = (args.data / "t10k-images-idx3-ubyte.gz", args.data / "t10k-images-idx3-ubyte")
    images_md5 = md5(next(f for f in candidates if f.is_file()))
    split = json.loads(split_file.read_text()) if split_file.is_file() else None
    if split is None or split["source"]["images_md5"] != images_md5:
        split = prepare(args.data, eval_dir)
    features = eval_dir / "digit_features.pt"
    if not args.measure_only:
        sweep(args, eval_dir, args.m, "0")
        if args.seed1_m:
            sweep(args, eval_dir, args.seed1_m, "1")

    images = read_idx_images(eval_dir / "data" / "t10k-images-idx3-ubyte")
    real_stats = compute_real(images, build_feature_space(str(features)), 500)
    study = json.loads((args.workdir / "sweep" / "sweep.json").read_text())
    rows = []
    models = list(MODELS)
    wanted = grid(models, parse_int_range(args.m, "--m", 1), [0])
    if args.seed1_m:
        wanted += grid(models, parse_int_range(args.seed1_m, "--seed1-m", 1), [1])
    for spec in (RunSpec(r["seed"], r["m"], r["model"]) for r in study["runs"]):
        run = args.workdir / "sweep" / "runs" / spec.name
        if not (run / "summary.json").is_file():
            continue
        row = {"model": spec.model, "m": spec.m, "seed": spec.seed,
               **measure(run, spec.seed, features, images, real_stats)}
        rows.append(row)
        print(f"{spec.model:>4} m={spec.m:>2} s{spec.seed}: {row['active_dims']:>2} active, "
              f"FD classifier {row['frechet_classifier']:.1f}, pixels {row['frechet_pixels']:.1f}, "
              f"reconstructions {row['eval_reconstruction_frechet']:.1f} "
              f"(mse {row['eval_reconstruction_mse']:.4f}), {row['wall_seconds']:.0f} s", flush=True)
    done = {RunSpec(r["seed"], r["m"], r["model"]) for r in rows}
    missing = [{"model": w.model, "m": w.m, "seed": w.seed} for w in wanted if w not in done]
    for w in missing:
        print(f"{w['model']:>4} m={w['m']:>2} s{w['seed']}: not trained (missing from the grid)")
    checks = verdicts(rows)
    if missing:
        checks.append({"target": "the whole grid measured (every target above is judged on it)",
                       "measured": f"{len(missing)} of {len(wanted)} runs missing", "met": False})
    for c in checks:
        print(f"[{'MET' if c['met'] else 'NOT MET'}] {c['target']}: {c['measured']}")
    config = study["identity"]["config"]
    report = {
        "benchmark": "Figure 4c on real MNIST: WAE and MaskAAE against the latent size, on a CPU",
        "command": " ".join("MNIST_TEST_DIR" if w == str(args.data) else w for w in sys.argv),
        "recipe": args.recipe, "config": config, "split": split,
        "machine": machine(args.jobs, args.machine_note),
        "quality": "Frechet distance of 10,000 generated images against the 2,000 evaluation images in the "
                   "digit classifier's 128-dimensional penultimate layer ('maskaae fid RUN --features "
                   "digit_features.pt --seed SEED'); frechet_pixels: the same in pixel space",
        "runs": rows, "missing_runs": missing, "targets": checks, "all_met": all(c["met"] for c in checks),
        "benchmark_seconds": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    figure(rows, args.out.with_suffix(".png"), f"MNIST (8,000 training images), preset {args.recipe}")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
