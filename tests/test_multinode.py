"""Two nodes: two `torchrun` agents (``--nnodes 2 --nproc-per-node 1``, one per node rank) rendezvous
on 127.0.0.1 and run `maskaae train --num-nodes 2 --accelerator cpu` (gloo) as one DDP run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PERIODS, tiny_config, tiny_recipe

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_nodes(cwd: Path, args: list[str]) -> None:
    """`torchrun ... --node-rank R -m maskaae_cli train --num-nodes 2 ARGS` for R = 0 and 1, at once."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
         "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
         "-m", "maskaae_cli", "train", "--num-nodes", "2", "--accelerator", "cpu", "--devices", "1",
         "--threads", "1", "--no-progress", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    try:
        outputs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for rank, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"node {rank}:\n{out[-4000:]}"


@pytest.mark.slow
def test_two_nodes_train_one_run_with_the_same_weights_and_resume(tmp_path):
    recipe = tiny_recipe(tmp_path / "tiny.yaml", PERIODS)
    run = tmp_path / "run"

    two_nodes(tmp_path, ["--recipe", str(recipe), "--max-steps", "6", "--out", str(run)])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["devices"] == 2 and summary["global_batch_size"] == 2 * tiny_config(run).optim.batch_size
    assert summary["ranks_max_abs_parameter_difference"] == 0.0 and summary["steps"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.yaml"]  # one folder, rank 0's

    two_nodes(tmp_path, ["--resume", str(run), "--max-steps", "12"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["resumed_from_iteration"] == 6
    assert summary["devices"] == 2 and summary["ranks_max_abs_parameter_difference"] == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.yaml"]
