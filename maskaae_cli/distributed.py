"""Hardware for the Trainer: accelerator, devices, nodes, DDP for manual optimisation, precision.

--batch-size is per device: one iteration of a run on D devices and N nodes trains on
``batch_size * D * N`` samples per optimiser step (DDP averages the D * N gradients).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy

from maskaae_cli.config import TrainConfig


def device_count(accelerator: str, devices: str) -> int:
    """How many devices per node ``--accelerator`` / ``--devices`` ask for (as Lightning reads them)."""
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if devices in ("auto", "-1"):
        return torch.cuda.device_count() if gpu else 1
    if "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    return int(devices)


def parse_devices(devices: str) -> int | str | list[int]:
    """``--devices`` as the Trainer takes it: a count, a list of ids ("0,1") or "auto"."""
    if "," in devices:
        return [int(d) for d in devices.split(",") if d.strip()]
    return devices if devices == "auto" else int(devices)


def hardware_kwargs(t: TrainConfig) -> dict[str, Any]:
    """Trainer keyword arguments for the hardware options.

    Several processes (devices or nodes), or ``--strategy ddp``, train with DDP with
    ``find_unused_parameters=True``: each of the four optimiser steps back-propagates into
    only the nets it trains, so every backward pass leaves parameters without a gradient.
    Lightning prepares DDP's reducer before each ``manual_backward`` and averages the
    gradients that pass computed (beta's included), so all ranks apply the same update.
    """
    multi = device_count(t.accelerator, t.devices) > 1 or t.num_nodes > 1
    strategy: Any = t.strategy
    if t.strategy != "auto" or multi:
        strategy = DDPStrategy(find_unused_parameters=True)
    return {"accelerator": t.accelerator, "devices": parse_devices(t.devices),
            "num_nodes": t.num_nodes, "strategy": strategy, "precision": t.precision}
