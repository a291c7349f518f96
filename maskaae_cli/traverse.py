"""Latent traversals: sweep one prior coordinate at a time and decode, to see what each dimension does.

For each chosen dimension j the prior code p is the base with p_j set to each of ``steps`` values from
-range to +range; the model decodes D(alpha * p) exactly as ``maskaae sample`` does (the moving
average's decoder and mask when the checkpoint keeps them). A dimension the mask has closed
(alpha_j ~ 0) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maskaae_cli.data.loading import as_float
from maskaae_cli.errors import UserError
from maskaae_cli.model import MaskAAE
from maskaae_cli.sampling import prior_batches

DEFAULT_STEPS = 9
DEFAULT_RANGE = 3.0
MAX_STEPS = 101


@dataclass
class Traversal:
    """The decoded sweeps of a model, with what they were made from (CPU tensors)."""

    dims: list[int]  # the swept latent dimensions, one row each, in row order
    values: torch.Tensor  # (steps,) the values given to p_j
    base: torch.Tensor  # (m,) the unmasked prior code the others are held at
    base_label: str  # "zero", "sample (seed 0)" or "test image 12"
    alpha: torch.Tensor  # (m,) the trained mask (what inspect and summary.json report)
    alpha_generator: torch.Tensor  # (m,) the mask the decoding applies (the moving average's, if kept)
    active: torch.Tensor  # (m,) bool: alpha_j >= the activity threshold
    threshold: float
    base_output: torch.Tensor  # (*data_shape) D(alpha * base)
    outputs: torch.Tensor  # (rows, steps, *data_shape)

    def changes(self) -> torch.Tensor:
        """(rows, steps, D): each decoded output minus the decoded base, flattened."""
        rows, steps = self.outputs.shape[:2]
        return (self.outputs - self.base_output).reshape(rows, steps, -1)

    def change_rms(self) -> torch.Tensor:
        """(rows,): the root mean square change of the output over the sweep, one figure per dimension."""
        return self.changes().pow(2).mean(dim=(1, 2)).sqrt()


def choose_dims(spec: str, alpha: torch.Tensor, active: torch.Tensor, is_image: bool = True) -> list[int]:
    """``active`` / ``all`` (sorted by alpha, largest first), ``auto`` (active for image models, all for
    vector models) or a comma list of indices (in the order given)."""
    order = sorted(range(len(alpha)), key=lambda j: (-float(alpha[j]), j))
    text = spec.strip().lower()
    if text == "auto":
        text = "active" if is_image else "all"
    if text == "all":
        return order
    if text == "active":
        chosen = [j for j in order if bool(active[j])]
        if not chosen:
            raise UserError("--dims active: the mask keeps no active dimension; use --dims all or a list")
        return chosen
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--dims {spec!r}: use auto, active, all or latent indices such as 0,3,5") from None
    if not dims:
        raise UserError("--dims is empty: use auto, active, all or latent indices such as 0,3,5")
    bad = [j for j in dims if not 0 <= j < len(alpha)]
    if bad:
        raise UserError(f"--dims {spec}: {bad[0]} is not a latent dimension (the model has "
                        f"{len(alpha)}: 0 to {len(alpha) - 1})")
    if len(set(dims)) != len(dims):
        raise UserError(f"--dims {spec}: a dimension is repeated")
    return dims


def parse_base(text: str) -> str | int:
    """``zero``, ``sample`` or a test-split image index (a whole number >= 0)."""
    t = text.strip().lower()
    if t in ("zero", "sample"):
        return t
    try:
        index = int(t)
    except ValueError:
        raise UserError(f"--base {text!r}: use zero, sample or the index of a test-split example") from None
    if index < 0:
        raise UserError(f"--base {index}: an example index is 0 or more")
    return index


def base_code(model: MaskAAE, base: str | int, seed: int, data: torch.Tensor | None = None) -> torch.Tensor:
    """The unmasked prior code (m,) the sweep holds the other coordinates at: zeros, the first prior draw
    of ``seed`` (the code of the first sample ``maskaae sample --seed SEED`` makes), or E(x) of the test
    example ``data[base]``."""
    if base == "zero":
        return torch.zeros(model.latent_dim)
    if base == "sample":
        return next(prior_batches(model, 1, seed, 1))[0]
    assert isinstance(base, int) and data is not None
    if base >= len(data):
        raise UserError(f"--base {base}: the test split has {len(data)} examples (0 to {len(data) - 1})")
    device = model.mask.beta.device
    with torch.no_grad():
        return model.encoder(as_float(data[base : base + 1]).to(device))[0].float().cpu()


def sweep_values(steps: int, value_range: float) -> torch.Tensor:
    """``steps`` evenly spaced values from -range to +range."""
    if steps < 2 or steps > MAX_STEPS:
        raise UserError(f"--steps {steps}: use 2 to {MAX_STEPS}")
    if not (np.isfinite(value_range) and value_range > 0):
        raise UserError(f"--range {value_range}: use a positive number such as 3 (prior standard deviations)")
    with np.errstate(all="ignore"):
        values = torch.from_numpy(np.linspace(-value_range, value_range, steps)).float()
    if not bool(values.isfinite().all()):
        raise UserError(f"--range {value_range:g} is too large to sweep: use a number such as 3 (prior "
                        "standard deviations)")
    values[values.abs() < 1e-6 * value_range] = 0.0  # an odd count's middle value is exactly 0
    return values


@torch.no_grad()
def traverse(model: MaskAAE, dims: list[int], values: torch.Tensor, base: torch.Tensor, base_label: str,
             averaged: bool = True, batch_size: int = 1000) -> Traversal:
    """Decode the base and, for each dimension in ``dims``, the base with p_j set to each value."""
    device = model.mask.beta.device
    was_training = model.training
    model.eval()
    try:
        codes = base.repeat(len(dims), len(values), 1)  # (rows, steps, m)
        for row, j in enumerate(dims):
            codes[row, :, j] = values
        flat = torch.cat([base[None], codes.reshape(-1, len(base))])
        decoded = torch.cat([model.generate(chunk.to(device), averaged).float().cpu()
                             for chunk in flat.split(batch_size)])
    finally:
        model.train(was_training)
    _, mask = model.generator(averaged)
    return Traversal(
        dims=list(dims), values=values.clone(), base=base.clone(), base_label=base_label,
        alpha=model.mask.alpha.detach().float().cpu(), alpha_generator=mask.alpha.detach().float().cpu(),
        active=model.mask.active_mask().cpu(), threshold=model.mask.active_threshold,
        base_output=decoded[0], outputs=decoded[1:].reshape(len(dims), len(values), *decoded.shape[1:]))


def base_label(base: str | int, seed: int) -> str:
    """How a base is named in titles and files."""
    if base == "sample":
        return f"sample (seed {seed})"
    return "zero" if base == "zero" else f"test image {base}"
