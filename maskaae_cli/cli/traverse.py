"""`maskaae traverse`: what each surviving latent dimension does (a latent traversal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from maskaae_cli.cli.app import app
from maskaae_cli.cli.common import CheckpointArg, DeviceOpt, ThreadsOpt, dataset_split, model_threads
from maskaae_cli.config import MAX_SEED
from maskaae_cli.errors import UserError

console = Console(markup=False)


@app.command()
def traverse(
    checkpoint: CheckpointArg,
    out: Annotated[Optional[Path], typer.Option(help="The picture (.png): for image models a grid with "
                   "one row per dimension, for vector models the size of each dimension's change of the "
                   "decoded vector. NAME.npz (the raw tensors) and, for vectors, NAME.csv (the change "
                   "per dimension and value) are written beside it. (default: traverse.png in the run "
                   "folder, where 'maskaae inspect' shows it)", show_default=False)] = None,
    dims: Annotated[str, typer.Option(help="Which latent dimensions are swept (a row each): active "
                    "(alpha_j >= the threshold) or all, each sorted by alpha, largest first; indices such "
                    "as 0,3,5, in the order given; or auto: active for image models, all for vector "
                    "models (whose plot then shows the closed dimensions at ~0).")] = "auto",
    steps: Annotated[int, typer.Option(min=2, max=101, help="Values of the swept coordinate "
                     "(columns), evenly spaced from -range to +range.")] = 9,
    value_range: Annotated[float, typer.Option("--range", help="The sweep "
                           "runs from -RANGE to +RANGE (the prior is N(0, 1), so 3 is three standard "
                           "deviations).")] = 3.0,
    base: Annotated[str, typer.Option(help="The code the other coordinates are held at: zero (every "
                    "prior coordinate 0), sample (one prior draw from --seed: the code of the first "
                    "sample 'maskaae sample --seed SEED' makes), or the index of a test-split example "
                    "(its encoding E(x), unmasked).")] = "zero",
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Random seed of the prior draw for "
                    "--base sample; the same seed gives the same picture.")] = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files "
                         "(otherwise they are never touched).")] = False,
) -> None:
    """Show what each latent dimension does: sweep it over the prior and decode (a traversal).

    One prior coordinate at a time runs from -range to +range, the others held at the base, and the
    model decodes D(alpha * p) with the moving average, as 'maskaae sample' does. A dimension the
    mask has closed changes nothing.

    Example: maskaae traverse runs/mnist --out traverse.png
    """
    from maskaae_cli import traverse as trv  # (heavy imports)
    from maskaae_cli import traverse_io
    from maskaae_cli.checkpoint import load_model
    from maskaae_cli.devices import resolve_device
    from maskaae_cli.traverse_plot import picture, png_bytes

    base_choice = trv.parse_base(base)
    values = trv.sweep_values(steps, value_range)
    dev = resolve_device(device)
    model = load_model(checkpoint, dev)
    model_threads(threads, model)
    paths = traverse_io.output_paths(out if out is not None else traverse_io.default_output(checkpoint),
                                     model.is_image)
    traverse_io.check_outputs(paths, overwrite)
    alpha, active = model.mask.alpha.detach().cpu(), model.mask.active_mask().cpu()
    chosen = trv.choose_dims(dims, alpha, active, model.is_image)
    data = dataset_split(model, "test") if isinstance(base_choice, int) else None
    code = trv.base_code(model, base_choice, seed, data)
    result = trv.traverse(model, chosen, values, code, trv.base_label(base_choice, seed))
    if not (bool(result.outputs.isfinite().all()) and bool(result.change_rms().isfinite().all())):
        raise UserError(f"--range {value_range:g}: the decoded outputs are not finite at such values (the "
                        "prior is N(0, 1)); use a smaller --range, such as 3")
    traverse_io.write_outputs(result, paths, model.is_image, png_bytes(picture(result, model.is_image)))

    rms = result.change_rms()
    table = Table(title=f"latent traversal, base {result.base_label}: "
                        f"{int(active.sum())} of {model.latent_dim} dimensions active")
    for col in ("dim", "alpha", "active", "RMS change"):
        table.add_column(col, justify="right")
    for row, j in enumerate(chosen):
        table.add_row(str(j), f"{float(alpha[j]):.4f}", "yes" if bool(active[j]) else "no",
                      f"{float(rms[row]):.4g}")
    console.print(table)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}", highlight=False, soft_wrap=True)
