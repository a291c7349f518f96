"""A minimal hand-written PyTorch loop of MaskAAE: the baseline that benchmarks compare against.

It lives only in benchmarks/: the product trains through the LightningModule. It runs the
algorithm of docs/algorithm.md step for step, with the same nets (``maskaae_cli.nets``),
batch size, ``n_critic``, constants and data as a ``maskaae`` run of the same config: an
auto-encoder step, ``n_critic`` critic steps on fresh mini-batches, the encoder step and the
mask step, each with its own RMSprop. Each backward pass names the parameters it trains
(``backward(inputs=...)``), so no weight gradient that the step does not use is computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from maskaae_cli.config import Config
from maskaae_cli.nets import build_nets


class PlainMaskAAE:
    """E, D, H, beta and four RMSprop optimisers, stepped in the reference order."""

    def __init__(self, cfg: Config, data: torch.Tensor, is_image: bool, device: str | torch.device = "cpu",
                 seed: int = 0, compile: bool = False, dtype: torch.dtype = torch.float32) -> None:
        torch.manual_seed(seed)
        o, m, k = cfg.optim, cfg.model, cfg.mask
        self.device = torch.device(device)
        nets = build_nets(m, tuple(data.shape[1:]), is_image)
        self.E, self.D, self.H = (n.to(self.device, dtype) for n in nets)
        # torch.compile cannot double-backward: the gradient penalty uses the eager critic H
        self.E_, self.D_, self.H_ = ((torch.compile(n) for n in (self.E, self.D, self.H)) if compile
                                     else (self.E, self.D, self.H))
        self.beta = torch.nn.Parameter((torch.rand(m.m) * k.beta_init_max).to(self.device, dtype))
        self.data = data.to(self.device)  # the whole (in-memory) training set on the device
        self.image, self.bs, self.nc, self.o, self.k = is_image, o.batch_size, o.n_critic, o, k
        self.schedule = cfg.schedule()
        self.ae_params = [*self.E.parameters(), *self.D.parameters()]
        self.h_params, self.e_params = list(self.H.parameters()), list(self.E.parameters())
        self.o_ae = torch.optim.RMSprop(self.ae_params, lr=o.lr_ae)
        self.o_h = torch.optim.RMSprop(self.h_params, lr=o.lr_critic)
        self.o_g = torch.optim.RMSprop(self.e_params, lr=o.lr_gen)
        self.o_m = torch.optim.RMSprop([self.beta], lr=k.lr)
        self.order = torch.empty(0, dtype=torch.long, device=self.device)
        self.it = 0

    def batch(self) -> torch.Tensor:
        """(1 + n_critic) * batch_size rows of the shuffled data, reshuffled after each pass."""
        n = self.bs * (1 + self.nc)
        if len(self.order) < n:
            self.order = torch.randperm(len(self.data), device=self.device)
        idx, self.order = self.order[:n], self.order[n:]
        x = self.data[idx]
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def rec(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x_hat = self.D_(z)  # the project's decoders end in a sigmoid for images
        return F.binary_cross_entropy(x_hat, x) if self.image else F.mse_loss(x_hat, x)

    @staticmethod
    def update(opt: torch.optim.Optimizer, loss: torch.Tensor, params: list[torch.Tensor]) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        opt.step()

    def load_from(self, model: torch.nn.Module) -> None:
        """Start from the weights (and batch-norm statistics) of a ``MaskAAE`` module."""
        for mine, theirs in ((self.E, model.encoder), (self.D, model.decoder), (self.H, model.critic)):
            mine.load_state_dict(theirs.state_dict())
        with torch.no_grad():
            self.beta.copy_(model.mask.beta)

    def state(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer, named as in ``MaskAAE.state_dict()``."""
        out = {"mask.beta": self.beta.detach()}
        for prefix, net in (("encoder", self.E), ("decoder", self.D), ("critic", self.H)):
            out |= {f"{prefix}.{k}": v for k, v in net.state_dict().items()}
        return out

    def step(self, batch: torch.Tensor | None = None) -> None:
        """One iteration on ``batch`` ((1 + n_critic) * batch_size rows), or on the next shuffled one."""
        o, k = self.o, self.k
        chunks = (self.batch() if batch is None else batch).split(self.bs)
        x = chunks[0]
        if self.it in (0, k.start, self.schedule.lr_drop_step):  # mask warm-up, learning-rate drop
            f = self.schedule.lr_factor(self.it)
            self.o_ae.param_groups[0]["lr"] = o.lr_ae * f
            self.o_m.param_groups[0]["lr"] = k.lr * f if self.it >= k.start else 0.0
        a = -torch.expm1(-self.beta.detach())
        # 1. auto-encoder: reconstruction + variance penalty
        z = self.E_(x)
        var = ((z - z.mean(0)) ** 2 * torch.exp(-k.var_sharpness * a**2)).mean()
        self.update(self.o_ae, self.rec(x, z * a) + k.var_weight * var, self.ae_params)
        # 2. critic, n_critic times on fresh batches: WGAN-GP
        for xc in chunks[1 : 1 + self.nc]:
            with torch.no_grad():
                ze = self.E_(xc) * a
            zp = torch.randn_like(ze) * a
            gap = self.H_(ze).mean() - self.H_(zp).mean()
            eps = torch.rand(len(ze), 1, device=self.device, dtype=ze.dtype)
            u = (eps * zp + (1 - eps) * ze).requires_grad_(True)
            (g,) = torch.autograd.grad(self.H(u).sum(), u, create_graph=True)
            gp = ((g.norm(2, dim=1) - 1) ** 2).mean()
            self.update(self.o_h, gap + o.gp_weight * gp, self.h_params)
        # 3. encoder as generator
        self.update(self.o_g, -self.H_(self.E_(x) * a).mean(), self.e_params)
        # 4. mask: reconstruction + adversarial gap + polarisation, then beta >= 0
        with torch.no_grad():
            z = self.E_(x)
        a = -torch.expm1(-self.beta)
        gap = self.H_(z * a).mean() - self.H_(torch.randn_like(z) * a).mean()
        lm = (k.rec_weight * self.rec(x, z * a) + (1 - gap) ** 2
              + self.schedule.reg_weight(self.it) * (a * (1 - a)).abs().sum())
        if k.cycle_weight > 0 and self.it < self.schedule.cycle_end:
            q = torch.randn_like(z) * a  # latent cycle: decode prior draws and encode them again
            lm = lm + k.cycle_weight * (self.E_(self.D_(q)) * a - q).pow(2).mean(0).sum()
        self.update(self.o_m, lm, [self.beta])
        with torch.no_grad():
            self.beta.clamp_(min=0)
        self.it += 1
