"""Every file maskaae writes goes through here: a crash never leaves a half-written file.

The data goes to a temporary file beside the target, is flushed and fsynced, then renamed over
the target with ``os.replace`` (atomic on POSIX). Lightning's own checkpoint writer stages its
file in the system temp folder; when that is another file system than the run folder (a local
/tmp and a network run folder, as on most clusters) its final move is a copy, and a crash part
way leaves a truncated ``last.ckpt`` (checkpoints: :mod:`maskaae_cli.checkpoint_io`). Files get
the mode a plain ``open()`` would give them (0666 less the umask), not the 0600 of a temporary file.
This module imports no torch, so the CLI can use it before deciding to load torch.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temporary file beside ``path``, then put it in place atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:  # which file
            exc.filename = str(target)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def strict(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None, so that it is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def json_text(obj: Any) -> str:
    """Strict JSON (no bare NaN / Infinity: they become null), indented, with a final newline."""
    return json.dumps(strict(obj), indent=2, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as strict JSON, atomically."""
    atomic_write_text(path, json_text(obj))
