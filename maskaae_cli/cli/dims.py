"""`maskaae dims`: independent intrinsic-dimension estimates of a dataset, beside a run's mask count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from maskaae_cli.atomic_io import json_text
from maskaae_cli.cli.app import app
from maskaae_cli.cli.common import check_run_data
from maskaae_cli.cli.options import config_parameters, with_parameters
from maskaae_cli.config import MAX_SEED
from maskaae_cli.errors import UserError
from maskaae_cli.progress_bar import progress_bar

console = Console(markup=False)

DEFAULT_N = 10_000
# the data options of `maskaae train` that dims does not take (DATA is the dataset)
NOT_DIMS_OPTIONS = ("dataset", "num_workers")
DATA_PANEL = "Data options (as 'maskaae train' takes them; not with a run folder)"
NOTE = ("An auto-encoder's count of latent dimensions need not equal an estimator's figure: both are "
        "reported, and neither is picked.")


def dims(
    data: Annotated[str, typer.Argument(help="What to measure: anything --dataset takes (synthetic, "
                    "mnist, idx:PATH, folder:PATH, ...) or a run folder of 'maskaae train' (its dataset, "
                    "and its mask's active dimensions beside the estimates; the data options do not apply).",
                    show_default=False)],
    n: Annotated[Optional[int], typer.Option("-n", "--n", min=3, show_default=False, help="Samples of "
                 "the training split to estimate on, drawn without replacement (fixed by --seed). "
                 f"(default: {DEFAULT_N:,}, or the whole split when it is smaller)")] = None,
    k: Annotated[str, typer.Option("--k", help="Neighbour counts for the MLE estimator, comma-"
                 "separated; each must be at least 2 and smaller than -n.")] = "5,10,20",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object (each estimate, n, the "
                       "dataset and, for a run folder, its active dimensions) instead of a table.")] = False,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed of the choice of samples.")] = 0,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads for the neighbour "
                       "search. (default: the free cores, never more)", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")] = True,
    **data_options: Any,
) -> None:
    """Estimate a dataset's intrinsic dimension (MLE, TwoNN) beside a run's active dimensions.

    MLE at each k and TwoNN, from scikit-dimension, on n samples of the training split. For a run
    folder: its dataset, with the mask's count of active dimensions beside the estimates. The two
    need not agree, and the command does not pick one.

    Example: maskaae dims synthetic --n-true 8 -n 5000, or maskaae dims runs/mnist
    """
    from maskaae_cli import intrinsic_dim

    ks = intrinsic_dim.parse_ks(k)
    if n is not None and max(ks) >= n:
        raise UserError(f"--k {max(ks)} with -n {n}: every k must be smaller than n")
    data_cfg, run = _resolve(data, data_options)
    with _thread_limit(threads):
        from maskaae_cli.data import MaskAAEDataModule

        dm = MaskAAEDataModule(data_cfg)
        dm.setup()
        assert dm.train_data is not None
        if n is None:
            n = min(DEFAULT_N, len(dm.train_data))
            if n < max(3, max(ks) + 1):  # the data is too small for the defaults: say so, not "-n N"
                raise UserError(f"the training split of {data_cfg.dataset} has only {n} samples: the "
                                f"estimators need at least {max(3, max(ks) + 1)} (more than the largest "
                                "--k); use more data, or a smaller --k")
        intrinsic_dim.check_sizes(n, ks, len(dm.train_data))
        train = dm.train_data.numpy()
        x = intrinsic_dim.subsample(train, n, seed)
        if train.dtype.kind == "u":  # uint8 images: as the model sees them, in [0, 1]
            x /= 255.0
        with progress_bar("estimating", len(ks) + 2, progress) as advance:
            result = intrinsic_dim.estimate(x, ks, advance)
    record = {"data": data, "dataset": data_cfg.dataset, "split": "train", "seed": seed, "k": ks,
              **({"n_true": data_cfg.n_true, "data_dim": data_cfg.data_dim}
                 if data_cfg.dataset == "synthetic" else {}),
              **result.to_dict(), "run": run, "note": NOTE}
    if as_json:
        typer.echo(json_text(record), nl=False)
        return
    console.print(_table(record))
    console.print(NOTE, style="dim")


def _resolve(data: str, options: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """(the data config, the run's mask record or None) for DATA and the data options."""
    from maskaae_cli.run_files import FINAL_CHECKPOINT, LAST_CHECKPOINT, RUN_RECORD

    path = Path(data).expanduser()
    given = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is not None]
    if path.is_dir():
        if not any((path / f).is_file() for f in (RUN_RECORD, FINAL_CHECKPOINT, LAST_CHECKPOINT)):
            raise UserError(f"{data} is a folder but not a maskaae run folder (no {RUN_RECORD} or "
                            f"checkpoint): for a folder of images give folder:{data}")
        if given:
            raise UserError(f"{', '.join(given)} cannot be used with a run folder: it keeps the data it "
                            "was trained on")
        from maskaae_cli.checkpoint import load_model, resolve_checkpoint

        model = load_model(path)
        run = {"path": str(path), "checkpoint": str(resolve_checkpoint(path)), "model": model.cfg.model.model,
               "m": model.latent_dim, "steps": model.step_count,
               "active_dims": model.mask.active_dims() if model.uses_mask else None,
               "active_threshold": model.mask.active_threshold}
        check_run_data(model.cfg.data)
        return model.cfg.data, run
    from maskaae_cli.presets import build_config, config_overrides

    cfg, _ = build_config(None, config_overrides({"dataset": data, **options}))
    return cfg.data, None


@contextmanager
def _thread_limit(threads: int | None) -> Iterator[None]:
    """Limit torch and the BLAS / OpenMP pools to ``threads`` (None: the free cores, never more)."""
    import torch
    from threadpoolctl import threadpool_limits

    from maskaae_cli.threads import choose_threads

    threads = threads or choose_threads(float("inf")).threads  # a neighbour search is large work
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        yield


def _table(record: dict[str, Any]) -> Table:
    what = record["dataset"]
    if "n_true" in record:
        what += f" (n_true {record['n_true']}, d {record['data_dim']})"
    used = record["n_used"]
    sample = f"{used} samples" + (f" ({record['duplicates_dropped']} duplicates dropped)"
                                  if record["duplicates_dropped"] else "")
    table = Table(title=f"intrinsic dimension: {what}", caption=f"{sample} of the training split")
    table.add_column("estimator")
    table.add_column("k", justify="right")
    table.add_column("dimension", justify="right")
    for e in record["estimates"]:
        table.add_row("MLE" if e["estimator"] == "mle" else "TwoNN", "" if e["k"] is None else str(e["k"]),
                      f"{e['dimension']:.2f}")
    run = record["run"]
    if run is not None:
        count = ("no mask (wae)" if run["active_dims"] is None
                 else f"{run['active_dims']} of {run['m']} active")
        table.add_section()
        table.add_row(f"the run's mask ({run['model']}, {run['steps']} iterations)", "", count,
                      style="bold")
    return table


with_parameters(dims, config_parameters(("data",), exclude=NOT_DIMS_OPTIONS, panel=DATA_PANEL))
app.command("dims")(dims)
