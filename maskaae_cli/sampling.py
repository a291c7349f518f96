"""Drawing samples and reconstructions from a trained model, in bounded-memory batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from maskaae_cli.data.loading import as_float
from maskaae_cli.model import MaskAAE

Progress = Callable[[int], None]


NOISE_CHUNK = 1024


def _noise_chunk(seed: int, index: int, m: int) -> torch.Tensor:
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randn(NOISE_CHUNK, m, generator=g)


def prior_batches(model: MaskAAE, n: int, seed: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Unmasked prior draws p ~ N(0, I_m) in batches, made on the CPU.

    Draw i depends only on (seed, i): the same seed gives the same samples on any device and
    with any batch size, and ``n`` samples are a prefix of ``n + k``.
    """
    chunk_index, chunk = -1, torch.empty(0)
    for start in range(0, n, batch_size):
        end, parts = min(start + batch_size, n), []
        pos = start
        while pos < end:
            k = pos // NOISE_CHUNK
            if k != chunk_index:
                chunk_index, chunk = k, _noise_chunk(seed, k, model.latent_dim)
            stop = min(end, (k + 1) * NOISE_CHUNK)
            parts.append(chunk[pos - k * NOISE_CHUNK : stop - k * NOISE_CHUNK])
            pos = stop
        yield torch.cat(parts)


def sample_batches(model: MaskAAE, n: int, seed: int = 0, batch_size: int = 1000,
                   device: torch.device | str = "cpu", averaged: bool = True) -> Iterator[torch.Tensor]:
    """Batches of D(alpha * p) on the CPU; the model is used on ``device``.

    ``averaged``: use the moving-average decoder and mask when the model keeps them.
    """
    model = model.to(device).eval()
    with torch.no_grad():
        for p in prior_batches(model, n, seed, batch_size):
            yield model.generate(p.to(device), averaged).cpu()


def generate(model: MaskAAE, n: int, seed: int = 0, batch_size: int = 1000,
             device: torch.device | str = "cpu", progress: Progress | None = None,
             averaged: bool = True) -> torch.Tensor:
    """n samples D(alpha * p) as one CPU tensor; ``progress`` is told how many were made per batch."""
    if n < 1:
        raise ValueError("n must be at least 1")
    out = []
    for batch in sample_batches(model, n, seed, batch_size, device, averaged):
        out.append(batch)
        if progress:
            progress(len(batch))
    return torch.cat(out)


def reconstruct(model: MaskAAE, data: torch.Tensor, batch_size: int = 1000,
                device: torch.device | str = "cpu", progress: Progress | None = None) -> torch.Tensor:
    """D(alpha * E(x)) for every row of ``data`` (uint8 images or float vectors), on the CPU."""
    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for chunk in data.split(batch_size):
            out.append(model.reconstruct(as_float(chunk).to(device)).cpu())
            if progress:
                progress(len(chunk))
    return torch.cat(out)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] to uint8 exactly as torchvision's save_image rounds them."""
    if images.dtype == torch.uint8:
        return images
    return images.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
