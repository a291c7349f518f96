"""Where datasets live: one function decides the data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from maskaae_cli.config import DataConfig

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
    """``--data-dir`` when given, else :func:`default_data_dir`."""
    return Path(cfg.data_dir).expanduser() if cfg.data_dir else default_data_dir()
