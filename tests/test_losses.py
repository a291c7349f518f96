import math

import pytest
import torch
from torch import nn

from maskaae_cli import losses


class Linear(nn.Module):
    """H(z) = w.z: its gradient norm is ||w|| everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, z):
        return z @ self.w


@pytest.mark.parametrize("norm", [0.0, 0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_critic_with_known_gradient_norm(norm):
    w = torch.randn(8)
    critic = Linear(w / w.norm() * norm)
    gp = losses.gradient_penalty(critic, torch.randn(32, 8), torch.randn(32, 8))
    assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-6)


def test_gradient_penalty_is_differentiable_in_the_critic():
    critic = Linear(torch.full((4,), 2.0))
    gp = losses.gradient_penalty(critic, torch.randn(16, 4), torch.randn(16, 4))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    expected = 2 * (4.0 - 1) * torch.full((4,), 2.0) / 4.0
    assert torch.allclose(critic.w.grad, expected, atol=1e-5)


def test_variance_penalty_weights_each_dimension_by_exp_minus_sharpness_alpha_squared():
    z = torch.tensor([[1.0, 2.0, 0.0], [3.0, 6.0, 0.0]])  # per-dim batch variance (pop.): 1, 4, 0
    alpha = torch.tensor([0.0, 0.5, 1.0])
    pen = losses.variance_penalty(z, alpha, sharpness=10.0)
    expected = (1.0 * 1 + 4.0 * math.exp(-2.5) + 0.0) / 3
    assert pen.item() == pytest.approx(expected, rel=1e-6)


def test_variance_penalty_ignores_fully_open_dimensions_and_constant_codes():
    alpha = torch.tensor([1.0, 1.0])
    assert losses.variance_penalty(torch.randn(50, 2), alpha).item() < 1e-3
    const = torch.ones(50, 2) * torch.tensor([3.0, -1.0])
    assert losses.variance_penalty(const, torch.zeros(2)).item() == 0.0


def test_polarisation_is_zero_only_at_binary_alpha():
    assert losses.polarisation(torch.tensor([0.0, 1.0, 1.0, 0.0])).item() == 0.0
    assert losses.polarisation(torch.tensor([0.5, 0.5])).item() == pytest.approx(0.5)


def test_mask_loss_combines_its_three_terms():
    rec = torch.tensor(0.02)
    h_enc, h_prior = torch.tensor([0.5, 1.5]), torch.tensor([2.0, 2.0])
    alpha = torch.tensor([0.5, 1.0])
    loss = sum(losses.mask_loss_terms(rec, h_enc, h_prior, alpha, reg_weight=4.0, rec_weight=1000.0).values())
    assert loss.item() == pytest.approx(1000 * 0.02 + (1 - (1.0 - 2.0)) ** 2 + 4.0 * 0.25)


def test_critic_loss_does_not_reach_the_encoder_side():
    z_enc = torch.randn(8, 3, requires_grad=True)
    critic = Linear(torch.randn(3))
    losses.critic_loss(critic, z_enc, torch.randn(8, 3)).backward()
    assert z_enc.grad is None and critic.w.grad is not None


def test_reconstruction_loss_kinds():
    x = torch.rand(4, 5)
    assert losses.reconstruction_loss(x, x, "mse").item() == 0.0
    bce = losses.reconstruction_loss(x, torch.full_like(x, 0.5), "bce")
    assert bce.item() == pytest.approx(math.log(2), rel=1e-5)
    with pytest.raises(ValueError):
        losses.reconstruction_loss(x, x, "l1")


def test_latent_cycle_is_zero_for_an_inverse_pair_and_pushes_an_ignored_dimension_shut():
    torch.manual_seed(0)
    w = torch.randn(4, 4) + 3 * torch.eye(4)
    w_lost = w.clone()
    w_lost[:, 2] = 0.0  # the decoder ignores latent 2
    p = torch.randn(3000, 4)
    alpha = torch.full((4,), 0.9, requires_grad=True)
    a = alpha.detach()  # an encoder whose masked code alpha * E(x) inverts the decoder: E = W^-1 / alpha
    exact = losses.latent_cycle(lambda x: x @ torch.linalg.inv(w).T / a, lambda z: z @ w.T, p, alpha)
    assert float(exact) < 1e-8
    lost = losses.latent_cycle(lambda x: x @ torch.linalg.pinv(w_lost).T / a, lambda z: z @ w_lost.T, p,
                               alpha)
    # nothing of alpha_2 p_2 comes back: the term is mean((alpha_2 p_2)^2), its gradient 2 alpha_2 E[p_2^2]
    assert abs(float(lost) - 0.81 * float(p[:, 2].pow(2).mean())) < 1e-4
    (grad,) = torch.autograd.grad(lost, alpha)
    assert abs(float(grad[2]) - 1.8 * float(p[:, 2].pow(2).mean())) < 1e-3
    assert torch.all(grad[[0, 1, 3]].abs() < 1e-4)  # a mask step shuts only the ignored dimension


def test_polarisation_watershed_splits_the_alphas_where_asked():
    """At the default 0.5 it is the paper's term exactly; at 0.1 descent pushes 0.2 up and 0.05 down,
    where the paper's term would push 0.2 down too. Zero at binary alphas either way."""
    a = torch.tensor([0.0, 0.05, 0.2, 0.3, 0.7, 1.0])
    assert torch.equal(losses.polarisation(a, 0.5), (a * (1 - a)).abs().sum())
    assert losses.polarisation(torch.tensor([0.0, 1.0]), 0.1).item() == 0.0
    for watershed, up, down in ((0.5, [], [0.05, 0.2, 0.3]), (0.1, [0.2, 0.3], [0.05])):
        for value in up + down:
            alpha = torch.tensor([value], requires_grad=True)
            losses.polarisation(alpha, watershed).backward()
            assert (alpha.grad.item() < 0) == (value in up), (watershed, value)
    assert losses.polarisation(torch.tensor([0.1]), 0.1).item() == pytest.approx(0.25)
