"""`maskaae`: the typer application; each command lives in a module of its own."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from maskaae_cli.errors import TrainingDiverged, UserError

app = typer.Typer(
    name="maskaae",
    help="Train Mask Adversarial Auto-Encoders that find the latent size by themselves, "
    "sample from them and measure them with FID.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Train Mask Adversarial Auto-Encoders that find the latent size by themselves."""


def _register() -> None:
    from maskaae_cli.cli import dims, fid, inspect, sample, sweep, train, traverse  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: a UserError or a usage error becomes one red line and exit code 2 (a diverged
    training run: exit code 3)."""
    try:  # typer >= 0.20 vendors click (its Abort lives in typer.exceptions); older ones use click
        from typer._click import exceptions as click_exceptions
        from typer.exceptions import Abort
    except ImportError:
        from click import exceptions as click_exceptions
        from click.exceptions import Abort

    _register()
    try:
        code = app(args=argv, standalone_mode=False)  # typer turns Ctrl-C into a returned 130
    except UserError as exc:
        _fail(str(exc))
    except TrainingDiverged as exc:
        _fail(str(exc), TrainingDiverged.exit_code)
    except click_exceptions.ClickException as exc:
        _fail(f"{exc.format_message()} (see 'maskaae --help' or 'maskaae COMMAND --help')",
              exc.exit_code)
    except (Abort, KeyboardInterrupt):
        code = 130
    if isinstance(code, int) and code:
        if code == 130:
            err_console.print("[bold red]interrupted[/]")
        sys.exit(code)


def _fail(message: str, code: int = 2) -> None:
    # the message is text, not markup: "pip install 'maskaae[cluster]'" keeps its brackets
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(code)
