"""Writing generated samples and reconstructions: PNG grids, .npz, .pt and .csv files.

Samples are written as they are generated: ``.npz`` and ``.csv`` stream batch by batch, so ``-n``
is bounded by the disk, not the memory. A ``.png`` grid and a ``.pt`` file are built in memory:
their size is checked before any sample is drawn.
"""

from __future__ import annotations

import math
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import numpy as np
import torch

from maskaae_cli.atomic_io import atomic_write
from maskaae_cli.errors import UserError
from maskaae_cli.writable import writable_ancestor

IMAGE_FORMATS = (".png", ".npz", ".pt")
VECTOR_FORMATS = (".npz", ".pt", ".csv")
MAX_GRID = 10_000  # images in one PNG grid
CSV_BYTES_PER_VALUE = 14  # "%.7g" plus a separator, at most


def default_output(is_image: bool, reconstruct: bool) -> Path:
    """samples.png / reconstructions.png for images, samples.npz / reconstructions.npz for vectors."""
    stem = "reconstructions" if reconstruct else "samples"
    return Path(f"{stem}.png" if is_image else f"{stem}.npz")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux: MemAvailable; else the physical size)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def human_size(n: float) -> str:
    """Bytes in the largest unit that keeps the figure at 1 or more (0 bytes, 3.1 KiB, 2.0 GiB)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"



def check_output(path: Path, is_image: bool, overwrite: bool, n: int = 0,
                 sample_shape: tuple[int, ...] = ()) -> None:
    """Refuse, before any work is done: an unusable suffix, an existing file without ``overwrite``, a
    place no file can be written, or ``n`` samples of ``sample_shape`` that cannot fit."""
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
    parent = writable_ancestor(path.parent, "--out", path)
    values = n * math.prod(sample_shape)
    if suffix == ".png" and n > MAX_GRID:
        raise UserError(f"-n {n}: a PNG grid holds at most {MAX_GRID} images; write .npz for more")
    if suffix == ".pt" and values * 4 * 2 > available_memory():
        raise UserError(f"-n {n}: a .pt file is built in memory ({human_size(values * 4)}) and only "
                        f"{human_size(available_memory())} is available: lower -n, or write .npz (streamed)")
    need = values * (CSV_BYTES_PER_VALUE if suffix == ".csv" else 4)
    free = shutil.disk_usage(parent).free
    if need > free:
        raise UserError(f"-n {n}: the file would take about {human_size(need)} and {parent} has "
                        f"{human_size(free)} free: free some space, lower -n or choose another --out")


def write_sample_stream(path: Path, batches: Iterable[torch.Tensor], n: int, sample_shape: tuple[int, ...],
                        nrow: int = 10, progress: Callable[[int], None] | None = None) -> None:
    """``n`` samples arriving in ``batches``, written in the format the suffix names."""
    def counted() -> Iterable[torch.Tensor]:
        for batch in batches:
            yield batch
            if progress:
                progress(len(batch))

    suffix = path.suffix.lower()
    if suffix == ".npz":
        atomic_write(path, lambda f: _stream_npz(f, {"samples": (counted(), (n, *sample_shape))}))
    elif suffix == ".csv":
        header = ",".join(f"x_{j}" for j in range(math.prod(sample_shape)))
        atomic_write(path, lambda f: _stream_csv(f, header, counted()))
    else:
        write_samples(path, torch.cat(list(counted())), nrow)


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


def _stream_npz(f: IO[bytes], arrays: dict[str, tuple[Iterable[torch.Tensor], tuple[int, ...]]]) -> None:
    """An uncompressed .npz (what ``np.savez`` writes), each array's batches written as they come."""
    dtype = np.dtype("<f4")
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, (batches, shape) in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, {
                    "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
                written = 0
                for batch in batches:
                    member.write(batch.detach().cpu().numpy().astype(dtype, copy=False).tobytes())
                    written += len(batch)
                if written != shape[0]:
                    raise RuntimeError(f"{name}: {written} rows written, {shape[0]} announced")


def _stream_csv(f: IO[bytes], header: str, batches: Iterable[torch.Tensor]) -> None:
    f.write((header + "\n").encode())
    for batch in batches:
        rows = batch.detach().cpu().reshape(len(batch), -1).numpy()
        lines = [",".join(f"{v:.7g}" for v in row) for row in rows]
        f.write(("\n".join(lines) + "\n").encode())


def _write(path: Path, tensors: dict[str, torch.Tensor], grid: Callable[[], torch.Tensor], nrow: int) -> None:
    suffix = path.suffix.lower()
    if suffix == ".png":
        from torchvision.utils import save_image

        atomic_write(path, lambda f: save_image(grid(), f, nrow=nrow, padding=2, format="png"))
    elif suffix == ".npz":
        atomic_write(path, lambda f: _stream_npz(f, {k: ([v], tuple(v.shape)) for k, v in tensors.items()}))
    elif suffix == ".pt":
        atomic_write(path, lambda f: torch.save({k: v.cpu() for k, v in tensors.items()}, f))
    elif suffix == ".csv":
        names = list(tensors) if len(tensors) > 1 else ["x"]
        flat = [v.cpu().reshape(len(v), -1) for v in tensors.values()]
        header = ",".join(f"{k}_{j}" for k, v in zip(names, flat, strict=True) for j in range(v.shape[1]))
        atomic_write(path, lambda f: _stream_csv(f, header, [torch.cat(flat, dim=1)]))
    else:  # check_output() has already refused it
        raise UserError(f"--out {path}: unsupported suffix {suffix}")
