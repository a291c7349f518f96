"""On-disk cache of real-data feature statistics (plain numpy arrays in .npz files).

One file per dataset, split and feature space. Each file records a fingerprint of the
data it was computed from, so a changed dataset is recomputed instead of trusted.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch

from maskaae_cli.atomic_io import atomic_write


def default_cache_dir() -> Path:
    """$MASKAAE_CACHE_DIR/fid-stats, else $XDG_CACHE_HOME/maskaae/fid-stats (~/.cache/...)."""
    if os.environ.get("MASKAAE_CACHE_DIR"):
        return Path(os.environ["MASKAAE_CACHE_DIR"]) / "fid-stats"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "maskaae" / "fid-stats"


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    if clean != text:  # e.g. folder:/some/path: keep it readable and unique
        clean = f"{clean[-40:]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return clean


def cache_file(root: Path, dataset: str, split: str, features: str) -> Path:
    """<root>/<dataset>-<split>-<features>.npz."""
    return root / f"{_slug(dataset)}-{_slug(split)}-{_slug(features)}.npz"


# Bumped when the statistics of the same data change meaning (2: raw pixels of uint8 images read in
# [0, 1], no longer 0-255), so caches written before are recomputed, not trusted.
STATS_VERSION = 2


def fingerprint(data: torch.Tensor) -> str:
    """A content hash of a data tensor (shape, dtype and bytes) and of ``STATS_VERSION``."""
    arr = data.detach().cpu().contiguous().numpy()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"stats-v{STATS_VERSION}".encode())
    h.update(f"{arr.shape}{arr.dtype}".encode())
    h.update(memoryview(arr.reshape(-1)).cast("B"))
    return h.hexdigest()


def load(path: Path, expected_fingerprint: str, need_features: bool) -> dict[str, np.ndarray] | None:
    """The cached arrays (mu, sigma, maybe features), or None when absent, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError):
        return None
    if str(arrays.get("fingerprint", "")) != expected_fingerprint:
        return None
    if not {"mu", "sigma"} <= arrays.keys() or (need_features and "features" not in arrays):
        return None
    if not all(np.isfinite(arrays[k]).all() for k in ("mu", "sigma", "features") if k in arrays
               and arrays[k].dtype.kind in "fc"):  # damaged: recomputed, never trusted
        return None
    return arrays


def save(path: Path, arrays: dict[str, np.ndarray], data_fingerprint: str) -> None:
    """Write the arrays atomically (a crash never leaves a half-written cache file)."""
    atomic_write(path, lambda f: np.savez(f, fingerprint=np.array(data_fingerprint), **arrays))
