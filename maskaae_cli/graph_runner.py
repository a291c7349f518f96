"""Train with the graph-safe iteration (graphed_step.py): warm up, capture a CUDA graph, replay it.

A few eager iterations run first on a side stream (they create the optimisers' state and let
autograd settle its streams); the iteration is then captured once and replayed. A change of
loss structure (the cycle term switching off, the mask freezing) recaptures once; a new fit (a
resumed run) captures afresh. Lightning's step counter still counts every optimiser step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import torch
from lightning.pytorch.core.optimizer import LightningOptimizer

from maskaae_cli.graphed_step import IterationBody, prepare_optimizers
from maskaae_cli.hot_path import count_optimizer_steps
from maskaae_cli.iteration import Structure, optimizer_steps
from maskaae_cli.lightning_seam import attached_trainer

if TYPE_CHECKING:
    from maskaae_cli.model import MaskAAE

WARMUP_ITERATIONS = 3  # eager iterations before each capture (torch's examples use 3)
SCOPES = ("iteration", "critic")  # what one graph holds: the whole iteration, or the n_critic critic steps

T = TypeVar("T")


class CapturedCall(Generic[T]):
    """``fn()`` run eagerly ``warmup`` times on a side stream, then captured once and replayed.

    ``fn`` may read and write only tensors that outlive it (static buffers, parameters, optimiser
    state); what it returns at capture are static outputs, refreshed by every replay. Without
    ``capture`` (a CPU) it is simply called.
    """

    def __init__(self, fn: Callable[[], T], capture: bool, warmup: int = WARMUP_ITERATIONS) -> None:
        self.fn, self.capture, self.warmup = fn, capture, warmup
        self.warm = 0
        self.graph: Any = None
        self.output: T | None = None
        self.capture_seconds: float | None = None
        self.graph_bytes: int | None = None  # device memory the capture added (allocated, net)
        self._stream: Any = None

    def __call__(self) -> T:
        if not self.capture:
            return self.fn()
        if self.graph is None:
            if self.warm < self.warmup:
                self.warm += 1
                return self._on_side_stream()
            self.output = self._capture()
        self.graph.replay()
        return self.output  # type: ignore[return-value]

    def _on_side_stream(self) -> T:
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        self._stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._stream):
            out = self.fn()
        torch.cuda.current_stream().wait_stream(self._stream)
        return out

    def _capture(self) -> T:
        graph = torch.cuda.CUDAGraph()
        before = torch.cuda.memory_allocated()
        start = time.perf_counter()
        # thread_local: Lightning's helper threads may use CUDA while this thread captures
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            out = self.fn()
        torch.cuda.synchronize()
        self.capture_seconds = time.perf_counter() - start
        self.graph_bytes = torch.cuda.memory_allocated() - before
        self.graph = graph
        return out


class GraphedTraining:
    """Runs ``model``'s iterations through :class:`IterationBody`.

    ``optimizers``: the model's optimisers (Lightning's wrappers inside a Trainer, whose step
    counter this keeps, or plain ones); ``data``: the training set on the model's device;
    ``capture``: CUDA graphs (else the body runs eagerly: tests on a CPU); ``scope``: what a graph
    holds, the whole ``"iteration"`` or the ``"critic"`` steps only (the rest then runs eagerly);
    ``draw_noise``: False when the caller fills the noise buffers (comparisons with the eager step);
    ``capturable``: the optimisers' flag (default: ``capture``; the tests set it on a CPU).
    """

    def __init__(self, model: MaskAAE, optimizers: Sequence[Any], data: torch.Tensor, *, capture: bool,
                 scope: str = "iteration", draw_noise: bool = True, warmup: int = WARMUP_ITERATIONS,
                 capturable: bool | None = None) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown graph scope {scope!r}: use one of {', '.join(SCOPES)}")
        if capture and warmup < 1:
            raise ValueError("a capture needs at least one eager warm-up iteration before it")
        self.model, self.capture, self.scope = model, capture, scope
        self.draw_noise, self.warmup = draw_noise, warmup
        plain = [getattr(opt, "optimizer", opt) for opt in optimizers]
        prepare_optimizers(plain, capturable=capture if capturable is None else capturable)
        self.body = IterationBody(model, plain, data)
        self._counted = [(opt, n) for opt, n in zip(optimizers, optimizer_steps(model.cfg), strict=True)
                         if isinstance(opt, LightningOptimizer)]
        self._calls: dict[Structure | None, CapturedCall] = {}
        self.captures: list[dict[str, Any]] = []  # the retired graphs' captures (capture_records)
        self.structures: list[Structure | None] = []  # the keys graphs were made for, in order

    def iteration(self, indices: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Train iteration ``step`` on the training rows ``indices`` (on the device); its losses."""
        model, body = self.model, self.body
        values = model.start_iteration(step)  # freezes the mask eagerly, between graphs
        body.set_values(values)
        body.set_indices(indices)
        out = self._run(values.structure)
        model.last_losses = out  # read by the divergence check on the iterations it is due
        for opt, n in self._counted:
            count_optimizer_steps(opt, n)
        if attached_trainer(model) is not None and (step + 1) % model.cfg.train.log_every == 0:
            model.log_iteration({k: v.clone() for k, v in out.items()}, step, body.lr_ae)
        return out

    def _run(self, structure: Structure) -> dict[str, torch.Tensor]:
        body = self.body
        if self.scope == "iteration":
            return self._call(structure, lambda: body(structure, self.draw_noise))()
        if self.draw_noise:
            body.noise.draw()
        x = body.batch(slice(0, body.batch_size))
        out = body.autoencoder_step(x, structure)
        out["loss/critic"] = self._call(None, body.critic_steps)()  # the critic steps' ops never change
        out |= body.final_steps(x, structure)
        body.outputs = out
        return out

    def _call(self, key: Structure | None, fn: Callable[[], T]) -> CapturedCall[T]:
        """The captured call of ``key``; a new key drops the old graph (one graph at a time)."""
        call = self._calls.get(key)
        if call is None:
            self.captures.extend(self._current_captures())
            self._calls.clear()  # frees the old graph once its outputs and gradients are replaced
            call = self._calls[key] = CapturedCall(fn, self.capture, self.warmup)
            self.structures.append(key)
        return call

    def _current_captures(self) -> list[dict[str, Any]]:
        return [{"structure": key, "seconds": call.capture_seconds, "bytes": call.graph_bytes}
                for key, call in self._calls.items() if call.graph is not None]

    def capture_records(self) -> list[dict[str, Any]]:
        """Every capture so far, the current graph's last: its structure, seconds and device bytes."""
        return [*self.captures, *self._current_captures()]
