"""Latent cycle error: can the encoder recover the masked prior draws the decoder turned into data?

With exactly as many open dimensions as the data has, a trained auto-encoder maps the masked prior
onto the data manifold one-to-one, so E(D(alpha * p)) returns alpha * p. An open dimension the data
does not need makes the decoder many-to-one (an m_active-dimensional prior onto an n-dimensional
manifold), and the encoder cannot undo it. Too few open dimensions leave the cycle intact (the
reconstruction error shows those). benchmarks/mask-schedule.md, "A signal for too many dimensions".
"""

from __future__ import annotations

import torch

from maskaae_cli import losses
from maskaae_cli.model import MaskAAE


@torch.no_grad()
def latent_cycle_error(model: MaskAAE, n: int = 10_000, seed: int = 0, batch_size: int = 2_000,
                       averaged: bool = False) -> torch.Tensor:
    """Per latent dimension: mean((alpha_j E_j(D(alpha * p)) - alpha_j p_j)^2) / var(alpha_j p_j).

    0 when the encoder recovers the draw, about 1 when it knows nothing of it; NaN for closed
    dimensions (alpha_j below the activity threshold). ``averaged`` decodes with the moving-average
    decoder and mask; by default the last weights (the pair the encoder was trained with).
    """
    model = model.eval()
    decoder, mask = model.generator(averaged)
    g = torch.Generator().manual_seed(seed)
    alpha = mask.alpha
    p = torch.randn(n, model.latent_dim, generator=g).to(alpha.device)
    squared = sum(len(chunk) * losses.latent_cycle_per_dim(model.encoder, decoder, chunk, alpha)
                  for chunk in p.split(batch_size)) / n
    err = squared / (p * alpha).var(0)
    return torch.where(mask.active_mask(), err, torch.full_like(err, float("nan"))).cpu()
