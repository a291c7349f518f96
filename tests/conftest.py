"""Shared fixtures: one torch thread per test, and a tiny trained run (seconds on a CPU).

Helpers the tests import live in helpers.py and cli_support.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import tiny_config


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished tiny synthetic run folder (model.ckpt, summary.json, ...)."""
    from maskaae_cli.training import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_config(out))
    return out
