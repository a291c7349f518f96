"""Command-line options made from the config's fields (maskaae_cli/config.py, :func:`option`).

`maskaae train` takes every such field as ``--field-name``; `maskaae sweep-m` passes them on to each
run and `maskaae dims` takes the data ones. Each option's name, type, default and help are the
field's: declared once, there.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from maskaae_cli.config import OPTION, SECTION_TYPES, option_fields

# the help panel of each section's options in `maskaae train --help`
PANELS = {"data": "Data options", "model": "Model options", "optim": "Optimiser options",
          "train": "Run options (length, output, hardware, logging)"}


def config_parameters(sections: Collection[str] = (), exclude: Collection[str] = (),
                      panel: str | None = None) -> list[inspect.Parameter]:
    """Keyword parameters, as typer reads them, for the config's options: those of ``sections`` (all
    when empty) less ``exclude``, in the config's order, under ``panel`` (else their section's)."""
    params = []
    for name, (section, f) in option_fields().items():
        if name in exclude or (sections and section not in sections):
            continue
        opt = f.metadata[OPTION]
        dashed = f"--{name.replace('_', '-')}"
        kind: Any = Path if opt.path else _value_type(section, name)
        default = None
        if opt.kind == "flag":
            decls, default = [dashed], False
        elif opt.kind == "switch" or kind is bool:
            decls = [f"{dashed}/--no-{dashed[2:]}"]
            default = f.default if opt.kind == "switch" else None
        else:
            decls = [dashed]
        if opt.kind == "value":
            kind = Optional[kind]
        info = typer.Option(*decls, help=opt.help_text(f.default), min=opt.min,
                            rich_help_panel=panel or PANELS[section])
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[kind, info]))
    return params


def _value_type(section: str, name: str) -> type:
    """The field's type without its ``| None``: what one value on the command line is."""
    hint = typing.get_type_hints(SECTION_TYPES[section])[name]
    return next((a for a in typing.get_args(hint) if a is not type(None)), hint)


def with_parameters(command: Any, extra: list[inspect.Parameter]) -> Any:
    """``command`` with its ``**options`` parameter replaced by ``extra`` (typer reads the signature)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]
    command.__signature__ = inspect.Signature([*own, *extra])
    return command
