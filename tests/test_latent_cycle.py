"""The latent cycle error: 0 when the encoder inverts the decoder, ~1 on a dimension it cannot."""

import math

import torch
from helpers import tiny_config
from torch import nn

from maskaae_cli.metrics.latent_cycle import latent_cycle_error
from maskaae_cli.model import MaskAAE


def linear_pair(m: int, lost: tuple[int, ...] = ()) -> MaskAAE:
    """A model whose decoder is an invertible linear map and whose encoder is its inverse, except
    that the decoder ignores the dimensions in ``lost`` (as if the data had no use for them)."""
    cfg = tiny_config(".", data={"data_dim": m}, model={"m": m}, optim={"ema_decay": 0.0})
    model = MaskAAE(cfg, (m,), is_image=False)
    torch.manual_seed(0)
    w = torch.randn(m, m) + 3 * torch.eye(m)
    w[:, list(lost)] = 0.0
    model.decoder = nn.Linear(m, m, bias=False)
    model.decoder.weight.data = w.clone()
    model.encoder = nn.Linear(m, m, bias=False)
    model.encoder.weight.data = torch.linalg.pinv(w)
    with torch.no_grad():
        model.mask.beta.fill_(20.0)  # alpha = 1 everywhere
    return model


def test_zero_when_the_encoder_inverts_the_decoder():
    err = latent_cycle_error(linear_pair(5), n=2000)
    assert err.shape == (5,) and torch.all(err < 1e-8)


def test_about_one_on_a_dimension_the_decoder_ignores():
    err = latent_cycle_error(linear_pair(5, lost=(2,)), n=4000)
    assert abs(float(err[2]) - 1.0) < 0.05  # nothing of p_2 survives decoding
    assert torch.all(err[[0, 1, 3, 4]] < 1e-8)


def test_closed_dimensions_are_nan_and_scale_does_not_matter():
    model = linear_pair(4, lost=(1,))
    with torch.no_grad():
        model.mask.beta[3] = 0.0  # alpha 0: closed
        model.mask.beta[1] = 0.5  # alpha ~0.39: open, smaller draws
    err = latent_cycle_error(model, n=4000)
    assert math.isnan(float(err[3])) and abs(float(err[1]) - 1.0) < 0.05


def test_trained_model_runs_on_both_generators(tmp_path):
    model = MaskAAE(tiny_config(tmp_path, optim={"ema_decay": 0.9}), (16,), is_image=False)
    model.update_ema()
    a, b = latent_cycle_error(model, n=300), latent_cycle_error(model, n=300, averaged=True)
    assert a.shape == b.shape == (6,) and torch.isfinite(a).all() and torch.equal(a, b)  # one update: a copy
