"""`maskaae train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from maskaae_cli.cli.app import app
from maskaae_cli.config import Config, load_recipe

console = Console()


def build_config(recipe: Optional[str], overrides: dict[str, dict]) -> Config:
    """Defaults, then the recipe, then the options given on the command line."""
    cfg = Config()
    if recipe:
        cfg.update(load_recipe(recipe), source=recipe)
    cfg.update({s: {k: v for k, v in fields.items() if v is not None}
                for s, fields in overrides.items()})
    cfg.validate()
    return cfg


@app.command()
def train(
    dataset: Annotated[Optional[str], typer.Option(help="synthetic (default; no download), mnist, "
                       "fashion-mnist, cifar10, celeba, folder:PATH for your own png/jpg images, or "
                       "idx:PATH for MNIST-format IDX files.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder that holds (or receives) the "
                        "downloaded datasets; put a local CelebA (img_align_celeba.zip or folder) "
                        "under DATA_DIR/celeba. (default: $MASKAAE_DATA, else "
                        "~/.cache/maskaae/data)")] = None,
    download: Annotated[Optional[bool], typer.Option("--download/--no-download", help="Download a "
                        "missing dataset (MNIST, Fashion-MNIST, CIFAR-10, CelebA); with --no-download "
                        "a missing one is an error that names the files to fetch. "
                        "(default: download)")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="folder: and CelebA images: resize to "
                          "this many pixels a side (conv nets take 32 or 64). (default: 64)")] = None,
    celeba_crop: Annotated[Optional[int], typer.Option(help="CelebA: side of the centre square "
                           "cropped before resizing (the reference 'celeba140'). (default: 140)")] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes; the data "
                           "sits in memory, so 0 is usually fastest. (default: 0)")] = None,
    m: Annotated[Optional[int], typer.Option("--m", help="Latent size to start from; the mask "
                 "switches off what the data does not need. (default: 32)")] = None,
    model: Annotated[Optional[str], typer.Option(help="maae (with the mask) or wae (the same nets, "
                     "no mask: the paper's baseline). (default: maae)")] = None,
    n_true: Annotated[Optional[int], typer.Option(help="Synthetic data: true latent dimension n. "
                      "(default: 8)")] = None,
    data_dim: Annotated[Optional[int], typer.Option(help="Synthetic data: dimension d of x. "
                        "(default: 128)")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Training iterations (each one: auto-"
                         "encoder, n_critic critic, encoder and mask steps). (default: 20000)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Mini-batch size per step and per "
                          "device. (default: 64)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; the same seed gives the same "
                    "run on the same machine. (default: 0)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder for the checkpoint, config, "
                   "metrics, plots and summary.json. (default: runs/maskaae)")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="YAML recipe (a path, or a name from "
                      "recipes/ such as mnist); options given here override it.")] = None,
    arch: Annotated[Optional[str], typer.Option(help="Nets: mlp, conv, or auto (by data shape). "
                    "(default: auto)")] = None,
    eval_every: Annotated[Optional[int], typer.Option(help="Evaluate (validation error, Frechet "
                          "distance on vectors) every this many steps. (default: 2000)")] = None,
    log_every: Annotated[Optional[int], typer.Option(help="Log losses and the mask every this many "
                         "steps. (default: 50)")] = None,
    ckpt_every: Annotated[Optional[int], typer.Option(help="Write checkpoints/last.ckpt every this "
                          "many steps. (default: 5000)")] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="cpu, gpu or auto. "
                           "(default: auto)")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch. "
                       "(default: torch's choice)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder "
                         "(otherwise it is never touched).")] = False,
    progress: Annotated[bool, typer.Option(help="Show the live progress display.")] = True,
    compile_nets: Annotated[bool, typer.Option("--compile", help="torch.compile the encoder, decoder "
                            "and critic: slow to start (tens of seconds), then faster per step on a "
                            "GPU; it needs a C++ compiler on the CPU.")] = False,
) -> None:
    """Train a MaskAAE (or the WAE baseline) and write a run folder.

    Example: maskaae train --dataset synthetic --n-true 8 --m 32 --out runs/syn8
    """
    cfg = build_config(recipe, {
        "data": {"dataset": dataset, "n_true": n_true, "data_dim": data_dim,
                 "data_dir": str(data_dir) if data_dir else None, "download": download,
                 "image_size": image_size, "celeba_crop": celeba_crop, "num_workers": num_workers},
        "model": {"m": m, "model": model, "arch": arch},
        "optim": {"batch_size": batch_size},
        "train": {"max_steps": max_steps, "seed": seed, "out": str(out) if out else None,
                  "eval_every": eval_every, "log_every": log_every, "ckpt_every": ckpt_every,
                  "accelerator": accelerator, "threads": threads,
                  "overwrite": overwrite or None, "progress": progress, "compile": compile_nets or None},
    })
    from maskaae_cli.training import train as run_training  # noqa: PLC0415  (heavy imports)

    summary = run_training(cfg)
    print_summary(summary, cfg.train.out)


def print_summary(summary: dict, out: str) -> None:
    table = Table(title=f"run {out}", show_header=False)
    for key in ("model", "dataset", "m", "steps", "active_dims", "frechet_distance",
                "test_reconstruction", "wall_seconds"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"summary: {Path(out) / 'summary.json'}   checkpoint: {Path(out) / 'model.ckpt'}")
