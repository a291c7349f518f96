"""Checkpoint files written atomically: a crash while saving never leaves a broken checkpoint.

Lightning's TorchCheckpointIO writes through an fsspec transaction whose temporary file
lies in the system temp folder; when that is another file system than the run folder
(a local /tmp and a network run folder, as on most clusters) the final move is a copy,
and a crash part way leaves a truncated ``last.ckpt``. Here the temporary file sits beside
the target, is flushed to disk, then renamed over it with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` that either fully replaces ``path`` or leaves it untouched."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint plugin with :func:`atomic_torch_save` for writing.

    Loading is unchanged: the Trainer passes ``weights_only`` through (maskaae asks for True).
    """

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)
