"""Can a file or folder be made at a path: the nearest folder above it that exists must take writes.

Said before any work is done, as one line naming the option and the path the user gave.
"""

from __future__ import annotations

import os
from pathlib import Path

from maskaae_cli.errors import UserError


def writable_ancestor(start: Path, option: str, given: Path) -> Path:
    """The nearest existing folder at or above ``start``; :class:`UserError` (naming ``option given``)
    when it is a file or this process may not write in it."""
    parent = start
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {given}: {parent} is a file, so no folder can be made there: "
                        f"choose another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {given}: no permission to write in {parent}: choose another {option}")
    return parent


def check_writable(path: Path, option: str = "--out") -> None:
    """Raise :class:`UserError` unless ``path`` is, or can be made as, a folder we may write in."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file, not a folder: choose another {option}")
    writable_ancestor(path, option, path)
