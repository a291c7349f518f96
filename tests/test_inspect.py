"""`maskaae inspect`: config, steps, the mask values and the active dimensions."""

from __future__ import annotations

import json

import torch
from cli_support import make_image_checkpoint, run_cli

from maskaae_cli.checkpoint import load_model


def test_inspect_json_reports_the_mask_and_config(trained_run, capsys):
    code, out, err = run_cli(capsys, "inspect", trained_run, "--json")
    assert code == 0, err
    rec = json.loads(out)
    summary = json.loads((trained_run / "summary.json").read_text())
    model = load_model(trained_run)
    alpha = model.mask.alpha.tolist()
    assert rec["steps"] == 20 and rec["m"] == 6 and rec["model"] == "maae"
    assert rec["alpha"] == alpha
    assert rec["active"] == [j for j, a in enumerate(alpha) if a >= 0.1]
    assert rec["active_dims"] == len(rec["active"]) == summary["active_dims"]
    assert rec["config"]["model"]["m"] == 6 and rec["config_non_default"]["data.n_true"] == 2
    assert "optim.lr_critic" not in rec["config_non_default"]


def test_inspect_table_sorted_alphas_and_non_default_fields(trained_run, capsys):
    code, out, err = run_cli(capsys, "inspect", trained_run)
    assert code == 0, err
    alpha = load_model(trained_run).mask.alpha.tolist()
    assert "n_true" in out and "lr_critic" not in out and "steps 20" in out
    assert "active dimensions:" in out and "█" in out
    shown = [float(tok) for line in out.splitlines() for tok in line.split("│")[2:3]
             if line.startswith("│") and tok.strip().replace(".", "").isdigit() and "." in tok]
    assert shown == sorted(shown, reverse=True)
    assert len(shown) == len(alpha)
    code, out, _ = run_cli(capsys, "inspect", trained_run, "--all")
    assert code == 0 and "lr_critic" in out and "n_true" in out


def test_inspect_image_checkpoint_with_all_dims_off(tmp_path, capsys):
    ckpt = make_image_checkpoint(tmp_path / "img.ckpt", m=5)
    raw = torch.load(ckpt, weights_only=True)
    raw["state_dict"]["mask.beta"].zero_()  # alpha = 0 everywhere
    torch.save(raw, ckpt)
    code, out, err = run_cli(capsys, "inspect", ckpt, "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["is_image"] and rec["data_shape"] == [1, 8, 8] and rec["active_dims"] == 0
    assert rec["steps"] == 0 and rec["active"] == []
    code, out, _ = run_cli(capsys, "inspect", ckpt)
    assert code == 0 and "active dimensions: none" in out and "0 of 5" in out
