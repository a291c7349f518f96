"""Bad checkpoints (foreign, corrupt, truncated, code-carrying) give one clear error line."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_support import assert_one_line_error, run_cli
from helpers import Payload

from maskaae_cli.checkpoint import load_model
from maskaae_cli.errors import UserError


def write_bad(kind: str, folder: Path, trained_run: Path) -> Path:
    path = folder / f"{kind}.ckpt"
    marker = folder / "code-was-run"
    if kind == "pickle-of-custom-class":
        path.write_bytes(pickle.dumps(Payload(marker)))
    elif kind == "torch-save-of-custom-class":
        torch.save({"state_dict": {}, "hyper_parameters": Payload(marker)}, path)
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good = (trained_run / "model.ckpt").read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif kind == "plain-dict":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "list":
        torch.save([torch.zeros(3)], path)
    elif kind == "mismatched":
        ckpt = torch.load(trained_run / "model.ckpt", weights_only=True)
        ckpt["hyper_parameters"]["config"]["model"]["m"] = 9
        torch.save(ckpt, path)
    return path


CASES = {
    "pickle-of-custom-class": "refused",
    "torch-save-of-custom-class": "refused",
    "text": "not a readable maskaae checkpoint",
    "empty": "not a readable maskaae checkpoint",
    "truncated": "not a readable maskaae checkpoint",
    "plain-dict": "no state_dict",
    "list": "no state_dict",
    "mismatched": "does not match this version",
}


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("command", ["inspect", "sample", "fid"])
def test_bad_checkpoint_is_one_line(kind, command, tmp_path, trained_run, capsys):
    path = write_bad(kind, tmp_path, trained_run)
    code, _, err = run_cli(capsys, command, path, "--device", "cpu") if command != "inspect" \
        else run_cli(capsys, command, path)
    assert_one_line_error(code, err, path.name, CASES[kind])
    assert not (tmp_path / "code-was-run").exists()
    assert not (tmp_path / "samples.npz").exists()


@pytest.mark.parametrize("kind", list(CASES))
def test_load_model_raises_user_error(kind, tmp_path, trained_run):
    with pytest.raises(UserError, match=CASES[kind]):
        load_model(write_bad(kind, tmp_path, trained_run))
    assert not (tmp_path / "code-was-run").exists()


def test_missing_path_and_empty_run_folder(tmp_path, capsys):
    code, _, err = run_cli(capsys, "inspect", tmp_path / "nope.ckpt")
    assert_one_line_error(code, err, "nope.ckpt", "not found")
    code, _, err = run_cli(capsys, "inspect", tmp_path)
    assert_one_line_error(code, err, "no checkpoint in run folder", "model.ckpt")


def test_good_checkpoint_via_folder_or_file(trained_run):
    a, b = load_model(trained_run), load_model(trained_run / "model.ckpt")
    assert torch.equal(a.mask.alpha, b.mask.alpha) and a.step_count == b.step_count == 20


@pytest.mark.slow
def test_console_script_prints_one_line(tmp_path, trained_run):
    """The installed entry point, end to end in a fresh process."""
    path = write_bad("torch-save-of-custom-class", tmp_path, trained_run)
    proc = subprocess.run([sys.executable, "-m", "maskaae_cli", "inspect", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert_one_line_error(proc.returncode, proc.stderr, "refused", "weights_only=True")
    assert not (tmp_path / "code-was-run").exists()
