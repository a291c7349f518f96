"""The training iteration (iteration.py) on static inputs: the body a CUDA graph captures.

It runs the same :class:`~maskaae_cli.iteration.TrainingIteration` as the eager step, so that the same
kernels can be replayed on every iteration of one loss structure (:class:`Structure`):

- the batch is gathered on the device from a static index buffer (the training set lives there);
- the noise (the critic's and the mask's prior draws, the gradient penalty's interpolation
  weights) is drawn into static buffers in one place (:class:`BufferedNoise`);
- the learning rates and the loss weights (:class:`StepValues`) are device tensors written between
  iterations;
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
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from maskaae_cli.data.loading import as_float
from maskaae_cli.iteration import Context, Stepper, StepValues, Structure

if TYPE_CHECKING:
    from maskaae_cli.model import MaskAAE

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


class BufferedNoise:
    """Every random number of an iteration in static buffers, drawn in one place (:meth:`draw`): N(0, I)
    draws for the ``n_critic`` critic steps, the mask step's prior and its cycle term's prior, and the
    critic steps' penalty interpolation weights."""

    def __init__(self, n_critic: int, batch_size: int, m: int, uses_mask: bool, device: torch.device,
                 dtype: torch.dtype) -> None:
        self.n_critic, self.uses_mask = n_critic, uses_mask
        self.normal = torch.zeros(n_critic + 2, batch_size, m, device=device, dtype=dtype)
        self.uniform = torch.zeros(n_critic, batch_size, 1, device=device, dtype=dtype)

    def draw(self) -> None:
        self.normal.normal_()
        self.uniform.uniform_()

    def critic(self, i: int, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normal[i], self.uniform[i]

    def prior(self, z: torch.Tensor) -> torch.Tensor:
        return self.normal[self.n_critic]

    def cycle(self, z: torch.Tensor) -> torch.Tensor:
        return self.normal[self.n_critic + 1]

    def load(self, draws: Sequence[torch.Tensor], structure: Structure) -> None:
        """Put the noise of one eager iteration (:func:`recorded_noise`, in the order the eager step
        draws it) into the buffers."""
        draws = list(draws)
        nc = self.n_critic
        slots = [t for i in range(nc) for t in (self.normal[i], self.uniform[i])]
        if self.uses_mask and not structure.frozen:
            slots += [self.normal[nc]] + ([self.normal[nc + 1]] if structure.cycle else [])
        if len(draws) != len(slots):
            raise ValueError(f"expected {len(slots)} noise draws for {structure}, got {len(draws)}")
        with torch.no_grad():
            for slot, draw in zip(slots, draws, strict=True):
                slot.copy_(draw)


class IterationBody:
    """``model``'s training iteration on static buffers (see the module docstring).

    ``optimizers``: the model's four (three for WAE) plain torch optimisers, prepared by
    :func:`prepare_optimizers`; ``data``: the training set on the model's device (uint8 images or
    float vectors). Before each iteration: :meth:`set_step` and :meth:`set_indices`; then call it.
    """

    def __init__(self, model: MaskAAE, optimizers: Sequence[torch.optim.Optimizer],
                 data: torch.Tensor) -> None:
        self.model, self.iteration = model, model.train_iteration
        param = next(model.encoder.parameters())
        self.device, self.dtype = param.device, param.dtype
        o = model.cfg.optim
        self.batch_size, self.n_critic = o.batch_size, o.n_critic
        self.data = data
        self.index = torch.zeros((1 + self.n_critic) * self.batch_size, dtype=torch.long, device=self.device)
        self.noise = BufferedNoise(self.n_critic, self.batch_size, model.latent_dim, model.uses_mask,
                                   self.device, self.dtype)
        self.context = Context(optimizers, Stepper(), self.noise)
        rates = tuple(g["lr"] for opt in optimizers for g in opt.param_groups)
        if not all(isinstance(r, torch.Tensor) for r in rates):
            raise ValueError("IterationBody needs tensor learning rates: call prepare_optimizers first")
        weights = {name: torch.zeros((), device=self.device, dtype=self.dtype)
                   for name in self.iteration.values_at(0).weights()}
        self.values = StepValues(self.iteration.structure_at(0), rates, **weights)  # the tensors written
        self._targets = [*rates, *weights.values()]
        self._written: list[float | None] = [None] * len(self._targets)
        self.lr_ae = float("nan")  # the auto-encoder's rate as last written (for the logs)
        self.outputs: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ between iterations
    def set_step(self, step: int) -> None:
        """Write the schedule's values at ``step`` into the device tensors."""
        self.set_values(self.iteration.values_at(step))

    def set_values(self, values: StepValues) -> None:
        """Write ``values`` (floats) into the device tensors (only those that changed)."""
        for i, value in enumerate([*values.rates, *values.weights().values()]):
            if value != self._written[i]:
                self._targets[i].fill_(value)
                self._written[i] = value
        self.lr_ae = values.rates[0]

    def set_indices(self, indices: torch.Tensor) -> None:
        """The rows of the training set that this iteration trains on ((1 + n_critic) * batch_size)."""
        self.index.copy_(indices, non_blocking=True)

    def load_noise(self, draws: Sequence[torch.Tensor], structure: Structure) -> None:
        """Put the noise of one eager iteration (:func:`recorded_noise`) into the noise buffers."""
        self.noise.load(draws, structure)

    # ------------------------------------------------------------------ the iteration
    def batch(self, rows: slice) -> torch.Tensor:
        """The training rows at ``index[rows]``, as the model sees them (uint8 images scaled to [0, 1])."""
        x = as_float(self.data.index_select(0, self.index[rows]))
        return x if x.dtype == self.dtype else x.to(self.dtype)

    def __call__(self, structure: Structure, draw_noise: bool = True) -> dict[str, torch.Tensor]:
        """One iteration and the moving average's update; returns (and keeps in ``outputs``) its
        losses, detached."""
        if draw_noise:
            self.noise.draw()
        x = self.batch(slice(0, self.batch_size))
        values = replace(self.values, structure=structure)
        out = self.iteration(self.context, x, self.critic_batches(), values)
        self.model.update_ema()
        self.outputs = out
        return out

    def critic_batches(self) -> tuple[torch.Tensor, ...]:
        return self.batch(slice(self.batch_size, None)).split(self.batch_size)

    # the iteration in three parts, for a graph of the critic steps only (graph_runner.py)
    def autoencoder_step(self, x: torch.Tensor, structure: Structure) -> dict[str, torch.Tensor]:
        return self.iteration.autoencoder_update(self.context, x, replace(self.values, structure=structure))

    def critic_steps(self) -> torch.Tensor:
        return self.iteration.critic_updates(self.context, self.critic_batches())

    def final_steps(self, x: torch.Tensor, structure: Structure) -> dict[str, torch.Tensor]:
        out = self.iteration.final_updates(self.context, x, replace(self.values, structure=structure))
        self.model.update_ema()
        return out


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
