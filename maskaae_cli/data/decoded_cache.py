"""A cache of decoded images next to the files they came from (one ``.pt`` of plain tensors).

Decoding tens of thousands of JPEGs takes longer than a short run; the cache is keyed by the
sorted file names (and sizes), so added, removed or replaced files decode again.
"""

from __future__ import annotations

from pathlib import Path

import torch

from maskaae_cli.atomic_io import atomic_write


def read_cache(path: Path, key: list[str]) -> dict[str, torch.Tensor] | None:
    """The cached tensors if ``path`` was written for exactly ``key``; None when absent, stale or damaged."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, weights_only=True)
    except Exception:  # any damage: decode again and overwrite it
        return None
    if not isinstance(saved, dict) or saved.get("names") != key:
        return None
    tensors = {k: v for k, v in saved.items() if isinstance(v, torch.Tensor)}
    return tensors or None


def write_cache(path: Path, key: list[str], **tensors: torch.Tensor) -> None:
    """Write the tensors atomically; a read-only data folder just goes without a cache."""
    try:
        atomic_write(path, lambda f: torch.save({"names": key, **tensors}, f))
    except OSError:
        pass
