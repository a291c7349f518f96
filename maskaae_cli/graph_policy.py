"""Whether a run trains through CUDA graphs (graph_runner.py), and the one line that says why not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from lightning.pytorch.strategies import SingleDeviceStrategy

from maskaae_cli.graph_runner import WARMUP_ITERATIONS
from maskaae_cli.hot_path import direct_step_ok

if TYPE_CHECKING:
    import lightning as L

    from maskaae_cli.config import Config
    from maskaae_cli.data import MaskAAEDataModule
    from maskaae_cli.model import MaskAAE

# What `train.cuda_graphs: null` (no --cuda-graphs / --no-cuda-graphs) means. Off until the GPU check
# (benchmarks/gpu_check.sh) shows a graphed run equal to an eager one; then True makes graphs the
# default for one-GPU 32-bit runs, and runs that cannot use them say why (docs/performance.md).
CUDA_GRAPHS_BY_DEFAULT = False
DATA_SHARE = 0.5  # the training set may take at most this share of the GPU's free memory


def eager_reason(*, cuda: bool, single_device: bool, precision: str, compiled: bool, plain_steps: bool,
                 data_bytes: int = 0, free_bytes: int | None = None) -> str | None:
    """Why a run cannot train through CUDA graphs (None: it can)."""
    if not cuda:
        return "CUDA graphs need a CUDA GPU"
    if not single_device:
        return ("CUDA graphs are for one GPU; several GPUs or --strategy ddp train eagerly "
                "(--gpus N makes the batch N times larger, not the iteration faster)")
    if precision != "32-true":
        return f"CUDA graphs are measured in 32-bit only, not --precision {precision}"
    if compiled:
        return "--compile and CUDA graphs do not combine"
    if not plain_steps:
        return "a callback (or gradient clipping) needs Lightning's per-step hooks, which a graph skips"
    if free_bytes is not None and data_bytes > DATA_SHARE * free_bytes:
        return (f"the training set ({data_bytes / 2**30:.1f} GiB) would take more than half of the GPU's "
                f"free memory ({free_bytes / 2**30:.1f} GiB)")
    return None


def configure_cuda_graphs(cfg: Config, trainer: L.Trainer, model: MaskAAE,
                          dm: MaskAAEDataModule) -> str | None:
    """Set ``model`` and ``dm`` up to train through CUDA graphs where the run asks for them and they
    apply; returns the line to print (None: nothing to say, the default off or a CPU run by default)."""
    asked = cfg.train.cuda_graphs
    if not (CUDA_GRAPHS_BY_DEFAULT if asked is None else asked):
        return None
    cuda = isinstance(trainer.accelerator, CUDAAccelerator)
    single = type(trainer.strategy) is SingleDeviceStrategy
    data = dm.train_data
    free = None
    if cuda and single and data is not None:
        free = torch.cuda.mem_get_info(trainer.strategy.root_device)[0]
    reason = eager_reason(cuda=cuda, single_device=single, precision=cfg.train.precision,
                          compiled=cfg.train.compile, plain_steps=direct_step_ok(trainer, model),
                          data_bytes=data.nbytes if data is not None else 0, free_bytes=free)
    if reason is not None:
        return None if asked is None and not cuda else f"training eagerly: {reason}"
    enable_graphs(model, dm, capture=True)
    return (f"CUDA graphs: {WARMUP_ITERATIONS} eager iterations, then each iteration replays one captured "
            "graph (--no-cuda-graphs trains eagerly)")


def enable_graphs(model: MaskAAE, dm: MaskAAEDataModule, capture: bool) -> None:
    """Train ``model`` through the graph-safe iteration: captured (CUDA), or run eagerly (``capture``
    False: how the tests run it on a CPU). The training set goes to the device, batches as indices."""
    dm.setup()
    model.cuda_graphs = "graph" if capture else "body"
    model.graph_data = dm.train_data
    dm.index_batches = True
