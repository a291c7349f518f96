import math

import torch

from maskaae_cli.mask import LatentMask


def test_alpha_is_one_minus_exp_of_minus_beta():
    mask = LatentMask(5)
    with torch.no_grad():
        mask.beta.copy_(torch.tensor([0.0, 0.1, 1.0, 2.0, 5.0]))
    expected = [1 - math.exp(-b) for b in (0.0, 0.1, 1.0, 2.0, 5.0)]
    assert torch.allclose(mask.alpha, torch.tensor(expected), atol=1e-7)


def test_beta_initialised_uniform_on_zero_to_max():
    torch.manual_seed(0)
    beta = LatentMask(20_000, beta_init_max=5.0).beta.detach()
    assert beta.min() >= 0 and beta.max() <= 5.0
    assert abs(beta.mean().item() - 2.5) < 0.05
    assert abs(beta.var().item() - 25 / 12) < 0.1


def test_clamp_projects_beta_to_nonnegative():
    mask = LatentMask(4)
    with torch.no_grad():
        mask.beta.copy_(torch.tensor([-1.0, -0.01, 0.0, 3.0]))
    mask.clamp_()
    assert mask.beta.tolist() == [0.0, 0.0, 0.0, 3.0]
    assert (mask.alpha >= 0).all() and (mask.alpha < 1).all()


def test_active_dims_counts_alpha_at_or_above_threshold():
    mask = LatentMask(4)
    threshold_beta = -math.log(1 - 0.1)  # alpha exactly 0.1
    with torch.no_grad():
        mask.beta.copy_(torch.tensor([0.0, threshold_beta * 0.99, threshold_beta * 1.001, 4.0]))
    assert mask.active_dims() == 2
    assert mask.active_mask().tolist() == [False, False, True, True]


def test_forward_is_hadamard_product():
    mask = LatentMask(3)
    z = torch.randn(7, 3)
    assert torch.allclose(mask(z), z * mask.alpha)


def test_disabled_mask_is_identity_without_parameters():
    mask = LatentMask(6, enabled=False)
    z = torch.randn(2, 6)
    assert torch.equal(mask(z), z)
    assert mask.active_dims() == 6
    assert list(mask.parameters()) == []


def test_beta_init_min_shifts_the_uniform_range():
    torch.manual_seed(0)
    beta = LatentMask(20_000, beta_init_max=5.0, beta_init_min=2.3).beta.detach()
    assert beta.min() >= 2.3 and beta.max() <= 5.0
    assert abs(beta.mean().item() - 3.65) < 0.05
    assert (LatentMask(100, beta_init_min=2.3).alpha > 0.89).all()
