"""Run by test_ddp.py as `python ddp_script.py OUT`: a 2-process CPU DDP run of maskaae.

Lightning's DDP launcher starts rank 1 by running this same command again, so every rank
trains through ``maskaae_cli.training.train`` and writes OUT/rank{R}.pt: its parameters
at the end and the first batch it trained on.
"""

import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parent))
from helpers import tiny_config  # noqa: E402

from maskaae_cli.training import train  # noqa: E402


class DumpRank(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out
        self.first_batch: torch.Tensor | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        if self.first_batch is None:
            self.first_batch = batch.detach().clone()

    def on_train_end(self, trainer, module) -> None:  # noqa: ANN001
        params = {name: p.detach().clone() for name, p in module.named_parameters()}
        torch.save({"rank": trainer.global_rank, "world_size": trainer.world_size, "params": params,
                    "first_batch": self.first_batch, "iteration": module.iteration},
                   self.out / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    cfg = tiny_config(out / "run", train={"accelerator": "cpu", "devices": "2", "max_steps": 12,
                                          "log_every": 3, "eval_every": 6, "ckpt_every": 6})
    train(cfg, extra_callbacks=[DumpRank(out)])
