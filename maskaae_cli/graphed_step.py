"""One MaskAAE training iteration that never waits for the device: the body a CUDA graph captures.

It runs the steps of ``MaskAAE._training_iteration`` (docs/algorithm.md) on static inputs, so the
same kernels can be replayed on every iteration of one loss structure (:class:`Structure`):

- the batch is gathered on the device from a static index buffer (the training set lives there);
- the noise (the critic's and the mask's prior draws, the gradient penalty's interpolation
  weights) is drawn into static buffers in one place;
- the learning rates, c and the cycle weight are device tensors written between iterations;
- the optimisers are RMSprop with tensor learning rates (``capturable`` on CUDA);
- the losses land in static outputs, read on logging iterations only;
- the mask clamp and the moving-average update are inside.

Nothing in it reads a value on the host (no ``.item()``, no data-dependent shape, no branch on a
tensor). Run eagerly it makes the eager step's update (tests/test_graphed_step.py); the capture
and replay are in ``graph_runner.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from maskaae_cli import losses
from maskaae_cli.data.loading import as_float

if TYPE_CHECKING:
    from maskaae_cli.model import MaskAAE


@dataclass(frozen=True)
class Structure:
    """What decides an iteration's ops: one graph is captured per structure."""

    cycle: bool  # the mask loss has the latent cycle term
    frozen: bool  # the mask is frozen at 0 / 1: no variance penalty, no mask step


def structure_at(model: MaskAAE, step: int) -> Structure:
    """The loss structure of iteration ``step``."""
    frozen = model.uses_mask and model.schedule.frozen(step)
    return Structure(cycle=model.uses_mask and not frozen and model.cycle_acts(step), frozen=frozen)


def prepare_optimizers(optimizers: Sequence[torch.optim.Optimizer], capturable: bool) -> None:
    """Learning rates as 0-dim tensors on the parameters' device and dtype (written in place by
    :meth:`IterationBody.set_step`), the foreach RMSprop path, ``capturable`` step counters on the
    device. Takes an optimiser in any state: fresh, stepped, or restored from either kind of checkpoint.
    """
    for opt in optimizers:
        if capturable:  # torch warns when a capturable step runs uncaptured: the warm-up does, on purpose
            opt._warned_capturable_if_run_uncaptured = True  # type: ignore[attr-defined]
        for group in opt.param_groups:
            param = group["params"][0]
            lr = group["lr"]
            if not (isinstance(lr, torch.Tensor) and lr.device == param.device and lr.dtype == param.dtype
                    and lr.dim() == 0):
                group["lr"] = torch.tensor(float(lr), device=param.device, dtype=param.dtype)
            group["capturable"], group["foreach"] = capturable, True
            for p in group["params"]:
                state = opt.state.get(p, {})
                if "step" in state:
                    state["step"] = state["step"].to(p.device if capturable else "cpu", torch.float32)


def restore_plain_optimizers(optimizers: Sequence[torch.optim.Optimizer], rates: Sequence[float]) -> None:
    """Undo :func:`prepare_optimizers` (an eager run resumed from a graphed run's checkpoint): float
    learning rates ``rates``, torch's defaults for ``capturable`` and ``foreach``, step counters on
    the CPU. Touches nothing in an optimiser that is already plain."""
    for opt, rate in zip(optimizers, rates, strict=True):
        for group in opt.param_groups:
            if not isinstance(group["lr"], torch.Tensor) and not group.get("capturable") \
                    and group.get("foreach") is None:
                continue
            group["lr"], group["capturable"], group["foreach"] = rate, False, None
            for p in group["params"]:
                state = opt.state.get(p, {})
                if "step" in state:
                    state["step"] = state["step"].to("cpu", torch.float32)


class IterationBody:
    """One training iteration of ``model`` on static buffers (see the module docstring).

    ``optimizers``: the model's four (three for WAE) plain torch optimisers, prepared by
    :func:`prepare_optimizers`; ``data``: the training set on the model's device (uint8 images or
    float vectors). Before each iteration: :meth:`set_step` and :meth:`set_indices`; then call it.
    """

    def __init__(self, model: MaskAAE, optimizers: Sequence[torch.optim.Optimizer],
                 data: torch.Tensor) -> None:
        self.model = model
        self.opt_ae, self.opt_h, self.opt_g, *rest = optimizers
        self.opt_mask = rest[0] if rest else None
        param = next(model.encoder.parameters())
        self.device, self.dtype = param.device, param.dtype
        o = model.cfg.optim
        self.batch_size, self.n_critic = o.batch_size, o.n_critic
        b, nc, m = self.batch_size, self.n_critic, model.latent_dim
        self.data = data
        self.index = torch.zeros((1 + nc) * b, dtype=torch.long, device=self.device)
        # N(0, I) draws: the critic steps' priors, the mask step's prior and its cycle term's prior
        self.normal = torch.zeros(nc + 2, b, m, device=self.device, dtype=self.dtype)
        self.uniform = torch.zeros(nc, b, 1, device=self.device, dtype=self.dtype)  # penalty interpolation
        self.c = torch.zeros((), device=self.device, dtype=self.dtype)
        self.cycle_weight = torch.zeros((), device=self.device, dtype=self.dtype)
        rates = [g["lr"] for opt in optimizers for g in opt.param_groups]
        self._targets = [*rates, self.c, self.cycle_weight]
        if not all(isinstance(t, torch.Tensor) for t in self._targets):
            raise ValueError("IterationBody needs tensor learning rates: call prepare_optimizers first")
        self._written: list[float | None] = [None] * len(self._targets)
        self.lr_ae = float("nan")  # the auto-encoder's rate as last written (for the logs)
        self.outputs: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ between iterations
    def set_step(self, step: int) -> None:
        """Write the schedule's values at ``step`` into the device tensors (only those that changed)."""
        model, o = self.model, self.model.cfg.optim
        ae, mask = model.scheduled_rates(step)
        rates = [ae, o.lr_critic, o.lr_gen] + ([mask] if self.opt_mask is not None else [])
        cycle = model.cycle_weight(step) if model.cycle_acts(step) else 0.0
        for i, value in enumerate([*rates, model.schedule.reg_weight(step), cycle]):
            if value != self._written[i]:
                self._targets[i].fill_(value)
                self._written[i] = value
        self.lr_ae = ae

    def set_indices(self, indices: torch.Tensor) -> None:
        """The rows of the training set that this iteration trains on ((1 + n_critic) * batch_size)."""
        self.index.copy_(indices, non_blocking=True)

    def load_noise(self, draws: Sequence[torch.Tensor], structure: Structure) -> None:
        """Put the noise of one eager iteration (:func:`recorded_noise`) into the noise buffers."""
        draws = list(draws)
        nc = self.n_critic
        slots = [t for i in range(nc) for t in (self.normal[i], self.uniform[i])]
        if self.opt_mask is not None and not structure.frozen:
            slots += [self.normal[nc]] + ([self.normal[nc + 1]] if structure.cycle else [])
        if len(draws) != len(slots):
            raise ValueError(f"expected {len(slots)} noise draws for {structure}, got {len(draws)}")
        with torch.no_grad():
            for slot, draw in zip(slots, draws, strict=True):
                slot.copy_(draw)

    # ------------------------------------------------------------------ the iteration
    def draw_noise(self) -> None:
        """Every random number of the iteration, drawn in one place."""
        self.normal.normal_()
        self.uniform.uniform_()

    def batch(self, rows: slice) -> torch.Tensor:
        """The training rows at ``index[rows]``, as the model sees them (uint8 images scaled to [0, 1])."""
        x = as_float(self.data.index_select(0, self.index[rows]))
        return x if x.dtype == self.dtype else x.to(self.dtype)

    def __call__(self, structure: Structure, draw_noise: bool = True) -> dict[str, torch.Tensor]:
        """One iteration; returns (and keeps in ``outputs``) its losses, detached."""
        if draw_noise:
            self.draw_noise()
        x = self.batch(slice(0, self.batch_size))
        out = self.autoencoder_step(x, structure)
        out["loss/critic"] = self.critic_steps()
        out |= self.final_steps(x, structure)
        self.outputs = out
        return out

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def autoencoder_step(self, x: torch.Tensor, structure: Structure) -> dict[str, torch.Tensor]:
        """Step 1 (MaskAAE.autoencoder_step): reconstruction (+ variance penalty); E and D."""
        model = self.model
        alpha = model.mask.alpha.detach()
        model._train_only(model.encoder, model.decoder)
        z = model.encoder(x)
        rec = losses.reconstruction_loss(x, model.decoder(z * alpha), model.rec_kind)
        out = {"loss/rec": rec.detach()}
        loss = rec
        if model.uses_mask and not structure.frozen:
            var = losses.variance_penalty(z, alpha, model.cfg.mask.var_sharpness)
            loss = rec + model.cfg.mask.var_weight * var
            out["loss/var"] = var.detach()
        self._step(self.opt_ae, loss)
        out["loss/ae"] = loss.detach()
        return out

    def critic_steps(self) -> torch.Tensor:
        """Step 2 (MaskAAE.critic_step, n_critic times on fresh rows); returns the last critic loss."""
        model = self.model
        alpha = model.mask.alpha.detach()
        model._train_only(model.critic)
        chunks = self.batch(slice(self.batch_size, None)).split(self.batch_size)
        loss: torch.Tensor | None = None
        for i, xc in enumerate(chunks):
            with torch.no_grad():
                z_enc = model.encoder(xc) * alpha
            loss = losses.critic_loss(model.critic, z_enc, self.normal[i] * alpha, model.cfg.optim.gp_weight,
                                      model._gp_critic, eps=self.uniform[i])
            self._step(self.opt_h, loss)
        assert loss is not None  # n_critic >= 1
        return loss.detach()

    def final_steps(self, x: torch.Tensor, structure: Structure) -> dict[str, torch.Tensor]:
        """Steps 3 and 4 (the encoder as generator; the mask, then beta >= 0) and the moving average."""
        model = self.model
        alpha = model.mask.alpha.detach()
        model._train_only(model.encoder)
        loss_g = losses.generator_loss(model.critic, model.encoder(x) * alpha)
        self._step(self.opt_g, loss_g)
        out = {"loss/gen": loss_g.detach()}
        if self.opt_mask is not None and structure.frozen:
            self.opt_mask.zero_grad(set_to_none=True)  # all that the eager step's frozen mask step does
        elif self.opt_mask is not None:
            out |= self._mask_step(x, structure)
        model._train_only(model.encoder, model.decoder, model.critic, model.mask)
        model.update_ema()
        return out

    def _mask_step(self, x: torch.Tensor, structure: Structure) -> dict[str, torch.Tensor]:
        """Step 4 (MaskAAE.mask_step with mask_loss_terms): beta only."""
        model, k, nc = self.model, self.model.cfg.mask, self.n_critic
        model._train_only(model.mask)
        with torch.no_grad():
            z = model.encoder(x)
        a = model.mask.alpha
        rec = losses.reconstruction_loss(x, model.decoder(z * a), model.rec_kind)
        h_enc, h_prior = model.critic(z * a), model.critic(self.normal[nc] * a)
        terms = losses.mask_loss_terms(rec, h_enc, h_prior, a, self.c, k.rec_weight, k.watershed)
        out: dict[str, torch.Tensor] = {}
        if structure.cycle:
            cycle = losses.latent_cycle(model.encoder, model.decoder, self.normal[nc + 1], a)
            terms["cycle"] = self.cycle_weight * cycle
            out["loss/cycle"] = cycle.detach()
        loss = sum(terms.values())
        assert isinstance(loss, torch.Tensor)
        self._step(self.opt_mask, loss)  # type: ignore[arg-type]
        model.mask.clamp_()
        return {"loss/mask": loss.detach(), **out}


@contextmanager
def recorded_noise() -> Iterator[list[torch.Tensor]]:
    """The noise the eager step draws (``torch.randn_like`` and ``torch.rand``, in order), for
    :meth:`IterationBody.load_noise`: the tests and the GPU check compare the two on the same noise."""
    draws: list[torch.Tensor] = []
    randn_like, rand = torch.randn_like, torch.rand

    def keep(fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
            out = fn(*args, **kwargs)
            draws.append(out.detach().clone())
            return out
        return wrapped

    torch.randn_like, torch.rand = keep(randn_like), keep(rand)  # type: ignore[assignment]
    try:
        yield draws
    finally:
        torch.randn_like, torch.rand = randn_like, rand  # type: ignore[assignment]
