"""`maskaae`: the typer application; each command lives in a module of its own."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from maskaae_cli.errors import UserError

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
    from maskaae_cli.cli import train  # noqa: F401, PLC0415


def main() -> None:
    """Entry point: run the app; a UserError becomes one red line and exit code 2."""
    _register()
    try:
        app(standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("[bold red]aborted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click  # noqa: PLC0415

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
