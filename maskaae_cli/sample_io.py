"""Writing generated samples and reconstructions: PNG grids, .npz, .pt and .csv files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from maskaae_cli.errors import UserError

IMAGE_FORMATS = (".png", ".npz", ".pt")
VECTOR_FORMATS = (".npz", ".pt", ".csv")


def default_output(is_image: bool, reconstruct: bool) -> Path:
    """samples.png / reconstructions.png for images, samples.npz / reconstructions.npz for vectors."""
    stem = "reconstructions" if reconstruct else "samples"
    return Path(f"{stem}.png" if is_image else f"{stem}.npz")


def check_output(path: Path, is_image: bool, overwrite: bool) -> None:
    """Refuse an unusable suffix, or an existing file without ``overwrite``, before any work is done."""
    allowed = IMAGE_FORMATS if is_image else VECTOR_FORMATS
    suffix = path.suffix.lower()
    if suffix not in allowed:
        kind = "image" if is_image else "vector (synthetic)"
        raise UserError(f"--out {path}: a {kind} model writes {', '.join(allowed)}, not "
                        f"{suffix or 'a file without a suffix'}")
    if path.is_dir():
        raise UserError(f"--out {path} is a folder: give a file name such as samples{allowed[0]}")
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists: choose another --out or pass --overwrite to replace it")


def write_samples(path: Path, samples: torch.Tensor, nrow: int = 10) -> None:
    """One tensor of samples in the format the suffix names."""
    _write(path, {"samples": samples}, lambda: samples, nrow)


def write_pairs(path: Path, originals: torch.Tensor, reconstructions: torch.Tensor,
                nrow: int = 10) -> None:
    """Originals and their reconstructions; a PNG grid alternates a row of each."""
    _write(path, {"originals": originals, "reconstructions": reconstructions},
           lambda: interleave_rows(originals, reconstructions, nrow), nrow)


def interleave_rows(a: torch.Tensor, b: torch.Tensor, nrow: int) -> torch.Tensor:
    """Images ordered row by row: nrow of ``a``, the matching nrow of ``b``, and so on (padded)."""
    rows = []
    for pair in zip(a.split(nrow), b.split(nrow), strict=True):
        pad = nrow - len(pair[0])
        rows += [torch.cat([c, c.new_zeros((pad, *c.shape[1:]))]) if pad else c for c in pair]
    return torch.cat(rows)


def _write(path: Path, tensors: dict[str, torch.Tensor], grid: Callable[[], torch.Tensor], nrow: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    suffix = path.suffix.lower()
    if suffix == ".png":
        from torchvision.utils import save_image  # noqa: PLC0415

        save_image(grid(), tmp, nrow=nrow, padding=2, format="png")
    elif suffix == ".npz":
        with tmp.open("wb") as f:
            np.savez(f, **{k: v.cpu().numpy() for k, v in tensors.items()})
    elif suffix == ".pt":
        torch.save({k: v.cpu() for k, v in tensors.items()}, tmp)
    elif suffix == ".csv":
        arrays = [v.cpu().reshape(len(v), -1).numpy() for v in tensors.values()]
        names = list(tensors) if len(tensors) > 1 else ["x"]
        header = ",".join(f"{k}_{j}" for k, v in zip(names, arrays, strict=True) for j in range(v.shape[1]))
        np.savetxt(tmp, np.concatenate(arrays, axis=1), delimiter=",", header=header, comments="",
                   fmt="%.7g")
    else:  # check_output() has already refused it
        raise UserError(f"--out {path}: unsupported suffix {suffix}")
    tmp.replace(path)
