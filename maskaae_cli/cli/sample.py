"""`maskaae sample`: draw from the masked prior and decode, or reconstruct test data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from maskaae_cli.cli.app import app
from maskaae_cli.cli.common import (
    BatchSizeOpt,
    CheckpointArg,
    DeviceOpt,
    ThreadsOpt,
    dataset_split,
    model_threads,
)
from maskaae_cli.config import MAX_SEED
from maskaae_cli.errors import UserError
from maskaae_cli.progress_bar import progress_bar

console = Console(markup=False)


@app.command()
def sample(
    checkpoint: CheckpointArg,
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="How many samples (or, with "
                                   "--reconstruct, how many test examples) to write.")] = 100,
    out: Annotated[Optional[Path], typer.Option(help="Output file; the suffix picks the format. "
                   "Images: .png (a grid), .npz or .pt (float tensors in [0, 1]). Synthetic vectors: "
                   ".npz, .pt or .csv. (default: samples.png for images, samples.npz for vectors; "
                   "reconstructions.* with --reconstruct)", show_default=False)] = None,
    nrow: Annotated[int, typer.Option(min=1, help="Images per row of a PNG grid.")] = 10,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed of the prior draws; the "
                                      "same seed gives the same samples.")] = 0,
    batch_size: BatchSizeOpt = 1000,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
    reconstruct: Annotated[bool, typer.Option("--reconstruct", help="Write the first N test-split "
                           "examples next to their reconstructions D(alpha * E(x)) instead of "
                           "samples (a PNG grid alternates a row of originals and a row of "
                           "reconstructions; .npz/.pt hold 'originals' and 'reconstructions').")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file "
                         "(otherwise it is never touched).")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")] = True,
) -> None:
    """Generate samples D(alpha * p), p ~ N(0, I), from a trained model and write them to a file.

    Example: maskaae sample runs/mnist -n 100 --out samples.png
    """
    from maskaae_cli import sample_io, sampling  # (heavy imports)
    from maskaae_cli.checkpoint import load_model
    from maskaae_cli.data.loading import as_float
    from maskaae_cli.devices import resolve_device

    dev = resolve_device(device)
    model = load_model(checkpoint, dev)
    model_threads(threads, model)
    path = out if out is not None else sample_io.default_output(model.is_image, reconstruct)
    sample_io.check_output(path, model.is_image, overwrite, n * (2 if reconstruct else 1), model.data_shape)
    if reconstruct:
        data = dataset_split(model, "test")
        if n > len(data):
            raise UserError(f"-n {n}: the test split has only {len(data)} examples")
        originals = data[:n]
        with progress_bar("reconstructing", n, progress) as advance:
            recs = sampling.reconstruct(model, originals, batch_size, dev, advance)
        sample_io.write_pairs(path, as_float(originals), recs, nrow)
        console.print(f"wrote {n} test examples and their reconstructions to {path}")
        return
    with progress_bar("sampling", n, progress) as advance:
        batches = sampling.sample_batches(model, n, seed, batch_size, dev)
        sample_io.write_sample_stream(path, batches, n, model.data_shape, nrow, advance)
    console.print(f"wrote {n} samples ({model.mask.active_dims()} of {model.latent_dim} latent "
                  f"dimensions active) to {path}")
