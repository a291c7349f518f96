"""Every loss term of MaskAAE (docs/algorithm.md, "One training iteration"), as pure functions."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Critic = Callable[[torch.Tensor], torch.Tensor]  # H: a module, or a compiled module's eager forward


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean reconstruction error per element.

    ``kind`` is ``"bce"`` (images in [0, 1]; ``x_hat`` are probabilities) or ``"mse"``.
    """
    if kind == "bce":
        return F.binary_cross_entropy(x_hat.float(), x.float())
    if kind == "mse":
        return F.mse_loss(x_hat, x)
    raise ValueError(f"unknown reconstruction loss {kind!r}: use 'bce' or 'mse'")


def variance_penalty(z: torch.Tensor, alpha: torch.Tensor, sharpness: float = 10.0) -> torch.Tensor:
    """mean((z - batchmean(z))^2 * exp(-sharpness * alpha^2)).

    Pushes the encoder's (nearly) masked-out coordinates to a constant so they carry nothing.
    """
    centred = z - z.mean(dim=0, keepdim=True)
    return (centred.pow(2) * torch.exp(-sharpness * alpha.pow(2))).mean()


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty mean((||grad critic(u)||_2 - 1)^2) at random interpolates u.

    ``eps`` (n, 1): the interpolation weights, U[0, 1) drawn here when not given.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, device=real.device, dtype=real.dtype)
    u = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    out = critic(u)
    (grad,) = torch.autograd.grad(out.sum(), u, create_graph=True)
    return (grad.norm(2, dim=1) - 1.0).pow(2).mean()


def critic_loss(critic: nn.Module, z_enc: torch.Tensor, z_prior: torch.Tensor,
                gp_weight: float = 10.0, gp_critic: Critic | None = None,
                eps: torch.Tensor | None = None) -> torch.Tensor:
    """L_H = mean H(enc) - mean H(prior) + gp_weight * GP (encoder and mask held constant).

    ``gp_critic`` evaluates H for the penalty when ``critic`` cannot be differentiated twice
    (a torch.compile'd critic: pass its eager forward); ``eps``: the penalty's interpolation weights
    (drawn when not given).
    """
    z_enc, z_prior = z_enc.detach(), z_prior.detach()
    gap = critic(z_enc).mean() - critic(z_prior).mean()
    return gap + gp_weight * gradient_penalty(gp_critic or critic, z_prior, z_enc, eps)


def generator_loss(critic: nn.Module, z_enc: torch.Tensor) -> torch.Tensor:
    """L_G = -mean H(enc): the encoder tries to look like the (masked) prior."""
    return -critic(z_enc).mean()


def polarisation(alpha: torch.Tensor, watershed: float = 0.5) -> torch.Tensor:
    """sum_j |u_j (1 - u_j)|: zero only when every alpha_j is 0 or 1.

    u maps alpha piecewise linearly so that ``watershed`` lands on 0.5: descent pushes an alpha above
    the watershed to 1 and one below it to 0. At 0.5 (the paper's term) u is alpha itself."""
    if watershed != 0.5:
        alpha = torch.where(alpha < watershed, 0.5 * alpha / watershed,
                            0.5 + 0.5 * (alpha - watershed) / (1.0 - watershed))
    return (alpha * (1.0 - alpha)).abs().sum()


def mask_loss_terms(rec: torch.Tensor, critic_enc: torch.Tensor, critic_prior: torch.Tensor,
                    alpha: torch.Tensor, reg_weight: float,
                    rec_weight: float | torch.Tensor = 1000.0,
                    watershed: float = 0.5) -> dict[str, torch.Tensor]:
    """The mask loss's terms, each weighted (the loss is their sum with the cycle term, when it acts):
    ``rec`` = rec_weight * L_rec, ``adv`` = (1 - (mean H(enc) - mean H(prior)))^2 and
    ``pol`` = c * polarisation."""
    adversarial = (1.0 - (critic_enc.mean() - critic_prior.mean())).pow(2)
    return {"rec": rec_weight * rec, "adv": adversarial, "pol": reg_weight * polarisation(alpha, watershed)}


def latent_cycle_per_dim(encoder: Callable[[torch.Tensor], torch.Tensor],
                         decoder: Callable[[torch.Tensor], torch.Tensor],
                         prior: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Per dimension j: mean((alpha_j E_j(D(alpha * p)) - alpha_j p_j)^2) over a batch of prior draws.

    Near 0 when the encoder undoes the decoder on the masked prior; large when open dimensions are
    more than the data needs (the decoder then maps them many-to-one).
    """
    q = prior * alpha
    return (encoder(decoder(q)) * alpha - q).pow(2).mean(0)


def latent_cycle(encoder: Callable[[torch.Tensor], torch.Tensor],
                 decoder: Callable[[torch.Tensor], torch.Tensor],
                 prior: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The mask loss's cycle term: :func:`latent_cycle_per_dim` summed over dimensions."""
    return latent_cycle_per_dim(encoder, decoder, prior, alpha).sum()
