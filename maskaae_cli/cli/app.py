"""`maskaae`: the typer application; each command lives in a module of its own."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from maskaae_cli.errors import Terminated, TrainingDiverged, UserError
from maskaae_cli.failures import describe

app = typer.Typer(
    name="maskaae",
    help="Train Mask Adversarial Auto-Encoders that find the latent size by themselves, "
    "sample from them and measure them with FID.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, markup=False)


@app.callback()
def _root() -> None:
    """Train Mask Adversarial Auto-Encoders that find the latent size by themselves."""


def _register() -> None:
    """Import the commands' modules; `maskaae --help` lists the commands in this order."""
    for name in ("train", "dims", "fid", "inspect", "sample", "sweep", "traverse"):
        importlib.import_module(f"maskaae_cli.cli.{name}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: a UserError, a usage error or a failure of the machine (a full disk, no memory,
    :mod:`maskaae_cli.failures`) becomes one red line and exit code 2 (a diverged training run: exit
    code 3). SIGTERM stops the command as Ctrl+C does, so every file being written is removed (exit 143)."""
    try:  # typer >= 0.20 vendors click (its Abort lives in typer.exceptions); older ones use click
        from typer._click import exceptions as click_exceptions
        from typer.exceptions import Abort
    except ImportError:
        from click import exceptions as click_exceptions
        from click.exceptions import Abort

    if sys.stdout is None:  # started with stdout closed (>&-): output would vanish, or land in a file
        _fail("standard output is closed: redirect it to a file or to /dev/null")
    _register()
    previous = _on_sigterm(_terminate)
    try:
        code = app(args=argv, standalone_mode=False)  # typer turns Ctrl-C into a returned 130
        sys.stdout.flush()
    except UserError as exc:
        _fail(str(exc))
    except TrainingDiverged as exc:
        _fail(str(exc), TrainingDiverged.exit_code)
    except click_exceptions.ClickException as exc:
        _fail(f"{exc.format_message()} (see 'maskaae --help' or 'maskaae COMMAND --help')",
              exc.exit_code)
    except (Abort, KeyboardInterrupt):
        code = 130
    except Terminated:
        code = Terminated.exit_code
    except Exception as exc:
        to_stdout = _stdout_failed() or (isinstance(exc, OSError) and exc.filename is None)
        line = describe(exc, "standard output" if to_stdout else None)
        if line is None:
            raise
        _fail(line)
    finally:
        _on_sigterm(previous)
    if isinstance(code, int) and code:
        if code in (130, Terminated.exit_code):
            err_console.print(Text("interrupted" if code == 130 else "terminated", style="bold red"))
        sys.exit(code)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only); returns the one it replaces."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGTERM, handler)


def _stdout_failed() -> bool:
    """Flush stdout; when that fails (a full disk, a closed pipe), send the rest to /dev/null so that
    Python's own flush at exit adds no second error."""
    try:
        sys.stdout.flush()
        return False
    except (OSError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return True


def _fail(message: str, code: int = 2) -> None:
    # the message is text, not markup: \"pip install 'maskaae[cluster]'\" keeps its brackets
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    sys.exit(code)
