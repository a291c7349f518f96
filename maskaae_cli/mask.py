"""The trainable binary-ish latent mask: alpha = 1 - exp(-beta), beta >= 0."""

from __future__ import annotations

import torch
from torch import nn


class LatentMask(nn.Module):
    """A mask over ``m`` latent dimensions.

    ``beta`` is the trainable parameter (kept >= 0 by :meth:`clamp_`), drawn from
    U[beta_init_min, beta_init_max] (the reference: U[0, 5]); ``alpha`` lies in
    [0, 1). A disabled mask (the WAE baseline) has ``alpha`` fixed at 1 and no parameter.
    """

    def __init__(self, m: int, beta_init_max: float = 5.0, enabled: bool = True,
                 active_threshold: float = 0.1, beta_init_min: float = 0.0) -> None:
        super().__init__()
        self.m = m
        self.enabled = enabled
        self.active_threshold = active_threshold
        if enabled:
            self.beta = nn.Parameter(beta_init_min + torch.rand(m) * (beta_init_max - beta_init_min))
        else:
            self.register_buffer("beta", torch.full((m,), float("inf")), persistent=False)

    @property
    def alpha(self) -> torch.Tensor:
        """The mask values in [0, 1); exactly 1 everywhere when the mask is disabled."""
        if not self.enabled:
            return torch.ones_like(self.beta)
        return -torch.expm1(-self.beta)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the mask to a batch of latents (Hadamard product)."""
        return z if not self.enabled else z * self.alpha

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project beta back onto beta >= 0 after an optimiser step."""
        if self.enabled:
            self.beta.clamp_(min=0.0)

    def active_dims(self) -> int:
        """How many dimensions have alpha_j >= the activity threshold (0.1 by default)."""
        return int((self.alpha >= self.active_threshold).sum())

    def active_mask(self) -> torch.Tensor:
        """Boolean vector of the active dimensions."""
        return self.alpha >= self.active_threshold
