"""Interrupt and resume: SIGTERM / SIGINT save a checkpoint, --resume continues the schedule,
the optimisers and the run folder; checkpoints are written atomically."""

import copy
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from cli_support import assert_one_line_error, run_cli
from helpers import tiny_config, tiny_recipe
from wandb_records import history, run_info

from maskaae_cli import checkpoint_io
from maskaae_cli.checkpoint_io import atomic_torch_save
from maskaae_cli.errors import TrainingInterrupted
from maskaae_cli.resume import find_resume_point, resume_config
from maskaae_cli.training import train

SCHEDULE = ("mask/reg_weight", "lr/ae", "lr/critic", "lr/gen", "lr/mask")


def rows(run: Path) -> list[dict]:
    return list(csv.DictReader((run / "metrics.csv").open()))


def train_rows(run: Path) -> dict[int, dict]:
    return {int(r["step"]): r for r in rows(run) if r.get("loss/ae")}


class SignalAt(L.Callback):
    """Sends this process ``signum`` during iteration ``iteration`` (1-based)."""

    def __init__(self, iteration: int, signum: int) -> None:
        self.iteration, self.signum = iteration, signum

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        if module.iteration == self.iteration - 1:
            signal.raise_signal(self.signum)


class OptimizerStates(L.Callback):
    """The optimisers' states when training (re)starts."""

    def on_train_start(self, trainer, module) -> None:  # noqa: ANN001
        self.states = [copy.deepcopy(opt.state_dict()) for opt in trainer.optimizers]


@pytest.mark.slow
def test_sigterm_then_resume_continues_the_schedule_and_keeps_the_run_folder(tmp_path, capsys):
    recipe = tiny_recipe(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    opts = ["--max-steps", "150", "--log-every", "5", "--eval-every", "50", "--ckpt-every", "5",
            "--threads", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "maskaae_cli", "train", "--recipe", str(recipe), *opts,
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 240
    while not (out / "checkpoints" / "last.ckpt").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 143, err[-2000:]
    assert f"resume with: maskaae train --resume {out}" in err
    stopped = int(re.search(r"SIGTERM: stopped after iteration (\d+) of 150", err).group(1))
    assert 5 <= stopped < 150
    assert not (out / "model.ckpt").exists() and not (out / "summary.json").exists()
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == stopped * 5  # 2 critic + auto-encoder, encoder and mask steps
    assert len(ckpt["optimizer_states"]) == 4
    before_rows = rows(out)
    before_history = (out / "mask_history.csv").read_text().splitlines()
    assert before_rows and len(before_history) > 2

    code, _, err = run_cli(capsys, "train", "--resume", out, "--no-progress")
    assert code == 0, err
    assert f"resuming {out} at iteration {stopped} of 150" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 150 and summary["resumed_from_iteration"] == stopped

    after_rows = rows(out)
    for old in before_rows:  # nothing logged before the interruption is lost or changed
        assert any(all(new.get(k, "") == v for k, v in old.items()) for new in after_rows), old
    logged = train_rows(out)
    assert sorted(logged) == list(range(4, 150, 5)) and len(logged) == len(
        [r for r in after_rows if r.get("loss/ae")])  # every logging step once
    after_history = (out / "mask_history.csv").read_text().splitlines()
    assert after_history[: len(before_history) - 1] == before_history[:-1]
    assert int(after_history[-1].split(",")[0]) == 150
    record = json.loads((out / "run.json").read_text())
    assert record["resumed"][0]["iteration"] == stopped

    reference = tmp_path / "reference"  # the same run, never interrupted
    train(tiny_config(reference, train={"max_steps": 150, "log_every": 5, "eval_every": 50,
                                        "ckpt_every": 5}))
    expected = train_rows(reference)
    assert sorted(expected) == sorted(logged)
    for step in expected:
        for key in SCHEDULE:
            assert float(logged[step][key]) == float(expected[step][key]), (step, key)
    final = expected[149]
    assert float(final["lr/ae"]) < 5e-4 and float(final["mask/reg_weight"]) > 2 / 6  # it moved


@pytest.mark.slow
def test_sigint_at_a_logging_and_evaluation_step_loses_and_repeats_nothing(tmp_path, monkeypatch):
    sections = {"train": {"max_steps": 20, "log_every": 5, "eval_every": 10, "ckpt_every": 100}}
    out, reference = tmp_path / "run", tmp_path / "reference"
    with pytest.raises(TrainingInterrupted) as stop:
        train(tiny_config(out, **sections), extra_callbacks=[SignalAt(10, signal.SIGINT)])
    assert (stop.value.iteration, stop.value.signal_name, stop.value.exit_code) == (10, "SIGINT", 130)
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)

    loads, real_load = [], torch.load

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    point = find_resume_point(out)
    assert point.iteration == 10 and point.checkpoint == out / "checkpoints" / "last.ckpt"
    states = OptimizerStates()
    train(resume_config(point, {}), resume=point, extra_callbacks=[states])
    assert len(loads) >= 2 and all(w is True for w in loads)  # ours and Lightning's restore
    assert len(states.states) == 4  # every optimiser's running averages came back
    for restored, saved in zip(states.states, ckpt["optimizer_states"], strict=True):
        assert restored["state"].keys() == saved["state"].keys() and saved["state"]
        for i in saved["state"]:
            assert torch.equal(restored["state"][i]["square_avg"], saved["state"][i]["square_avg"])

    train(tiny_config(reference, **sections))
    got, want = rows(out), rows(reference)
    assert [(r["step"], bool(r.get("val/rec"))) for r in got] == [
        (r["step"], bool(r.get("val/rec"))) for r in want]  # 4, 9, 9 (val), 14, 19, 19 (val)
    for g, w in zip(got, want, strict=True):
        assert all(g[k] == w[k] for k in SCHEDULE if w.get(k)), g["step"]
        if int(g["step"]) < 10:  # before the interruption: the very same run
            assert g == w


@pytest.mark.slow
def test_resumed_wandb_run_keeps_its_id(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(tiny_config(out, train={"max_steps": 8, "log_every": 2, "logger": "wandb"}),
              extra_callbacks=[SignalAt(4, signal.SIGTERM)])
    run_id = json.loads((out / "logger.json").read_text())["wandb_id"]
    point = find_resume_point(out)
    train(resume_config(point, {}), resume=point)
    assert json.loads((out / "logger.json").read_text())["wandb_id"] == run_id
    logs = sorted((out / "wandb").glob("offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime)
    assert len(logs) == 2  # W&B offline keeps one folder per process; `wandb sync` joins them
    assert [run_info(log)["id"] for log in logs] == [run_id, run_id]
    legs = [[row["trainer/global_step"] for row in history(log) if "alpha/00" in row] for log in logs]
    assert legs == [[1, 3], [5, 7]]  # the resumed leg carries on from iteration 4


def test_resume_refuses_what_it_cannot_continue(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "nothing")
    assert_one_line_error(code, err, "no such run folder or checkpoint file")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train", "--resume", empty)
    assert_one_line_error(code, err, "no checkpoint there")
    run = tmp_path / "run"
    train(tiny_config(run, optim={"schedule": "budget"}, train={"max_steps": 4, "eval_every": 4}))
    code, _, err = run_cli(capsys, "train", "--resume", run, "--m", "3")
    assert_one_line_error(code, err, "--m cannot change when resuming")
    code, _, err = run_cli(capsys, "train", "--resume", run)
    assert_one_line_error(code, err, "already completed all 4 iterations", "cannot train further",
                          "start a new run")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--max-steps", "8")
    assert_one_line_error(code, err, "--max-steps cannot change", "optim.schedule=budget")


def test_resume_refuses_a_checkpoint_holding_python_objects(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Path("/etc")},
               run / "checkpoints" / "last.ckpt")
    code, _, err = run_cli(capsys, "train", "--resume", run)
    assert_one_line_error(code, err, "refused", "weights_only=True")


def test_resuming_a_finished_run_keeps_its_earlier_final_files(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_config(run, train={"max_steps": 4, "eval_every": 4, "log_every": 2}))
    old_ckpt, old_summary = (run / "model.ckpt").read_bytes(), (run / "summary.json").read_text()
    code, _, err = run_cli(capsys, "train", "--resume", run, "--max-steps", "6", "--no-progress")
    assert code == 0, err
    assert (run / "model.iter4.ckpt").read_bytes() == old_ckpt
    assert (run / "summary.iter4.json").read_text() == old_summary
    assert json.loads((run / "summary.json").read_text())["steps"] == 6


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"w": torch.ones(3)}, target)
    good = target.read_bytes()

    def crash(obj, f):  # noqa: ANN001
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_io.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"w": torch.zeros(3)}, target)
    assert target.read_bytes() == good  # the earlier checkpoint is whole
    assert list(tmp_path.iterdir()) == [target]  # and no temporary file is left behind
    assert torch.equal(torch.load(target, weights_only=True)["w"], torch.ones(3))
