"""Where datasets live: one function decides the data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from maskaae_cli.config import DataConfig
from maskaae_cli.errors import UserError

ENV_VAR = "MASKAAE_DATA"


def default_data_dir() -> Path:
    """The per-user cache folder: ``$MASKAAE_DATA``, else ``<cache>/maskaae/data``.

    ``<cache>`` is ``$XDG_CACHE_HOME`` or ``~/.cache`` (``%LOCALAPPDATA%`` on Windows,
    ``~/Library/Caches`` on macOS).
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        cache = Path(os.environ["XDG_CACHE_HOME"]).expanduser()
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        cache = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    else:
        cache = Path.home() / ".cache"
    return cache / "maskaae" / "data"


def data_dir(cfg: DataConfig) -> Path:
    """``--data-dir`` when given, else :func:`default_data_dir`; refused when a file is in the way."""
    path = Path(cfg.data_dir).expanduser() if cfg.data_dir else default_data_dir()
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        given = "--data-dir" if cfg.data_dir else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "")
        where = "is a file" if blocker == path else f"is under the file {blocker}"
        raise UserError(f"{given or 'the data folder'} {path} {where}, not a folder: datasets are kept "
                        f"in a folder; point {given or '--data-dir'} at one")
    return path
