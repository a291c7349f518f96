"""A minimal hand-written PyTorch loop of MaskAAE: the baseline that benchmarks compare against.

It lives only in benchmarks/: the product trains through the LightningModule.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _mlp(i: int, o: int, h: int, d: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(d):
        layers += [nn.Linear(i, h), nn.ReLU()]
        i = h
    return nn.Sequential(*layers, nn.Linear(i, o))


class PlainMaskAAE:
    """E, D, H, beta and four RMSprop optimisers, stepped in the reference order."""

    def __init__(self, data_shape: tuple[int, ...], m: int, hidden: int, depth: int, critic_hidden: int,
                 critic_depth: int, image: bool, batch_size: int = 64, n_critic: int = 5) -> None:
        d = math.prod(data_shape)
        self.E, self.D = _mlp(d, m, hidden, depth), _mlp(m, d, hidden, depth)
        self.H = _mlp(m, 1, critic_hidden, critic_depth)
        self.beta = nn.Parameter(torch.rand(m) * 5)
        self.image, self.bs, self.nc = image, batch_size, n_critic
        self.o_ae = torch.optim.RMSprop([*self.E.parameters(), *self.D.parameters()], lr=5e-4)
        self.o_h = torch.optim.RMSprop(self.H.parameters(), lr=1e-4)
        self.o_g = torch.optim.RMSprop(self.E.parameters(), lr=1e-4)
        self.o_m = torch.optim.RMSprop([self.beta], lr=5e-4)

    def rec(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.D(z)
        if self.image:
            return F.binary_cross_entropy(torch.sigmoid(out), x.flatten(1))
        return F.mse_loss(out, x.flatten(1))

    def step(self, batch: torch.Tensor) -> None:
        chunks = batch.split(self.bs)
        x = chunks[0]
        a = -torch.expm1(-self.beta.detach())
        z = self.E(x.flatten(1))
        loss = self.rec(x, z * a) + 100 * ((z - z.mean(0)) ** 2 * torch.exp(-10 * a**2)).mean()
        self.o_ae.zero_grad()
        loss.backward()
        self.o_ae.step()
        for xc in chunks[1 : 1 + self.nc]:
            with torch.no_grad():
                ze = self.E(xc.flatten(1)) * a
            zp = torch.randn_like(ze) * a
            eps = torch.rand(len(ze), 1)
            u = (eps * zp + (1 - eps) * ze).requires_grad_(True)
            (g,) = torch.autograd.grad(self.H(u).sum(), u, create_graph=True)
            lh = self.H(ze).mean() - self.H(zp).mean() + 10 * ((g.norm(2, dim=1) - 1) ** 2).mean()
            self.o_h.zero_grad()
            lh.backward()
            self.o_h.step()
        lg = -self.H(self.E(x.flatten(1)) * a).mean()
        self.o_g.zero_grad()
        lg.backward()
        self.o_g.step()
        with torch.no_grad():
            z = self.E(x.flatten(1))
        a = -torch.expm1(-self.beta)
        lm = (1000 * self.rec(x, z * a)
              + (1 - (self.H(z * a).mean() - self.H(torch.randn_like(z) * a).mean())) ** 2
              + (2 / len(a)) * (a * (1 - a)).abs().sum())
        self.o_m.zero_grad()
        lm.backward()
        self.o_m.step()
        with torch.no_grad():
            self.beta.clamp_(min=0)
