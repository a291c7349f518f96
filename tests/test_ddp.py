"""Two-process DDP on the CPU (gloo): every rank ends with the same nets and mask."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_support import assert_one_line_error, run_cli

from maskaae_cli.config import TrainConfig
from maskaae_cli.data.loading import ShardedRandomSampler
from maskaae_cli.distributed import hardware_kwargs

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(HERE / "ddp_script.py"), str(out)], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_both_ranks_end_with_identical_nets_and_mask(ddp_run):
    r0, r1 = (torch.load(ddp_run / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert (r0["rank"], r1["rank"]) == (0, 1) and r0["world_size"] == r1["world_size"] == 2
    assert r0["iteration"] == r1["iteration"] == 12
    groups = {name.split(".")[0] for name in r0["params"]}
    # beta is one of DDP's parameters; the moving average (ema) is updated alike on every rank
    assert groups == {"encoder", "decoder", "critic", "mask", "ema"}
    for name, p in r0["params"].items():
        assert torch.equal(p, r1["params"][name]), name
    # each rank trained on its own data, so equal parameters mean DDP averaged the gradients
    assert r0["first_batch"].shape == r1["first_batch"].shape == (16 * 3, 16)
    assert not torch.equal(r0["first_batch"], r1["first_batch"])


def test_rank_zero_writes_one_run_folder(ddp_run):
    run = ddp_run / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["devices"] == 2 and summary["global_batch_size"] == 32
    assert summary["ranks_max_abs_parameter_difference"] == 0.0 and summary["steps"] == 12
    r0 = torch.load(ddp_run / "rank0.pt", weights_only=True)
    alpha = -torch.expm1(-r0["params"]["mask.beta"])
    assert torch.allclose(alpha, torch.tensor(summary["alpha"]), atol=1e-6)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    train_steps = [int(r["step"]) for r in rows if r.get("loss/ae")]
    assert train_steps == [2, 5, 8, 11]  # once per logging step: not once per rank
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "model.ckpt").is_file()


def test_ranks_share_out_each_pass_of_the_data():
    shares = [list(ShardedRandomSampler(10, 12, rank, 2, seed=3)) for rank in (0, 1)]
    assert all(len(s) == 12 for s in shares)
    assert sorted(shares[0][:5] + shares[1][:5]) == list(range(10))  # first pass: disjoint halves
    assert shares[0] == list(ShardedRandomSampler(10, 12, 0, 2, seed=3))  # the same on every call


def test_several_devices_or_ddp_use_ddp_with_unused_parameter_search():
    multi = hardware_kwargs(TrainConfig(accelerator="cpu", devices="2"))
    assert multi["strategy"].__class__.__name__ == "DDPStrategy" and multi["devices"] == 2
    assert multi["strategy"]._ddp_kwargs["find_unused_parameters"] is True
    one = hardware_kwargs(TrainConfig(accelerator="cpu", devices="1"))
    assert one["strategy"] == "auto"
    nodes = hardware_kwargs(TrainConfig(accelerator="cpu", devices="1", num_nodes=2))
    assert nodes["strategy"]._ddp_kwargs["find_unused_parameters"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["--precision", "16"], "unknown --precision '16': use 32, bf16-mixed or 16-mixed"),
    (["--strategy", "fsdp"], "unsupported --strategy 'fsdp'"),
    (["--devices", "two"], "bad --devices 'two'"),
    (["--logger", "mlflow"], "unknown --logger 'mlflow'"),
    (["--gpus", "2", "--accelerator", "cpu"], "--gpus N sets --accelerator gpu and --devices N"),
    (["--accelerator", "tpu"], "the hardware options do not work here"),
    pytest.param(["--gpus", "1"], "the hardware options do not work here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")),
])
def test_bad_hardware_options_give_one_clear_line(tmp_path, capsys, args, message):
    code, _, err = run_cli(capsys, "train", "--max-steps", "2", "--out", tmp_path / "run", *args)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "run").exists()
