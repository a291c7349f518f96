"""IDX image files (the MNIST format), plain or gzipped, read with clear errors."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from maskaae_cli.errors import UserError

_UINT8 = 0x08
IDX_IMAGES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")  # a torchvision-style set's files


def corrupt(path: Path, why: str, fix: str = "delete it and run again to download it afresh") -> UserError:
    """The one error for a file that exists but cannot be used."""
    return UserError(f"{path} is corrupt or incomplete ({why}): {fix}")


def idx_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` if present, else ``folder/stem.gz``, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx_images(path: Path, fix: str = "delete it and run again to download it afresh") -> torch.Tensor:
    """Read a uint8 IDX image file (N, H, W) into a uint8 tensor of shape (N, 1, H, W)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise corrupt(path, f"bad gzip data: {exc}", fix) from exc
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UINT8 or raw[3] != 3:
        raise corrupt(path, "not an IDX file of uint8 images", fix)
    header = 4 + 4 * 3
    if len(raw) < header:
        raise corrupt(path, "header cut short", fix)
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
    if 0 in dims:
        raise UserError(f"{path} holds {dims[0]} images of {dims[1]}x{dims[2]} pixels: nothing to train on; "
                        f"{fix}")
    if len(raw) != header + math.prod(dims):
        raise corrupt(path, f"{len(raw) - header} bytes of pixels for {dims[0]} images of "
                            f"{dims[1]}x{dims[2]}", fix)
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(pixels.copy()).unsqueeze(1)
