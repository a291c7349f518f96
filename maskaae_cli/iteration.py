"""One MaskAAE training iteration (docs/algorithm.md, "One training iteration"), written once.

:class:`TrainingIteration` holds the four updates in their order (the auto-encoder, ``n_critic``
critic steps, the encoder as generator, the mask), their losses and the schedule's values at each
iteration. The eager LightningModule (model.py) runs it with Lightning's optimisers and noise drawn
where it is used; the CUDA-graph body (graphed_step.py) runs the same object on static buffers and
tensor-valued weights. What differs between the two comes in a :class:`Context`.

A new loss term is written in the loss function of its update below (its formula in losses.py), its
weight in the config; a weight that changes over the run is a field of :class:`StepValues`, set in
:meth:`TrainingIteration.values_at`, and reaches the graphed body by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from maskaae_cli import losses

if TYPE_CHECKING:
    from maskaae_cli.config import Config
    from maskaae_cli.mask import LatentMask
    from maskaae_cli.schedule import MaskSchedule

Scalar = float | torch.Tensor  # a float (eager) or a 0-dim device tensor (graphed)


def optimizer_steps(cfg: Config) -> tuple[int, ...]:
    """Steps each optimiser takes in one iteration: auto-encoder, critic, encoder[, mask]."""
    return (1, cfg.optim.n_critic, 1, *((1,) if cfg.model.model == "maae" else ()))


def steps_per_iteration(cfg: Config) -> int:
    """Optimiser steps in one iteration: Lightning's ``global_step`` counts every one of them."""
    return sum(optimizer_steps(cfg))


@dataclass(frozen=True)
class Structure:
    """What decides an iteration's ops: one CUDA graph is captured per structure."""

    cycle: bool  # the mask loss has the latent cycle term
    frozen: bool  # the mask is frozen at 0 / 1: no variance penalty, no mask step


@dataclass(frozen=True)
class StepValues:
    """The schedule's values at one iteration. Every field after ``rates`` is a loss weight."""

    structure: Structure
    rates: tuple[Scalar, ...]  # the optimisers' learning rates: auto-encoder, critic, encoder[, mask]
    c: Scalar  # the polarisation's weight
    cycle_weight: Scalar  # the latent cycle term's (0 where it does not act)

    def weights(self) -> dict[str, Scalar]:
        """The loss weights by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)[2:]}


def set_rates(optimizers: Sequence[Any], rates: Sequence[float]) -> None:
    """Give each optimiser its learning rate (float rates: the eager step)."""
    for opt, lr in zip(optimizers, rates, strict=True):
        for group in opt.param_groups:
            group["lr"] = lr


class Noise(Protocol):
    """Where an iteration's random draws come from."""

    def critic(self, i: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Critic step ``i``'s prior draws, like ``z``, and its penalty's interpolation weights (None:
        the penalty draws them)."""

    def prior(self, z: torch.Tensor) -> torch.Tensor:
        """The mask step's prior draws, like ``z``."""

    def cycle(self, z: torch.Tensor) -> torch.Tensor:
        """The mask step's cycle term's prior draws, like ``z``."""


class DrawnNoise:
    """Noise drawn where it is used, from torch's global generator (the eager step)."""

    def critic(self, i: int, z: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.randn_like(z), None

    def prior(self, z: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(z)

    def cycle(self, z: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(z)


DRAWN = DrawnNoise()


class Stepper:
    """How an update applies its loss: plain torch (what a CUDA graph captures)."""

    def step(self, opt: Any, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def skip(self, opt: Any) -> None:
        """The frozen mask's step: it changes nothing (a counted step where the Trainer counts)."""
        opt.zero_grad(set_to_none=True)


@dataclass
class Context:
    """What an iteration runs with: the optimisers (auto-encoder, critic, encoder[, mask]), how they
    step and where the noise comes from."""

    optimizers: Sequence[Any]
    stepper: Stepper
    noise: Noise


class TrainingIteration:
    """The iteration of the nets ``encoder``, ``decoder``, ``critic`` and ``mask`` under ``cfg`` and
    ``schedule``; ``rec_kind``: the reconstruction loss ("bce" or "mse")."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, critic: nn.Module, mask: LatentMask,
                 cfg: Config, schedule: MaskSchedule, rec_kind: str) -> None:
        self.encoder, self.decoder, self.critic, self.mask = encoder, decoder, critic, mask
        self.cfg, self.schedule, self.rec_kind = cfg, schedule, rec_kind
        self.uses_mask = mask.enabled
        self.gp_critic: losses.Critic | None = None  # the critic's eager forward once it is compiled
        self._owned: list[tuple[nn.Module, list[nn.Parameter]]] | None = None  # see train_only

    # ------------------------------------------------------------------ the schedule
    def values_at(self, step: int) -> StepValues:
        """The schedule's values at iteration ``step``. The mask's rate is zero before its warm-up ends
        and once it is frozen; the cycle term acts until ``schedule.cycle_end``, weighted at least
        mask.cycle_c_ratio times c."""
        s, o, k = self.schedule, self.cfg.optim, self.cfg.mask
        frozen = self.uses_mask and s.frozen(step)
        cycle = self.uses_mask and not frozen and k.cycle_weight > 0 and step < s.cycle_end
        c = s.reg_weight(step)
        rates: tuple[float, ...] = (o.lr_ae * s.lr_factor(step), o.lr_critic, o.lr_gen)
        if self.uses_mask:
            warm = s.mask_start <= step and not s.frozen(step)
            rates += (k.lr * s.mask_lr_factor(step) if warm else 0.0,)
        return StepValues(Structure(cycle=cycle, frozen=frozen), rates, c,
                          max(k.cycle_weight, k.cycle_c_ratio * c) if cycle else 0.0)

    def structure_at(self, step: int) -> Structure:
        return self.values_at(step).structure

    def freezes_at(self, step: int) -> bool:
        """Whether the mask is snapped to 0 / 1 before iteration ``step`` (the first frozen one)."""
        return self.uses_mask and step == self.schedule.freeze_step

    # ------------------------------------------------------------------ gradients
    def train_only(self, *modules: nn.Module) -> None:
        """Let gradients reach only ``modules``' parameters (saves the others' weight gradients).

        The parameter lists are collected once (walking the module tree costs more than the
        toggling; :meth:`forget_parameters` drops them) and only flags that change are touched.
        """
        if self._owned is None:
            self._owned = [(mod, list(mod.parameters()))
                           for mod in (self.encoder, self.decoder, self.critic, self.mask)]
        for mod, params in self._owned:
            flag = any(mod is m for m in modules)
            for p in params:
                if p.requires_grad != flag:
                    p.requires_grad_(flag)

    def forget_parameters(self) -> None:
        """Collect the parameter lists afresh (the nets may have been moved)."""
        self._owned = None

    # ------------------------------------------------------------------ the losses
    def autoencoder_loss(self, x: torch.Tensor, alpha: torch.Tensor, structure: Structure
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruction + the variance penalty on (nearly) masked-out codes; once the mask is frozen at
        exact 0 / 1 a closed coordinate cannot leak, so the penalty stops. The loss and its logs."""
        z = self.encoder(x)
        rec = losses.reconstruction_loss(x, self.decoder(z * alpha), self.rec_kind)
        out = {"loss/rec": rec.detach()}
        if not self.uses_mask or structure.frozen:
            return rec, out
        var = losses.variance_penalty(z, alpha, self.cfg.mask.var_sharpness)
        out["loss/var"] = var.detach()
        return rec + self.cfg.mask.var_weight * var, out

    def critic_loss(self, i: int, x: torch.Tensor, alpha: torch.Tensor, noise: Noise) -> torch.Tensor:
        """WGAN-GP on masked latents (critic step ``i``); E and alpha constant."""
        with torch.no_grad():
            z_enc = self.encoder(x) * alpha
        prior, eps = noise.critic(i, z_enc)
        return losses.critic_loss(self.critic, z_enc, prior * alpha, self.cfg.optim.gp_weight, self.gp_critic,
                                  eps=eps)

    def generator_loss(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The encoder tries to fool the critic."""
        return losses.generator_loss(self.critic, self.encoder(x) * alpha)

    def mask_loss_terms(self, x: torch.Tensor, values: StepValues, noise: Noise = DRAWN
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The mask loss's terms on batch ``x``, each weighted (the loss is their sum): ``rec``, ``adv``,
        ``pol`` and, while the cycle term acts, ``cycle``; and the unweighted reconstruction error and
        cycle error (``rec``, ``cycle``)."""
        k = self.cfg.mask
        with torch.no_grad():
            z = self.encoder(x)
        a = self.mask.alpha
        rec = losses.reconstruction_loss(x, self.decoder(z * a), self.rec_kind)
        h_enc = self.critic(z * a)
        h_prior = self.critic(noise.prior(z) * a)
        terms = losses.mask_loss_terms(rec, h_enc, h_prior, a, values.c, k.rec_weight, k.watershed)
        raw = {"rec": rec}
        if values.structure.cycle:
            raw["cycle"] = losses.latent_cycle(self.encoder, self.decoder, noise.cycle(z), a)
            terms["cycle"] = values.cycle_weight * raw["cycle"]
        return terms, raw

    # ------------------------------------------------------------------ the updates
    def autoencoder_update(self, ctx: Context, x: torch.Tensor, values: StepValues
                           ) -> dict[str, torch.Tensor]:
        """Step 1: E and D."""
        self.train_only(self.encoder, self.decoder)
        loss, out = self.autoencoder_loss(x, self.mask.alpha.detach(), values.structure)
        ctx.stepper.step(ctx.optimizers[0], loss)
        out["loss/ae"] = loss.detach()
        return out

    def critic_updates(self, ctx: Context, batches: Sequence[torch.Tensor]) -> torch.Tensor:
        """Step 2, once per batch (n_critic fresh mini-batches): the critic only; the last loss."""
        alpha = self.mask.alpha.detach()
        self.train_only(self.critic)
        loss: torch.Tensor | None = None
        for i, xc in enumerate(batches):
            loss = self.critic_loss(i, xc, alpha, ctx.noise)
            ctx.stepper.step(ctx.optimizers[1], loss)
        assert loss is not None  # n_critic >= 1
        return loss.detach()

    def generator_update(self, ctx: Context, x: torch.Tensor) -> torch.Tensor:
        """Step 3: the encoder as generator; E only."""
        self.train_only(self.encoder)
        loss = self.generator_loss(x, self.mask.alpha.detach())
        ctx.stepper.step(ctx.optimizers[2], loss)
        return loss.detach()

    def mask_update(self, ctx: Context, x: torch.Tensor, values: StepValues) -> dict[str, torch.Tensor]:
        """Step 4: beta only, then beta >= 0. A frozen mask's step computes nothing and changes nothing."""
        if values.structure.frozen:
            ctx.stepper.skip(ctx.optimizers[3])
            return {}
        self.train_only(self.mask)
        terms, raw = self.mask_loss_terms(x, values, ctx.noise)
        loss = sum(terms.values())
        assert isinstance(loss, torch.Tensor)
        ctx.stepper.step(ctx.optimizers[3], loss)
        self.mask.clamp_()
        out = {"loss/mask": loss.detach()}
        if "cycle" in raw:
            out["loss/cycle"] = raw["cycle"].detach()
        return out

    def final_updates(self, ctx: Context, x: torch.Tensor, values: StepValues) -> dict[str, torch.Tensor]:
        """Steps 3 and 4 (the mask's with a mask); leaves every parameter trainable."""
        out = {"loss/gen": self.generator_update(ctx, x)}
        if self.uses_mask:
            out |= self.mask_update(ctx, x, values)
        self.train_only(self.encoder, self.decoder, self.critic, self.mask)
        return out

    def __call__(self, ctx: Context, x: torch.Tensor, critic_batches: Sequence[torch.Tensor],
                 values: StepValues) -> dict[str, torch.Tensor]:
        """One iteration on batch ``x`` (the critic's on ``critic_batches``); its losses, detached.
        The learning rates are the caller's to set (:func:`set_rates`, or tensors written in place)."""
        out = self.autoencoder_update(ctx, x, values)
        out["loss/critic"] = self.critic_updates(ctx, critic_batches)
        out |= self.final_updates(ctx, x, values)
        return out
