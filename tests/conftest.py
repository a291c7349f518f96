"""Shared fixtures: tiny configs and a tiny trained run (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from maskaae_cli.config import Config


def tiny_config(out: Path, **sections: dict) -> Config:
    """A synthetic config small enough to train in a couple of seconds."""
    cfg = Config.from_dict({
        "data": {"n_true": 2, "data_dim": 16, "data_hidden": 16, "n_train": 512, "n_val": 128,
                 "n_test": 256},
        "model": {"m": 6, "hidden": 16, "depth": 1, "critic_hidden": 16, "critic_depth": 1},
        "optim": {"batch_size": 16, "n_critic": 2, "schedule": "reference", "schedule_period": 5},
        "mask": {"start": 0},
        "train": {"max_steps": 20, "eval_every": 10, "log_every": 5, "ckpt_every": 10,
                  "eval_samples": 128, "out": str(out), "progress": False, "threads": 1},
    })
    cfg.update(sections)
    return cfg


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


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `maskaae ARGS` in-process through the real entry point; (exit code, stdout, stderr)."""
    from maskaae_cli.cli.app import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
