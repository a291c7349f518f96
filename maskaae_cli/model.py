"""The MaskAAE LightningModule: the Lightning shell around the training iteration (iteration.py):
its four RMSProp optimisers, stepped by manual optimisation, the moving average and the logs."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from maskaae_cli import losses
from maskaae_cli.config import Config
from maskaae_cli.divergence import TrainingDiverged, first_non_finite
from maskaae_cli.graphed_step import restore_plain_optimizers
from maskaae_cli.hot_path import direct_optimizer_step, direct_step_ok
from maskaae_cli.iteration import (
    DRAWN,
    Context,
    Stepper,
    StepValues,
    TrainingIteration,
    set_rates,
    steps_per_iteration,
)
from maskaae_cli.lightning_seam import attached_trainer
from maskaae_cli.mask import LatentMask
from maskaae_cli.nets import build_nets


class LightningStepper(Stepper):
    """Steps ``module``'s optimisers as its Trainer needs: plain outside a Trainer (tests), directly on
    the hot path (hot_path.py), else through Lightning (DDP gradient sync, loss scaling, hooks)."""

    def __init__(self, module: MaskAAE) -> None:
        self.module = module

    def step(self, opt: Any, loss: torch.Tensor) -> None:
        module = self.module
        opt.zero_grad(set_to_none=True)
        if attached_trainer(module) is None:
            loss.backward()
            opt.step()
        elif module._direct_step:
            loss.backward()
            direct_optimizer_step(opt)
        else:
            module.manual_backward(loss)
            opt.step()

    def skip(self, opt: Any) -> None:
        """Counted in the Trainer's step counter, so that an iteration keeps its number of steps."""
        opt.zero_grad(set_to_none=True)
        if attached_trainer(self.module) is not None and self.module._direct_step:
            direct_optimizer_step(opt)
        elif attached_trainer(self.module) is not None:
            opt.step()


class MaskAAE(L.LightningModule):
    """Encoder E, decoder D, latent critic H and mask alpha (docs/algorithm.md).

    ``model="wae"`` gives the baseline: the same nets and schedule with alpha fixed at 1,
    no variance penalty and no mask step. One training iteration (``train_iteration``) runs, in
    order: the auto-encoder step, ``n_critic`` critic steps (each on a fresh mini-batch), the
    encoder-as-generator step, and the mask step.
    """

    def __init__(self, config: Config, data_shape: tuple[int, ...], is_image: bool) -> None:
        super().__init__()
        # what a checkpoint keeps, as plain values (checkpoint.load_model rebuilds the model from it)
        self.save_hyperparameters({"config": config.to_dict(), "data_shape": data_shape,
                                   "is_image": is_image})
        self.automatic_optimization = False
        self.cfg = config  # validated once, where it was built
        m = self.cfg.model
        self.data_shape = tuple(data_shape)
        self.is_image = is_image
        self.encoder, self.decoder, self.critic = build_nets(m, self.data_shape, is_image)
        k = self.cfg.mask
        self.mask = LatentMask(m.m, k.beta_init_max, enabled=m.model == "maae",
                               active_threshold=k.active_threshold, beta_init_min=k.beta_init_min)
        self.rec_kind = m.rec_loss if m.rec_loss != "auto" else ("bce" if is_image else "mse")
        self.train_iteration = TrainingIteration(self.encoder, self.decoder, self.critic, self.mask, self.cfg,
                                                 self.cfg.schedule(), self.rec_kind)
        o = self.cfg.optim
        self._ema_decay = o.ema_decay_for(self.cfg.train.max_steps)  # 0 on a run of <= 5 steps
        self.ema = self._build_ema(self._ema_decay) if o.ema_decay > 0 else None
        self._ema_pairs: tuple[list, list, list] | None = None  # see update_ema
        self._direct_step = False  # see on_train_start
        self._stepper = LightningStepper(self)
        # "graph": train through CUDA graphs (set by graph_policy.py with graph_data, the training set);
        # "body": the graph-safe iteration run eagerly (tests on a CPU); "off": the eager step
        self.cuda_graphs = "off"
        self.graph_data: torch.Tensor | None = None
        self._graphs: Any = None  # the GraphedTraining of this fit (see on_train_start)
        self.graph_captures: list[dict[str, Any]] | None = None  # its captures, once the fit ends
        self.step_count = 0  # training iterations behind these weights (set by checkpoint.load_model)
        self.last_losses: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------- inference
    @property
    def uses_mask(self) -> bool:
        return self.mask.enabled

    @property
    def latent_dim(self) -> int:
        return self.mask.m

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Masked latent code alpha * E(x)."""
        return self.mask(self.encoder(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    def _generator_parts(self) -> nn.ModuleDict:
        """What generation uses: the decoder, and the mask when it is trained."""
        return nn.ModuleDict({"decoder": self.decoder, **({"mask": self.mask} if self.mask.enabled else {})})

    def _build_ema(self, decay: float) -> AveragedModel:
        """An exponential moving average of the decoder and mask (optim.ema_decay), for generation."""
        ema = AveragedModel(self._generator_parts(), multi_avg_fn=get_ema_multi_avg_fn(decay),
                            use_buffers=True)
        ema.requires_grad_(False)  # no optimiser, no DDP gradient sync: updated by update_ema
        return ema

    @torch.no_grad()
    def update_ema(self) -> None:
        """Fold the current decoder and mask into their moving average (no-op when it is off).

        The first update goes through ``AveragedModel.update_parameters`` (it copies); later ones
        apply the same ``torch._foreach_lerp_`` to cached tensor lists, which skips its per-call
        module walk (0.4 ms -> 0.03 ms per iteration on the synthetic nets, ~15 ms iterations).
        """
        if self.ema is None:
            return
        if self._ema_pairs is None:  # first update of this fit (no int(n_averaged): a GPU sync)
            parts = self._generator_parts()
            self.ema.update_parameters(parts)
            pairs = list(zip([*self.ema.module.parameters(), *self.ema.module.buffers()],
                             [*parts.parameters(), *parts.buffers()], strict=True))
            floats = [(a, b) for a, b in pairs if a.is_floating_point()]
            self._ema_pairs = ([a for a, _ in floats], [b for _, b in floats],
                               [(a, b) for a, b in pairs if not a.is_floating_point()])
            return
        averaged, current, others = self._ema_pairs
        weight = 1.0 - self._ema_decay
        torch._foreach_lerp_(averaged, current, weight)
        for a, b in others:  # integer buffers (BatchNorm's batch count), as torch's EMA treats them
            a.copy_(a * self._ema_decay + b * weight)
        self.ema.n_averaged += 1

    def generator(self, averaged: bool = True) -> tuple[nn.Module, LatentMask]:
        """(decoder, mask) that turn prior draws into samples: the moving average's when kept
        and ``averaged``, else the trained weights as they stand."""
        if averaged and self.ema is not None and int(self.ema.n_averaged) > 0:
            parts = self.ema.module
            return parts["decoder"], parts["mask"] if "mask" in parts else self.mask
        return self.decoder, self.mask

    def generate(self, p: torch.Tensor, averaged: bool = True) -> torch.Tensor:
        """Samples D(alpha * p) from unmasked prior draws ``p`` (see :meth:`generator`)."""
        decoder, mask = self.generator(averaged)
        return decoder(mask(p))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, averaged: bool = True) -> torch.Tensor:
        """Generate n samples: D(alpha * p), p ~ N(0, I_m)."""
        p = torch.randn(n, self.latent_dim, generator=generator, device=self.mask.beta.device)
        return self.generate(p, averaged)

    def compile_nets(self) -> None:
        """torch.compile the encoder, decoder and critic in place (state_dict keys unchanged).

        Compiled graphs cannot be differentiated twice, so the critic's gradient penalty keeps
        calling the critic's eager forward.
        """
        for net in (self.encoder, self.decoder, self.critic):
            net.compile()
        self.train_iteration.gp_critic = self.critic.forward

    # ------------------------------------------------------------------ training
    @property
    def opt_steps_per_iter(self) -> int:
        """Optimiser steps in one iteration; Lightning's global_step counts every one of them."""
        return steps_per_iteration(self.cfg)

    @property
    def iteration(self) -> int:
        """Completed training iterations (the unit of --max-steps and of the schedule)."""
        return self.trainer.global_step // self.opt_steps_per_iter if attached_trainer(self) else 0

    def base_rates(self) -> list[float]:
        """The optimisers' configured learning rates (auto-encoder, critic, encoder[, mask])."""
        o = self.cfg.optim
        return [o.lr_ae, o.lr_critic, o.lr_gen, *([self.cfg.mask.lr] if self.uses_mask else [])]

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        params = [[*self.encoder.parameters(), *self.decoder.parameters()], self.critic.parameters(),
                  self.encoder.parameters(), *([self.mask.parameters()] if self.uses_mask else [])]
        return [torch.optim.RMSprop(p, lr=lr) for p, lr in zip(params, self.base_rates(), strict=True)]

    def on_train_start(self) -> None:
        """Settle the hot path once the Trainer has placed the model (see hot_path.py), and the graphed
        iteration when asked for (graph_runner.py; a resumed run captures afresh)."""
        self.train_iteration.forget_parameters()
        self._ema_pairs = None  # the Trainer may have moved the model: re-read its tensors
        self._direct_step = direct_step_ok(self.trainer)
        self._graphs = None
        opts = self.optimizers()
        if self.cuda_graphs == "off":  # plain optimisers, also when resuming a graphed run's checkpoint
            restore_plain_optimizers([opt.optimizer for opt in opts], self.base_rates())
            return
        if not self._direct_step or self.graph_data is None:
            raise RuntimeError("graphed training needs the plain hot path and graph_data: "
                               "set it up with graph_policy.configure_cuda_graphs")
        from maskaae_cli.graph_runner import GraphedTraining

        self._graphs = GraphedTraining(self, opts, self.graph_data.to(self.device),
                                       capture=self.cuda_graphs == "graph")
        self.graph_captures = None

    def on_train_end(self) -> None:
        """Free the graphs, their memory and the training set's device copy (what comes next, the
        summary's evaluation, may need the memory); keep the record of the captures."""
        if self._graphs is not None:
            self.graph_captures = self._graphs.capture_records()
            self._graphs = None
            self.zero_grad(set_to_none=True)  # the gradients live in the graph's memory

    def start_iteration(self, step: int) -> StepValues:
        """The schedule's values at iteration ``step``; snaps the mask to 0 / 1 where it freezes."""
        if self.train_iteration.freezes_at(step):
            self.freeze_mask()
        return self.train_iteration.values_at(step)

    @torch.no_grad()
    def freeze_mask(self) -> None:
        """Snap the mask (and its moving average) to exact 0 / 1: alpha >= the threshold opens fully."""
        big = 40.0  # 1 - exp(-40) is 1.0 in float32
        for mask in (self.mask, *([self.ema.module["mask"]] if self.ema is not None
                                  and "mask" in self.ema.module else [])):
            mask.beta.copy_(torch.where(self.mask.active_mask(), big, 0.0))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        step = self.iteration
        try:
            if self._graphs is not None:  # the batch is the rows' indices (graph_policy.py)
                self._graphs.iteration(batch, step)
            else:
                self.eager_iteration(batch, step)
        except RuntimeError as exc:  # e.g. the cross-entropy refusing a NaN decoder output
            bad = first_non_finite(self.named_parameters())
            if bad is None:
                raise
            raise TrainingDiverged(step + 1, f"the parameter {bad}") from exc

    def eager_iteration(self, batch: torch.Tensor, step: int) -> None:
        """Iteration ``step`` on ``batch`` ((1 + n_critic) mini-batches): the updates, the moving
        average, the logs."""
        o = self.cfg.optim
        values = self.start_iteration(step)
        opts = self.optimizers()
        set_rates(opts, values.rates)
        chunks = batch.split(o.batch_size)
        context = Context(opts, self._stepper, DRAWN)
        logs = self.train_iteration(context, chunks[0], chunks[1 : 1 + o.n_critic], values)
        self.update_ema()
        self.last_losses = logs  # read by the divergence check (maskaae_cli/divergence.py)
        if (step + 1) % self.cfg.train.log_every == 0:  # when Lightning writes logs
            self.log_iteration(logs, step, values.rates[0])

    def log_iteration(self, logs: dict[str, Any], step: int, lr_ae: float) -> None:
        """Log iteration ``step``'s losses (``logs``, with ``loss/critic``), the mask and the rate."""
        active = float(self.mask.active_dims())
        logs |= {"active_dims": active, "wasserstein": -logs["loss/critic"], "lr/ae": lr_ae}
        if self.uses_mask:
            logs["mask/reg_weight"] = self.train_iteration.schedule.reg_weight(step)
        self.log_dict(logs)
        self.log_dict({"active": active, "rec": logs["loss/rec"]}, prog_bar=True)

    # ---------------------------------------------------------------- validation
    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        rec = losses.reconstruction_loss(batch, self.reconstruct(batch), self.rec_kind)
        self.log("val/rec", rec, prog_bar=False, batch_size=len(batch))
