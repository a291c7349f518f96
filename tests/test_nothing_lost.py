"""Nothing lost, ever: --overwrite replaces only run folders and only once the new run trains, one
run per folder, diverging runs stop cleanly, every option is range-checked, memory stays bounded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from cli_support import assert_one_line_error, run_cli
from helpers import TINY, snapshot, tiny_config, tiny_recipe

from maskaae_cli.atomic_io import json_text, write_json
from maskaae_cli.checkpoint import load_model
from maskaae_cli.divergence import TrainingDiverged
from maskaae_cli.run_files import LAST_CHECKPOINT, LOCK
from maskaae_cli.run_lock import RunLock
from maskaae_cli.training import train


@pytest.fixture
def finished_run(tmp_path) -> Path:
    out = tmp_path / "old-run"
    train(tiny_config(out))
    return out


# ------------------------------------------------------------------ --overwrite refuses
def test_overwrite_refuses_the_current_folder(tmp_path, capsys, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "mine.txt").write_text("my notes")
    monkeypatch.chdir(scratch)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", ".", "--overwrite")
    assert_one_line_error(code, err, "--overwrite refused", "current folder")
    assert (scratch / "mine.txt").read_text() == "my notes" and sorted(os.listdir(scratch)) == ["mine.txt"]


def test_overwrite_refuses_a_dataset_folder(tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "faces"
    images.mkdir()
    for i in range(12):
        Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8)).save(images / f"{i}.png")
    before = snapshot(images)
    code, _, err = run_cli(capsys, "train", "--dataset", f"folder:{images}", "--image-size", "8", "--arch",
                           "mlp", "--max-steps", "2", "--no-progress", "--out", images, "--overwrite")
    assert_one_line_error(code, err, "--overwrite refused", "no run.json")
    assert snapshot(images) == before


def test_overwrite_refuses_home_and_foreign_files(tmp_path, capsys, monkeypatch, finished_run):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("x")
    monkeypatch.setenv("HOME", str(home))
    code, _, err = run_cli(capsys, "train", *TINY, "--out", home, "--overwrite")
    assert_one_line_error(code, err, "home folder")
    assert (home / ".bashrc").read_text() == "x"
    # a run folder that also holds a file of the user's is not replaced either
    (finished_run / "my-samples.png").write_bytes(b"precious")
    before = snapshot(finished_run)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", finished_run, "--overwrite")
    assert_one_line_error(code, err, "my-samples.png")
    assert snapshot(finished_run) == before


# ------------------------------------------------------------- replace, don't delete
class _FailAtStart(L.Callback):
    def on_train_start(self, trainer, module):
        raise RuntimeError("boom before the first iteration")


@pytest.mark.slow
def test_a_run_that_fails_before_training_leaves_the_old_run_as_it_was(finished_run):
    before = snapshot(finished_run)
    cfg = tiny_config(finished_run, train={"overwrite": True, "seed": 3})
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg, extra_callbacks=[_FailAtStart()])
    assert snapshot(finished_run) == before
    assert [p.name for p in finished_run.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_overwrite_replaces_a_run_once_the_new_one_trains(finished_run, capsys):
    old = json.loads((finished_run / "run.json").read_text())
    code, _, err = run_cli(capsys, "train", "--recipe", tiny_recipe(finished_run.parent / "tiny.yaml"), *TINY,
                           "--seed", "5", "--out", finished_run, "--overwrite")
    assert code == 0, err
    new = json.loads((finished_run / "run.json").read_text())
    assert old["seed"] == 0 and new["seed"] == 5 and (finished_run / "summary.json").is_file()
    assert not (finished_run / LOCK).exists()
    assert [p.name for p in finished_run.parent.iterdir() if p.name.startswith(".")] == []


def test_an_empty_folder_needs_no_overwrite(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = run_cli(capsys, "train", "--recipe", tiny_recipe(tmp_path / "tiny.yaml"), *TINY, "--out",
                           out)
    assert code == 0, err


# ------------------------------------------------------------------ one run per folder
def _lock_record(folder: Path, pid: int, host: str) -> None:
    (folder / LOCK).write_text(json.dumps({"pid": pid, "host": host, "started": "then"}) + "\n")


@pytest.mark.slow
def test_a_live_lock_refuses_a_second_run_and_resume(finished_run, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_record(finished_run, sleeper.pid, socket.gethostname())
        before = snapshot(finished_run)
        for extra in (["--overwrite"], []):
            args = [*TINY, "--out", finished_run, *extra] if extra else ["--resume", finished_run,
                                                                          "--max-steps", "24"]
            code, _, err = run_cli(capsys, "train", *args)
            assert_one_line_error(code, err, "in use by another maskaae run", str(sleeper.pid))
        assert snapshot(finished_run) == before
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_a_stale_lock_does_not_block(finished_run, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock_record(finished_run, dead.pid, socket.gethostname())  # crashed: the process is gone
    code, _, err = run_cli(capsys, "train", "--resume", finished_run, "--max-steps", "24", "--no-progress")
    assert code == 0, err
    assert not (finished_run / LOCK).exists()


def test_lock_from_another_host_is_stale_only_when_untouched(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    _lock_record(folder, 1, "another-host")
    with pytest.raises(Exception, match="in use"):
        RunLock(folder).acquire()
    old = os.stat(folder / LOCK).st_mtime - 3600
    os.utime(folder / LOCK, (old, old))
    lock = RunLock(folder).acquire()
    assert json.loads((folder / LOCK).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (folder / LOCK).exists()


# ------------------------------------------------------------------------ divergence
@pytest.mark.slow
def test_a_diverging_run_stops_with_one_line_and_no_summary(tmp_path, capsys):
    out = tmp_path / "blowup"
    code, _, err = run_cli(capsys, "train", "--recipe", tiny_recipe(tmp_path / "tiny.yaml"), *TINY, "--out",
                           out)
    assert code == 0, err  # the same recipe trains with sane rates
    recipe = tiny_recipe(tmp_path / "tiny.yaml", mask={"lr": 1e6},
                         optim={"lr_ae": 1e6, "lr_critic": 1e6, "lr_gen": 1e6})
    out = tmp_path / "blowup2"
    code, _, err = run_cli(capsys, "train", "--recipe", recipe, *TINY, "--out", out)
    lines = [line for line in err.splitlines()  # the run's own lines before it started to train aside
             if line.strip() and not line.startswith(("INFO:", "recipe ", "preset ", "threads "))]
    assert code == 3 and len(lines) == 1 and "Traceback" not in err, err
    assert "training diverged" in lines[0] and "at iteration" in lines[0] and "not finite" in lines[0]
    assert not (out / "summary.json").exists() and not (out / "model.ckpt").exists()
    assert not (out / LOCK).exists()


class _Poison(L.Callback):
    """Turns the decoder's first weight into NaN after iteration ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if module.iteration == self.at:
            with torch.no_grad():
                next(module.decoder.parameters()).view(-1)[0] = float("nan")


def test_the_last_finite_checkpoint_is_kept_and_non_finite_ones_are_refused(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = tiny_config(out, train={"max_steps": 30, "ckpt_every": 10, "log_every": 4, "eval_every": 100})
    with pytest.raises(TrainingDiverged) as caught:
        train(cfg, extra_callbacks=[_Poison(13)])
    assert caught.value.iteration == 16 and caught.value.what == "the loss term loss/rec"  # next logging step
    assert caught.value.last_finite == 12
    last = torch.load(out / LAST_CHECKPOINT, weights_only=True)
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    assert last["global_step"] // 5 == 10 and not (out / "summary.json").exists()
    # a checkpoint holding NaN weights is refused by every command that reads one
    bad = tmp_path / "nan.ckpt"
    last["state_dict"]["decoder.net.0.weight"][0, 0] = float("nan")
    torch.save(last, bad)
    for command in (["sample", bad, "-n", "4", "--out", tmp_path / "s.npz"], ["fid", bad, "-n", "10"],
                    ["inspect", bad]):
        code, _, err = run_cli(capsys, *command)
        assert_one_line_error(code, err, "non-finite weights")
    assert not (tmp_path / "s.npz").exists()


def test_json_is_strict(tmp_path):
    write_json(tmp_path / "x.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=pytest.fail) == \
        {"a": None, "b": [None, 1.5]}
    assert "NaN" not in json_text({"x": float("-inf")})


# ---------------------------------------------------------------------- range checks
@pytest.mark.parametrize(("extra", "needle"), [
    (["--eval-every", "0"], "--eval-every 0 is out of range"),
    (["--log-every", "0"], "--log-every 0 is out of range"),
    (["--ckpt-every", "-5"], "--ckpt-every -5 is out of range"),
    (["--threads", "-1"], "--threads -1 is out of range"),
    (["--num-workers", "-1"], "--num-workers -1 is out of range"),
    (["--image-size", "-8"], "--image-size -8 is out of range"),
    (["--image-size", "0"], "--image-size 0 is out of range"),
    (["--data-dim", "0"], "--data-dim 0 is out of range"),
    (["--seed", "-3"], "--seed -3 is out of range"),
    (["--eval-samples", "1"], "--eval-samples 1 is out of range"),
    (["--ema-decay", "1.5"], "--ema-decay 1.5 is out of range"),
])
def test_every_numeric_option_is_range_checked_before_anything_is_written(tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY, *extra, "--out", out)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize(("text", "needle"), [
    ("optim:\n  - lr_ae\n", "section 'optim' must be a mapping"),
    ("train:\n  max_steps: inf\n", "train.max_steps must be a whole number"),
    ("optim:\n  lr_ae: .nan\n", "optim.lr_ae must be a finite number"),
    ("optim:\n  gp_weight: -1\n", "optim.gp_weight -1.0 is out of range"),
    ("mask:\n  active_threshold: 1.5\n", "mask.active_threshold 1.5 is out of range"),
    ("model:\n  active_threshold: 1.5\n", "mask.active_threshold 1.5 is out of range"),  # the old name
    (b"optim:\n  lr_ae: 1e-4 \xff\xfe\n", "not UTF-8"),
])
def test_bad_recipes_are_one_line(tmp_path, capsys, text, needle):
    recipe = tmp_path / "bad.yaml"
    if isinstance(text, bytes):
        recipe.write_bytes(text)
    else:
        recipe.write_text(text)
    code, _, err = run_cli(capsys, "train", "--recipe", recipe, "--out", tmp_path / "run")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------- bounded memory
def test_sample_streams_npz_and_csv_and_refuses_what_cannot_fit(trained_run, tmp_path, capsys):
    from maskaae_cli.sampling import generate

    for name in ("big.npz", "big.csv"):
        code, _, err = run_cli(capsys, "sample", trained_run, "-n", "2500", "--batch-size", "700",
                               "--out", tmp_path / name, "--no-progress")
        assert code == 0, err
    expected = generate(load_model(trained_run), 2500, seed=0).numpy()
    with np.load(tmp_path / "big.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["samples"], expected)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "big.csv", delimiter=",", skiprows=1), expected,
                               rtol=1e-5, atol=1e-6)
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "1000000000000", "--out", tmp_path / "x.npz")
    assert_one_line_error(code, err, "-n 1000000000000", "free")
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "100000000000", "--out", tmp_path / "x.pt")
    assert_one_line_error(code, err, "built in memory")
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "x.pt").exists()


def test_sweep_refuses_a_grid_too_large(tmp_path, capsys):
    code, _, err = run_cli(capsys, "sweep-m", "--m", "1:1000000000", "--dry-run", "--out", tmp_path / "s")
    assert_one_line_error(code, err, "more than 1000 values")
    code, _, err = run_cli(capsys, "sweep-m", "--m", "1:600", "--seeds", "0,1", "--dry-run",
                           "--out", tmp_path / "s")
    assert_one_line_error(code, err, "2400 runs")


# ----------------------------------------------------------------- unwritable outputs
def test_out_under_a_file_is_one_line(tmp_path, capsys, trained_run):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", blocker / "run")
    assert_one_line_error(code, err, "is a file")
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "3", "--out", blocker / "s.npz")
    assert_one_line_error(code, err, "is a file")
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_without_permission_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", locked / "run")
    assert_one_line_error(code, err, "no permission")


# --------------------------------------------------------------------------- W&B
def test_wandb_without_credentials_is_one_line_before_the_folder(tmp_path, capsys, monkeypatch):
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run_cli(capsys, "train", *TINY, "--logger", "wandb", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "no W&B credentials", "WANDB_MODE=offline")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------- truthful records
def test_16_mixed_on_a_cpu_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", *TINY, "--accelerator", "cpu", "--precision", "16-mixed",
                           "--out", tmp_path / "run")
    assert_one_line_error(code, err, "--precision 16-mixed", "bf16-mixed")
    assert not (tmp_path / "run").exists()


def test_checkpoints_get_the_run_folders_file_mode(trained_run):
    files = ("model.ckpt", LAST_CHECKPOINT, "summary.json", "run.json", "metrics.csv")
    modes = {name: (trained_run / name).stat().st_mode & 0o777 for name in files}
    assert len(set(modes.values())) == 1, modes
