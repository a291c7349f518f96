"""The progress bar of the commands' long loops (features, sampling, decoding images): rich, on stderr,
shown only on a terminal. Imports no torch, so the CLI can use it before deciding to load torch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

stderr_console = Console(stderr=True, markup=False)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (only on a terminal); yields an ``advance(k)`` callback."""
    progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=stderr_console, transient=True,
                        disable=not (enabled and stderr_console.is_terminal))
    with progress:
        task = progress.add_task(description, total=total)
        yield lambda k: progress.advance(task, k)
