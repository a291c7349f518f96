"""The mask loss's reconstruction weight held by a constraint (maskaae_cli/rec_constraint.py)."""

import math

import pytest
import torch
from conftest import tiny_config

from maskaae_cli.config import Config
from maskaae_cli.errors import UserError
from maskaae_cli.model import MaskAAE
from maskaae_cli.rec_constraint import RecWeightControl


def test_weight_grows_geometrically_while_reconstruction_is_above_tolerance():
    ctl = RecWeightControl(100.0, tolerance=0.1, rate=0.05, ema=0.0)  # ema 0: no smoothing
    ctl.update(torch.tensor(1.0))  # best = 1, excess = -0.1
    assert ctl.weight.item() == pytest.approx(100.0 * math.exp(-0.005))
    w = ctl.weight.item()
    ctl.update(torch.tensor(2.0))  # 100% above best: excess 0.9
    assert ctl.weight.item() == pytest.approx(w * math.exp(0.05 * 0.9))
    assert ctl.rec_best.item() == 1.0 and ctl.rec_ema.item() == 2.0


def test_weight_is_clipped_and_frozen_without_adapt():
    ctl = RecWeightControl(10.0, tolerance=0.0, rate=10.0, ema=0.0, min_weight=1.0, max_weight=50.0)
    ctl.update(torch.tensor(1.0))
    ctl.update(torch.tensor(3.0))
    assert ctl.weight.item() == 50.0
    ctl.update(torch.tensor(0.5), adapt=False)  # tracks the error, leaves the weight
    assert ctl.weight.item() == 50.0 and ctl.rec_best.item() == 0.5
    for _ in range(5):
        ctl.update(torch.tensor(0.5))
    assert ctl.weight.item() == 50.0  # excess 0 with tolerance 0: no change
    ctl.tolerance = 1.0
    for _ in range(5):
        ctl.update(torch.tensor(0.5))
    assert ctl.weight.item() == 1.0


def test_ema_smooths_the_watched_error():
    ctl = RecWeightControl(1.0, ema=0.9)
    ctl.update(torch.tensor(1.0))
    ctl.update(torch.tensor(2.0))
    assert ctl.rec_ema.item() == pytest.approx(1.1)


def test_constraint_mode_uses_and_checkpoints_the_adaptive_weight(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    cfg.optim.mask_rec_control, cfg.optim.mask_rec_weight, cfg.optim.mask_start = "constraint", 7.0, 0
    torch.manual_seed(0)
    model = MaskAAE(cfg.to_dict(), (16,), is_image=False)
    assert model.rec_control is not None and model.rec_control.weight.item() == 7.0
    opt = model.configure_optimizers()[3]
    x = torch.randn(16, 16)
    model.mask_step(opt, x, step=0)
    assert model.rec_control.weight.item() != 7.0  # adapted after the first step
    state = model.state_dict()
    assert {"rec_control.weight", "rec_control.rec_ema", "rec_control.rec_best"} <= set(state)
    again = MaskAAE(cfg.to_dict(), (16,), is_image=False)
    again.load_state_dict(state)
    assert again.rec_control.weight.item() == model.rec_control.weight.item()


def test_fixed_mode_and_wae_have_no_controller(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    cfg.optim.mask_rec_control = "fixed"
    assert MaskAAE(cfg.to_dict(), (16,), is_image=False).rec_control is None
    cfg.optim.mask_rec_control, cfg.model.model = "constraint", "wae"
    assert MaskAAE(cfg.to_dict(), (16,), is_image=False).rec_control is None


def test_unknown_control_mode_is_a_user_error():
    cfg = Config()
    cfg.optim.mask_rec_control = "pid"
    with pytest.raises(UserError, match="mask_rec_control"):
        cfg.validate()


def test_weight_floor_comes_from_the_config(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    cfg.optim.mask_rec_control, cfg.optim.mask_rec_weight_min = "constraint", 50.0
    model = MaskAAE(cfg.to_dict(), (16,), is_image=False)
    model.rec_control.tolerance = 10.0  # always slack: the weight decays towards its floor
    for _ in range(2000):
        model.rec_control.update(torch.tensor(1.0))
    assert model.rec_control.weight.item() == 50.0
