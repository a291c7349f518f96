"""End to end: `maskaae train` writes a complete, reproducible run folder."""

import csv
import json
import subprocess
import sys

import pytest
import torch
import yaml
from cli_support import run_cli
from helpers import tiny_config, tiny_recipe

from maskaae_cli.checkpoint import load_model
from maskaae_cli.training import train

TINY = ["--n-true", "2", "--data-dim", "16", "--m", "6", "--max-steps", "12", "--eval-every", "6",
        "--log-every", "3", "--threads", "1", "--no-progress"]


@pytest.mark.slow
def test_cli_run_writes_everything(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "maskaae_cli", "train", "--recipe", tiny_recipe(tmp_path / "r.yaml"),
         *TINY, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("model.ckpt", "config.yaml", "run.json", "metrics.csv", "mask_trajectory.png",
                 "mask_history.csv", "summary.json", "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "maae" and summary["m"] == 6 and summary["steps"] == 12
    assert isinstance(summary["active_dims"], int) and len(summary["alpha"]) == 6
    assert summary["active_dims"] == sum(a >= 0.1 for a in summary["alpha"])
    assert summary["frechet_distance"] > 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["m"] == 6 and config["data"]["data_dim"] == 16  # CLI over recipe
    assert config["model"]["hidden"] == 16  # from the recipe
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 0 and record["versions"]["torch"] == torch.__version__
    assert "commit" in record["git"]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert any(r.get("active_dims") for r in rows) and any(r.get("val/frechet") for r in rows)
    trained = [r for r in rows if r.get("loss/ae")]
    assert trained and all(r["alpha/00"] and r["lr/mask"] for r in trained)  # one row per logging step
    assert not [r for r in rows if r.get("alpha/00") and not r.get("loss/ae")]
    assert (out / "mask_trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "active_dims" in result.stdout


def test_checkpoint_reloads_to_identical_outputs(trained_run):
    a, b = load_model(trained_run), load_model(trained_run / "checkpoints" / "last.ckpt")
    x = torch.randn(10, 16)
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(a.sample(20, g1), b.sample(20, g2))
    summary = json.loads((trained_run / "summary.json").read_text())
    assert a.mask.alpha.tolist() == torch.tensor(summary["alpha"]).tolist() or torch.allclose(
        a.mask.alpha, torch.tensor(summary["alpha"]), atol=1e-6)
    assert a.step_count == summary["steps"] == 20


@pytest.mark.slow
def test_same_seed_same_result_other_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        train(tiny_config(tmp_path / name, train={"seed": seed}))
        runs[name] = load_model(tmp_path / name).state_dict()
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not torch.equal(runs["a"]["mask.beta"], runs["c"]["mask.beta"])


def test_existing_run_folder_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", str(out))
    assert code == 2
    assert "already exists" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_overwrite_replaces_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path / "r.yaml")
    code, _, err = run_cli(capsys, "train", "--recipe", recipe, *TINY, "--out", out)
    assert code == 0, err
    old = (out / "model.ckpt").read_bytes()
    code, _, err = run_cli(capsys, "train", "--recipe", recipe, *TINY, "--seed", "4", "--out", out,
                           "--overwrite")
    assert code == 0, err
    assert (out / "model.ckpt").read_bytes() != old
    assert json.loads((out / "run.json").read_text())["seed"] == 4


@pytest.mark.slow
def test_bad_options_give_one_clear_line(tmp_path):
    cases = [(["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
             (["--model", "vae"], "unknown --model 'vae'"),
             (["--m", "0"], "--m 0 is out of range: use a whole number of at least 1"),
             (["--recipe", str(tmp_path / "nope.yaml")], "not found")]
    for extra, message in cases:
        result = subprocess.run([sys.executable, "-m", "maskaae_cli", "train", *extra, "--out",
                                 str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, extra
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_bad_recipe_field_names_the_field(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("mask:\n  lr: fast\n")
    code, _, err = run_cli(capsys, "train", "--recipe", recipe, "--out", tmp_path / "x")
    assert code == 2 and "mask.lr must be a number, got 'fast'" in err


def test_usage_errors_are_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--m", "many")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Invalid value for '--m'" in err
