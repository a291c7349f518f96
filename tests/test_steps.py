"""Each of the four optimiser steps moves only the parameters it owns."""

import dataclasses

import pytest
import torch
from helpers import tiny_config

from maskaae_cli.checkpoint import load_model
from maskaae_cli.config import MASK_ONLY_FIELDS
from maskaae_cli.errors import UserError
from maskaae_cli.iteration import DRAWN, Context, Stepper, set_rates
from maskaae_cli.model import MaskAAE
from maskaae_cli.training import train


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(model, before):
    return {name.split(".")[0] for name, p in model.named_parameters() if not torch.equal(p, before[name])}


def eager(opts):
    """The eager step's context outside a Trainer: plain optimiser steps, noise drawn where it is used."""
    return Context(opts, Stepper(), DRAWN)


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path / "run")
    model = MaskAAE(cfg, (16,), is_image=False)
    opts = model.configure_optimizers()
    x = torch.randn(16, 16)
    return model, opts, x


def test_autoencoder_step_moves_encoder_and_decoder_only(setup):
    model, opts, x = setup
    it = model.train_iteration
    before = snapshot(model)
    it.autoencoder_update(eager(opts), x, it.values_at(0))
    assert changed(model, before) == {"encoder", "decoder"}


def test_critic_step_leaves_encoder_decoder_and_mask_untouched(setup):
    model, opts, x = setup
    before = snapshot(model)
    model.train_iteration.critic_updates(eager(opts), [x])
    assert changed(model, before) == {"critic"}


def test_generator_step_moves_encoder_only(setup):
    model, opts, x = setup
    before = snapshot(model)
    model.train_iteration.generator_update(eager(opts), x)
    assert changed(model, before) == {"encoder"}


def test_mask_step_moves_beta_only_and_keeps_it_nonnegative(setup):
    model, opts, x = setup
    it = model.train_iteration
    with torch.no_grad():
        model.mask.beta[0] = 1e-5  # a step would push it below zero without the clamp
    before = snapshot(model)
    it.mask_update(eager(opts), x, it.values_at(0))
    assert changed(model, before) == {"mask"}
    assert (model.mask.beta >= 0).all()


def test_mask_step_with_the_cycle_term_still_moves_beta_only(tmp_path):
    torch.manual_seed(0)
    betas = []
    for weight in (0.0, 5.0):
        torch.manual_seed(0)
        cfg = tiny_config(tmp_path / "run", mask={"cycle_weight": weight})
        model = MaskAAE(cfg, (16,), is_image=False)
        opts, it = model.configure_optimizers(), model.train_iteration
        before = snapshot(model)
        out = it.mask_update(eager(opts), torch.randn(16, 16), it.values_at(0))
        assert changed(model, before) == {"mask"}
        assert ("loss/cycle" in out) == (weight > 0)
        betas.append(model.mask.beta.detach().clone())
    assert not torch.equal(*betas)  # the term takes part in the step


def test_steps_leave_every_parameter_trainable_afterwards(setup):
    model, opts, x = setup
    it = model.train_iteration
    it.autoencoder_update(eager(opts), x, it.values_at(0))
    it.final_updates(eager(opts), x, it.values_at(0))
    trained = [p for name, p in model.named_parameters() if not name.startswith("ema.")]
    assert trained and all(p.requires_grad for p in trained)
    assert not any(p.requires_grad for p in model.ema.parameters())  # the average is not trained


def test_wae_has_no_mask_optimiser_and_alpha_one(tmp_path):
    cfg = tiny_config(tmp_path / "run", model={"model": "wae"})
    model = MaskAAE(cfg, (16,), is_image=False)
    assert len(model.configure_optimizers()) == 3
    assert torch.equal(model.mask.alpha, torch.ones(6))
    assert model.opt_steps_per_iter == cfg.optim.n_critic + 2


def test_lr_drop_applies_to_autoencoder_and_mask_only(setup):
    model, opts, _ = setup
    it = model.train_iteration
    it.schedule = dataclasses.replace(it.schedule, mask_lr_drop_step=None)
    set_rates(opts, it.values_at(it.schedule.lr_drop_step).rates)
    o = model.cfg.optim
    f = 1 / o.lr_drop_factor
    assert [g.param_groups[0]["lr"] for g in opts] == pytest.approx(
        [o.lr_ae * f, o.lr_critic, o.lr_gen, model.cfg.mask.lr * f])


def test_mask_rate_can_drop_after_the_autoencoders(setup):
    model, opts, _ = setup
    it = model.train_iteration
    drop = it.schedule.lr_drop_step
    it.schedule = dataclasses.replace(it.schedule, mask_start=0, mask_lr_drop_step=drop + 100)
    o = model.cfg.optim
    f = 1 / o.lr_drop_factor
    set_rates(opts, it.values_at(drop).rates)
    rates = [opts[0].param_groups[0]["lr"], opts[3].param_groups[0]["lr"]]
    assert rates == pytest.approx([o.lr_ae * f, model.cfg.mask.lr])
    set_rates(opts, it.values_at(drop + 100).rates)
    assert opts[3].param_groups[0]["lr"] == pytest.approx(model.cfg.mask.lr * f)


def test_mask_warmup_freezes_beta_then_releases_it(setup):
    model, opts, _ = setup
    it = model.train_iteration
    it.schedule = dataclasses.replace(it.schedule, mask_start=100)
    set_rates(opts, it.values_at(99).rates)
    assert opts[3].param_groups[0]["lr"] == 0.0 and opts[0].param_groups[0]["lr"] > 0
    set_rates(opts, it.values_at(100).rates)
    expected = model.cfg.mask.lr * it.schedule.lr_factor(100)
    assert opts[3].param_groups[0]["lr"] == pytest.approx(expected)
    assert opts[3].param_groups[0]["lr"] > 0


def test_bad_cycle_settings_are_refused(tmp_path):
    for mask in ({"cycle_weight": -1.0}, {"cycle_end_fraction": 1.5}, {"cycle_c_ratio": -1.0}):
        with pytest.raises(UserError, match="mask.cycle"):
            tiny_config(tmp_path, mask=mask).validate()


def test_cycle_weight_follows_c_when_asked(tmp_path):
    """With mask.cycle_c_ratio k the cycle term is weighted max(mask.cycle_weight, k c(step)): the
    fixed weight before c ramps, k c once that is larger, and nothing after the term ends."""
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path / "run", mask={"cycle_weight": 0.5, "cycle_c_ratio": 2.0})
    model = MaskAAE(cfg, (16,), is_image=False)
    it = model.train_iteration
    it.schedule = dataclasses.replace(it.schedule, c_init=0.1, ramp_start=10, double_every=1, c_max=64.0,
                                      cycle_end=30)
    x = torch.randn(16, 16)
    for step, weight in ((5, 0.5), (11, 0.5), (13, 2.0 * 0.8), (25, 2.0 * 64.0)):
        torch.manual_seed(1)
        terms, raw = it.mask_loss_terms(x, it.values_at(step))
        assert terms["cycle"].item() == pytest.approx(weight * raw["cycle"].item(), rel=1e-6), step
    assert "cycle" not in it.mask_loss_terms(x, it.values_at(30))[0]


@pytest.mark.slow
def test_wae_trains_the_same_whatever_the_mask_settings(tmp_path):
    """WAE has no mask, so no field of MASK_ONLY_FIELDS (every one changed here, under the budget
    schedule) touches its training: a WAE baseline stays valid when only they change, and a sweep
    folder lets WAE runs join whatever they are."""
    one = {"mask": {"beta_init_min": 2.3, "beta_init_max": 5.0, "active_threshold": 0.1, "lr": 5e-3,
                    "var_weight": 100.0, "var_sharpness": 10.0, "rec_weight": 450.0, "cycle_weight": 0.5,
                    "cycle_end_fraction": 0.45, "cycle_c_ratio": 0.0, "c_init": None, "c_max": 2048.0,
                    "watershed": 0.5, "c_double_periods": 4.0, "start": 5, "ramp_start_fraction": 0.45,
                    "ramp_end_fraction": 0.7, "lr_drop_fraction": 0.45, "freeze_fraction": None}}
    other = {"mask": {"beta_init_min": 0.0, "beta_init_max": 4.0, "active_threshold": 0.5, "lr": 1e-3,
                      "var_weight": 1.0, "var_sharpness": 3.0, "rec_weight": 150.0, "cycle_weight": 0.0,
                      "cycle_end_fraction": 0.3, "cycle_c_ratio": 2.0, "c_init": 0.5, "c_max": 100.0,
                      "watershed": 0.2, "c_double_periods": 2.0, "start": 0, "ramp_start_fraction": 0.3,
                      "ramp_end_fraction": 0.8, "lr_drop_fraction": None, "freeze_fraction": 0.5}}
    assert {k: tuple(v) for k, v in one.items()} == MASK_ONLY_FIELDS
    assert all(one[s][k] != other[s][k] for s in one for k in one[s])
    wae = {"model": "wae"}
    budget = {"schedule": "budget", "lr_drop_fraction": 0.3}
    a = train(tiny_config(tmp_path / "one", model=wae, optim=budget, mask=one["mask"]))
    b = train(tiny_config(tmp_path / "other", model=wae, optim=budget, mask=other["mask"]))
    for (name, p), q in zip(load_model(tmp_path / "one").named_parameters(),
                            load_model(tmp_path / "other").parameters(), strict=True):
        assert torch.equal(p, q), name
    assert a["frechet_distance"] == b["frechet_distance"]
    header = (tmp_path / "one" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "loss/rec" in header and not [k for k in header if k.startswith("mask/") or k == "loss/mask"]
