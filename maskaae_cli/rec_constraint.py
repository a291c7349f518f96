"""The weight of the reconstruction term in the mask loss, fixed or held by a constraint.

The mask loss trades reconstruction (weighted) against the critic's gap. A fixed weight sets
where the mask stops, and the right value depends on the data (on synthetic data 300 stops at
n = 8 but cuts n = 16 to 9). ``constraint`` mode instead treats reconstruction as a constraint,
in the manner of GECO (Rezende & Viola, 2018): the mask may close dimensions while the
reconstruction error stays within ``tolerance`` of the best seen so far; above it the weight
grows geometrically until closing stops, below it the weight decays.
"""

from __future__ import annotations

import torch
from torch import nn


class RecWeightControl(nn.Module):
    """A reconstruction weight held as buffers, so it is checkpointed, resumed and DDP-broadcast.

    ``update(rec)`` is called once per iteration with the mask step's reconstruction error: it
    keeps an exponential moving average of it and the running minimum of that average, and (when
    ``adapt``) multiplies the weight by ``exp(rate * (ema / best - 1 - tolerance))``, clipped to
    ``[min_weight, max_weight]``. No host synchronisation: everything stays on the device.
    """

    def __init__(self, init: float, tolerance: float = 0.1, rate: float = 0.02, ema: float = 0.99,
                 min_weight: float = 1.0, max_weight: float = 1e5) -> None:
        super().__init__()
        self.tolerance, self.rate, self.decay = tolerance, rate, ema
        self.min_weight, self.max_weight = min_weight, max_weight
        self.register_buffer("weight", torch.tensor(float(init)))
        self.register_buffer("rec_ema", torch.tensor(float("nan")))
        self.register_buffer("rec_best", torch.tensor(float("inf")))

    @torch.no_grad()
    def update(self, rec: torch.Tensor, adapt: bool = True) -> None:
        rec = rec.detach().to(self.rec_ema.dtype)
        ema = torch.where(torch.isnan(self.rec_ema), rec, self.decay * self.rec_ema + (1 - self.decay) * rec)
        self.rec_ema.copy_(ema)
        self.rec_best.copy_(torch.minimum(self.rec_best, ema))
        if adapt:
            excess = ema / self.rec_best.clamp_min(1e-12) - 1.0 - self.tolerance
            weight = self.weight * torch.exp(self.rate * excess)
            self.weight.copy_(weight.clamp(self.min_weight, self.max_weight))
