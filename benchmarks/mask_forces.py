"""What pushes each mask dimension open or shut while the mask searches?

Trains one MaskAAE run (synthetic data, or any --dataset with --data-dir) with the real training
code and, every --every iterations from --start to --until (where it stops), records per latent
dimension: alpha, the latent cycle error (maskaae_cli.metrics.latent_cycle, last weights) and the
gradient with respect to beta of each weighted term of the mask loss on one batch (the model's own
terms): reconstruction, adversarial gap, polarisation and cycle term. A positive gradient closes
the dimension (descent lowers beta), a negative one opens it. The run's random numbers are
restored after each record, so it trains as `maskaae train` with the same options would. Writes
one JSON line per record to --out and prints the active count.

    python benchmarks/mask_forces.py --n-true 16 --m 64 --until 4200 --out runs/forces-n16m64.jsonl
    python benchmarks/mask_forces.py --n-true 8 --m 32 --recipe benchmarks/recipes/synthetic-cycle.yaml \\
        --out runs/forces-n8m32-round5.jsonl
    python benchmarks/mask_forces.py --dataset cifar10 --data-dir CIFAR_DIR --recipe cifar10-cpu --m 128 \\
        --start 1000 --until 3000 --cycle-samples 0 --out runs/forces-c10-m128.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import lightning as L
import torch

from maskaae_cli.config import Config
from maskaae_cli.metrics.latent_cycle import latent_cycle_error
from maskaae_cli.model import MaskAAE
from maskaae_cli.recipe import load_recipe
from maskaae_cli.training import train


def mask_loss_terms(model: MaskAAE, x: torch.Tensor, step: int) -> tuple[dict, dict]:
    """The mask loss's terms at ``step`` (TrainingIteration.mask_loss_terms)."""
    it = model.train_iteration
    return it.mask_loss_terms(x, it.values_at(step))


def forces(model: MaskAAE, x: torch.Tensor, step: int) -> dict[str, list[float]]:
    """d(term)/d(beta) for each weighted term of the mask loss at ``step``."""
    with torch.enable_grad():
        terms, _ = mask_loss_terms(model, x, step)
        return {k: torch.autograd.grad(v, model.mask.beta, retain_graph=True)[0].tolist()
                for k, v in terms.items()}


class MaskForces(L.Callback):
    """Records :func:`forces`, alpha and the cycle error; stops the run at ``until``."""

    def __init__(self, out: Path, start: int, until: int, every: int, cycle_samples: int = 4000) -> None:
        self.out, self.start, self.until, self.every = out, start, until, every
        self.cycle_samples = cycle_samples
        self.file = out.open("w")

    def on_train_batch_end(self, trainer, model: MaskAAE, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        step = model.iteration
        if step >= self.until:
            trainer.should_stop = True
        if step < self.start or step % self.every:
            return
        rng = torch.get_rng_state()
        x = (batch[0] if isinstance(batch, (list, tuple)) else batch)[:256]
        record = {"iteration": step, "alpha": model.mask.alpha.detach().tolist(),
                  "forces": forces(model, x, step),
                  "rec": float(mask_loss_terms(model, x, step)[1]["rec"].detach()),
                  "cycle_error": (latent_cycle_error(model, n=self.cycle_samples).tolist()
                                  if self.cycle_samples else None)}
        model.train()
        torch.set_rng_state(rng)
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        print(f"iteration {step}: {model.mask.active_dims()} active", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cycle-samples", type=int, default=4000, help="prior draws of the cycle error (0: skip)")
    p.add_argument("--n-true", type=int, default=8)
    p.add_argument("--m", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", default=None, help="a recipe for the run (default: built-in defaults)")
    p.add_argument("--start", type=int, default=1800, help="first iteration recorded")
    p.add_argument("--until", type=int, default=6000, help="record up to this iteration, then stop")
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--out", required=True, help="JSON-lines file; the run folder is this path without .jsonl")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out and its run folder")
    a = p.parse_args()
    out = Path(a.out)
    if out.exists() and not a.overwrite:
        sys.exit(f"error: {out} exists: pass --overwrite to replace it, or choose another --out")
    cfg = Config.from_dict(load_recipe(a.recipe)) if a.recipe else Config()
    data = {"dataset": a.dataset, "data_dir": a.data_dir, "download": False} if a.dataset != "synthetic" \
        else {"dataset": "synthetic", "n_true": a.n_true}
    cfg.update({"data": data, "model": {"m": a.m},
                "train": {"seed": a.seed, "out": str(out.with_suffix("")), "overwrite": a.overwrite,
                          "progress": False, "threads": 1}})
    out.parent.mkdir(parents=True, exist_ok=True)
    train(cfg, extra_callbacks=[MaskForces(out, a.start, a.until, a.every, a.cycle_samples)])
    print(f"written: {out}")


if __name__ == "__main__":
    main()
