"""Pick the torch device that a command runs on."""

from __future__ import annotations

import torch

from maskaae_cli.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU when there is one, else the CPU; ``cuda`` without a GPU is an error."""
    name = name.lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or (name.startswith("cuda") and torch.cuda.is_available()):
        try:
            return torch.device(name)
        except RuntimeError as exc:
            raise UserError(f"bad --device {name!r}: use cpu, cuda, cuda:N or auto") from exc
    if name.startswith("cuda"):
        raise UserError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
    raise UserError(f"unknown --device {name!r}: use one of {', '.join(DEVICES)}")
