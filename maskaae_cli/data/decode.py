"""Decode many image files into one uint8 tensor, with a progress bar and clear errors."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from maskaae_cli.errors import UserError

GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def centre_crop_resize(img: Image.Image, crop: int | None, size: int) -> Image.Image:
    """Crop a ``crop`` square (the largest square if None or too big) at the centre, resize to ``size``."""
    w, h = img.size
    side = min(w, h) if crop is None else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img if side == size else img.resize((size, size), Image.Resampling.BILINEAR)


def decode(name: str, data: bytes, mode: str, crop: int | None, size: int) -> np.ndarray:
    """One encoded image -> uint8 (C, size, size); a UserError names ``name`` if it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.array(centre_crop_resize(img.convert(mode), crop, size), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"cannot read image {name} ({exc}): replace or remove the file") from exc
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_all(names: Sequence[str], read: Callable[[str], bytes], mode: str, crop: int | None,
               size: int, label: str) -> torch.Tensor:
    """Decode every file in ``names`` (``read`` gives its bytes) into uint8 (N, C, size, size).

    Decoding runs on a few threads (Pillow releases the GIL); a progress bar shows on a terminal.
    """
    channels = 1 if mode == "L" else 3
    out = torch.empty((len(names), channels, size, size), dtype=torch.uint8)
    console = Console(stderr=True, markup=False)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    workers = max(1, min(8, os.cpu_count() or 1))

    def work(i: int) -> None:
        try:
            data = read(names[i])
        except OSError as exc:
            raise UserError(f"cannot read image {names[i]} ({exc}): check the file") from exc
        out[i] = torch.from_numpy(decode(names[i], data, mode, crop, size))

    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar, \
            ThreadPoolExecutor(workers) as pool:
        task = bar.add_task(label, total=len(names))
        chunk = 256
        for start in range(0, len(names), chunk):
            list(pool.map(work, range(start, min(start + chunk, len(names)))))
            bar.advance(task, min(chunk, len(names) - start))
    return out
