"""Decode many image files into one uint8 tensor, with a progress bar and clear errors."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from maskaae_cli.errors import UserError
from maskaae_cli.progress_bar import progress_bar

GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def centre_crop_resize(img: Image.Image, crop: int | None, size: int) -> Image.Image:
    """Crop a ``crop`` square (the largest square if None or too big) at the centre, resize to ``size``."""
    w, h = img.size
    side = min(w, h) if crop is None else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return img if side == size else img.resize((size, size), Image.Resampling.BILINEAR)


WIDE_MODES = ("I", "F")  # 32-bit integer and float images (Pillow's 16-bit modes start with "I;16")


def to_8bit(img: Image.Image, name: str) -> Image.Image:
    """``img`` with 16-bit and float pixels scaled to 8 bits by the range their format holds.

    Pillow's ``convert("L")`` clips such pixels at 255 instead (a 16-bit PNG turns almost white).
    16-bit images (and 32-bit integer ones whose values fit 16 bits) map 0..65535 to 0..255; float
    images map [0, 1] to 0..255. Anything else is refused with one line naming the file.
    """
    if not (img.mode.startswith("I;16") or img.mode in WIDE_MODES):
        return img
    arr = np.asarray(img).astype(np.float64)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if img.mode == "F":
        if not (np.isfinite(arr).all() and lo >= 0.0 and hi <= 1.0):
            raise UserError(f"image {name} holds float pixels from {lo:.4g} to {hi:.4g}: maskaae reads "
                            "float images in [0, 1]; save it as an 8- or 16-bit PNG")
        scale = 1.0
    else:
        if lo < 0 or hi > 65535:
            raise UserError(f"image {name} holds integer pixels from {lo:.0f} to {hi:.0f}, beyond 16 bits: "
                            "save it as an 8- or 16-bit PNG")
        scale = 65535.0
    return Image.fromarray(np.round(arr * (255.0 / scale)).astype(np.uint8), mode="L")


def decode(name: str, data: bytes, mode: str, crop: int | None, size: int) -> np.ndarray:
    """One encoded image -> uint8 (C, size, size); a UserError names ``name`` if it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            arr = np.array(centre_crop_resize(to_8bit(img, name).convert(mode), crop, size), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise too_large(name, exc) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"cannot read image {name} ({exc}): replace or remove the file") from exc
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def too_large(name: str, exc: Exception) -> UserError:
    """The one error for an image with more pixels than Pillow decodes safely."""
    return UserError(f"image {name} is too large to decode safely ({exc}): shrink it or remove it")


def check_memory(n: int, channels: int, size: int) -> None:
    """Refuse, before any image is decoded, a tensor of ``n`` images that cannot fit in memory."""
    from maskaae_cli.sample_io import available_memory, human_size

    need, free = n * channels * size * size, available_memory()
    if need > free:
        raise UserError(f"{n} images of {channels}x{size}x{size} pixels take {human_size(need)} and "
                        f"{human_size(free)} of memory is available: lower --image-size")


def decode_all(names: Sequence[str], read: Callable[[str], bytes], mode: str, crop: int | None,
               size: int, label: str) -> torch.Tensor:
    """Decode every file in ``names`` (``read`` gives its bytes) into uint8 (N, C, size, size).

    Decoding runs on a few threads (Pillow releases the GIL); a progress bar shows on a terminal.
    """
    channels = 1 if mode == "L" else 3
    check_memory(len(names), channels, size)
    out = torch.empty((len(names), channels, size, size), dtype=torch.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))

    def work(i: int) -> None:
        try:
            data = read(names[i])
        except OSError as exc:
            raise UserError(f"cannot read image {names[i]} ({exc}): check the file") from exc
        out[i] = torch.from_numpy(decode(names[i], data, mode, crop, size))

    with progress_bar(label, len(names)) as advance, ThreadPoolExecutor(workers) as pool:
        chunk = 256
        for start in range(0, len(names), chunk):
            list(pool.map(work, range(start, min(start + chunk, len(names)))))
            advance(min(chunk, len(names) - start))
    return out
