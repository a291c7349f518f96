"""`maskaae inspect`: what a checkpoint holds (config, steps, the mask)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from maskaae_cli.atomic_io import json_text
from maskaae_cli.cli.app import app
from maskaae_cli.cli.common import CheckpointArg
from maskaae_cli.config import SECTIONS, Config

console = Console(markup=False)
BAR_WIDTH = 30


def config_rows(cfg: Config) -> list[tuple[str, str, Any, Any]]:
    """(section, field, value, default) for every config field."""
    default = Config()
    rows = []
    for section in SECTIONS:
        values, defaults = getattr(cfg, section), getattr(default, section)
        for f in dataclasses.fields(values):
            rows.append((section, f.name, getattr(values, f.name), getattr(defaults, f.name)))
    return rows


def alpha_bar(alpha: float, active: bool) -> Text:
    filled = round(alpha * BAR_WIDTH)
    style = "bold green" if active else "dim red"
    return Text("█" * filled + "·" * (BAR_WIDTH - filled), style=style)


@app.command()
def inspect(
    checkpoint: CheckpointArg,
    all_fields: Annotated[bool, typer.Option("--all", help="List every config field, not only "
                          "those that differ from the defaults.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object (checkpoint, steps, "
                       "alpha, active dimensions, the traversal's files, config) instead of "
                       "tables.")] = False,
) -> None:
    """Show a checkpoint's config, training steps, every mask value alpha_j and the active dims.

    When the run folder holds a latent traversal ('maskaae traverse RUN'), its files are named too.

    Example: maskaae inspect runs/syn8
    """
    from maskaae_cli.checkpoint import load_model, resolve_checkpoint
    from maskaae_cli.traverse_io import existing_outputs

    model = load_model(checkpoint)
    traversal = existing_outputs(checkpoint)
    path = resolve_checkpoint(checkpoint)
    alpha = model.mask.alpha.detach().cpu()
    active = model.mask.active_mask().cpu()
    threshold = model.mask.active_threshold
    rows = config_rows(model.cfg)
    if as_json:
        record = {
            "checkpoint": str(path), "steps": model.step_count, "model": model.cfg.model.model,
            "dataset": model.cfg.data.dataset, "data_shape": list(model.data_shape),
            "is_image": model.is_image, "m": model.latent_dim, "active_dims": int(active.sum()),
            "active_threshold": threshold, "active": [int(j) for j in active.nonzero().flatten()],
            "alpha": [float(a) for a in alpha],
            "traversal": [str(p) for p in traversal],
            "config": model.cfg.to_dict(),
            "config_non_default": {f"{s}.{k}": v for s, k, v, d in rows if v != d},
        }
        typer.echo(json_text(record), nl=False)
        return

    cfg_table = Table(title="config" + ("" if all_fields else " (fields that differ from the defaults)"))
    for col in ("section", "field", "value", "default"):
        cfg_table.add_column(col)
    for section, key, value, default in rows:
        if all_fields or value != default:
            changed = value != default
            cfg_table.add_row(section, key, Text(str(value), style="bold" if changed else ""),
                              Text(str(default), style="dim"))
    order = sorted(range(len(alpha)), key=lambda j: -float(alpha[j]))
    mask_table = Table(title=f"mask: {int(active.sum())} of {len(alpha)} dimensions active "
                             f"(alpha >= {threshold})")
    for col, justify in (("dim", "right"), ("alpha", "right"), ("", "left"), ("active", "center")):
        mask_table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for j in order:
        on = bool(active[j])
        mask_table.add_row(str(j), Text(f"{float(alpha[j]):.4f}", style="bold green" if on else "dim"),
                           alpha_bar(float(alpha[j]), on), "●" if on else "")
    active_list = ", ".join(str(int(j)) for j in active.nonzero().flatten()) or "none"
    head = Text.assemble(("checkpoint ", "dim"), str(path), ("   steps ", "dim"), str(model.step_count),
                         ("   model ", "dim"), model.cfg.model.model, ("   data ", "dim"),
                         f"{model.cfg.data.dataset} {tuple(model.data_shape)}")
    lines = [Text.assemble(("active dimensions: ", "bold"), active_list)]
    if traversal:
        lines.append(Text.assemble(("latent traversal: ", "bold"), ", ".join(str(p) for p in traversal)))
    console.print(Group(head, cfg_table, mask_table, *lines))
