"""MaskAAE on real MNIST digits from an oversized latent space: how many dimensions survive?

Trains the ``mnist-cpu`` recipe from m = 32 and from m = 64 on the MNIST test-set file
(t10k IDX images): a fixed 1,000 images are held out (the ``test`` split of ``idx:PATH``);
of the other 9,000, 8,100 train and 900 monitor validation. The paper keeps 11 and 13
active dimensions from m = 32 and m = 64 (docs/algorithm.md).

    python benchmarks/mnist_mask.py               # the full benchmark (~20 minutes per run on a CPU)
    python benchmarks/mnist_mask.py --steps 200   # a quick check of the whole path

Writes ``<out>/mnist_mask.json`` (active dims, held-out reconstruction error, wall time per
run) and ``<out>/mnist_mask_m<M>_samples.png`` (100 samples each); run folders go to
``runs/benchmarks/mnist_mask/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from maskaae_cli.checkpoint import load_model
from maskaae_cli.config import Config
from maskaae_cli.data.registry import load_splits
from maskaae_cli.model import MaskAAE
from maskaae_cli.recipe import load_recipe
from maskaae_cli.training import train

ROOT = Path(__file__).resolve().parent.parent
PAPER_ACTIVE = {32: 11, 64: 13}


def config(recipe: str, data: Path, m: int, steps: int | None, run_dir: Path, threads: int) -> Config:
    cfg = Config()
    cfg.update(load_recipe(recipe), source=recipe)
    train_over: dict[str, Any] = {"out": str(run_dir), "overwrite": True, "threads": threads,
                                  "progress": sys.stderr.isatty()}
    if steps:
        train_over |= {"max_steps": steps, "eval_every": min(cfg.train.eval_every, steps)}
    cfg.update({"data": {"dataset": f"idx:{data}", "val_fraction": 0.1, "split_seed": 0},
                "model": {"m": m}, "train": train_over})
    return cfg


@torch.no_grad()
def held_out_errors(model: MaskAAE, held_out: torch.Tensor) -> dict[str, float]:
    """Per-pixel squared error and binary cross-entropy of reconstructions of the held-out images."""
    x = held_out.float() / 255.0
    x_hat = torch.cat([model.reconstruct(b) for b in x.split(500)])
    return {"heldout_mse": F.mse_loss(x_hat, x).item(),
            "heldout_bce": F.binary_cross_entropy(x_hat.clamp(1e-7, 1 - 1e-7), x).item()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    splits = None
    for m in args.m:
        run_dir = args.runs / f"m{m}"
        cfg = config(args.recipe, args.data, m, args.steps, run_dir, args.threads)
        if splits is None:
            splits = load_splits(cfg.data)
        summary = train(cfg)
        model = load_model(run_dir / "model.ckpt")
        grid = args.out / f"mnist_mask_m{m}_samples.png"
        save_image(model.sample(100, generator=torch.Generator().manual_seed(0)), grid, nrow=10)
        results.append({
            "m": m, "steps": summary["steps"], "active_dims": summary["active_dims"],
            "paper_active_dims": PAPER_ACTIVE.get(m), "alpha": summary["alpha"],
            **held_out_errors(model, splits[2]),
            "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"],
            "samples": str(grid.relative_to(args.out)), "run_dir": str(run_dir),
        })
        print(f"m={m}: {summary['active_dims']} active dims, held-out mse "
              f"{results[-1]['heldout_mse']:.4f}, {summary['wall_seconds']:.0f} s", flush=True)
    assert splits is not None
    report = {
        "benchmark": "MaskAAE on MNIST (t10k file): active dimensions from an oversized latent space",
        "recipe": args.recipe, "steps_override": args.steps, "data": str(args.data),
        "split": {"train": len(splits[0]), "validation": len(splits[1]), "held_out": len(splits[2]),
                  "seed": 0},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": args.threads},
        "runs": results,
    }
    (args.out / "mnist_mask.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="override the recipe's max_steps (quick checks)")
    p.add_argument("--m", type=int, nargs="+", default=[32, 64], help="latent sizes to start from")
    p.add_argument("--recipe", default="mnist-cpu")
    p.add_argument("--data", type=Path, required=True,
                   help="folder with t10k-images-idx3-ubyte.gz (or any one IDX image file)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "benchmarks" / "mnist_mask")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing results file in --out and the run folders in --runs")
    args = p.parse_args()
    taken = [args.out / "mnist_mask.json"] + [args.runs / f"m{m}" for m in args.m]
    taken = [t for t in taken if t.exists()]
    if taken and not args.overwrite:
        sys.exit(f"error: {taken[0]} exists: pass --overwrite to replace it, or choose another --out/--runs")
    run(args)


if __name__ == "__main__":
    main()
