"""Training throughput of `maskaae` against a hand-written PyTorch loop of the same algorithm.

For each net (the synthetic default, the reference MNIST MLPs, the CIFAR-10 conv nets) it
times MaskAAE training iterations through the real LightningModule, Trainer, data module and
callbacks (progress bar, CSV logger, checkpointing, mask history) as `maskaae train` builds
them, and the loop of ``plain_loop.py`` with the same nets, batch size, n_critic and data, in
this one process: after a discarded warm-up round, ``--repeats`` rounds of maskaae, plain,
maskaae, plain, ... Each measurement skips its first ``--warmup`` iterations and then times
enough iterations to last about ``--seconds``. The ratio is maskaae's time per iteration over
the plain loop's, the median over the rounds (1.0: no overhead); the same ratio in process CPU
time is recorded too (less disturbed by other jobs on a shared machine). Before timing, each
net is checked to train the same way in both loops (one float64 iteration from the same
weights, batch and random state; see ``same_algorithm``).

    python benchmarks/throughput.py                      # all three nets on the CPU, 1 thread
    python benchmarks/throughput.py --case synthetic --repeats 3
    python benchmarks/throughput.py --device cuda        # on a GPU (data on the device for the plain loop)
    python benchmarks/throughput.py --device cuda --cuda-graphs   # maskaae through CUDA graphs

Image data is random uint8 images in the real in-memory format (speed does not depend on
the pixels); ``--mnist-data idx:PATH`` uses MNIST-format files instead. Writes
benchmarks/results/throughput.json (throughput-cuda[-compile|-cuda-graphs].json for --device cuda);
an existing file is kept unless --overwrite is given. With --cuda-graphs maskaae trains as
`maskaae train --cuda-graphs` does (the plain loop stays eager; the same-update check compares
the eager step, in float64); benchmarks/cuda_graphs.py compares the graphed and eager steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_loop import PlainMaskAAE  # noqa: E402

from maskaae_cli.config import Config  # noqa: E402
from maskaae_cli.data import MaskAAEDataModule  # noqa: E402
from maskaae_cli.graph_policy import configure_cuda_graphs  # noqa: E402
from maskaae_cli.graph_runner import WARMUP_ITERATIONS  # noqa: E402
from maskaae_cli.model import MaskAAE  # noqa: E402
from maskaae_cli.recipe import load_recipe  # noqa: E402
from maskaae_cli.training import build_callbacks, build_model, make_trainer, quiet_lightning  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {  # name: (recipe or None for the defaults, dataset, random image shape or None)
    "synthetic": (None, "synthetic", None),
    "mnist-mlp": ("mnist", "mnist", (1, 28, 28)),
    "cifar10-conv": ("cifar10", "cifar10", (3, 32, 32)),
}
N_IMAGES = 12_000
SAID: set[str] = set()  # the CUDA-graphs lines already printed
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds: the CPU time of this process is less disturbed by a busy machine."""
    return time.perf_counter(), time.process_time()


def elapsed(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


class StepTimer(L.Callback):
    """Wall and CPU seconds from the end of iteration ``start`` to the end of iteration ``start + n``."""

    def __init__(self, start: int, n: int, device: torch.device) -> None:
        self.start, self.stop = start, start + n
        self.device, self.count = device, 0
        self.t0 = self.seconds = (0.0, 0.0)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.count += 1
        if self.count in (self.start, self.stop):
            sync(self.device)
            if self.count == self.start:
                self.t0 = clocks()
            else:
                self.seconds = elapsed(self.t0)


def case_config(name: str, args: argparse.Namespace) -> Config:
    recipe, dataset, _ = CASES[name]
    cfg = Config()
    if recipe:
        cfg.update(load_recipe(recipe), source=recipe)
    if name == "mnist-mlp" and args.mnist_data:
        dataset = args.mnist_data
    cfg.update({"data": {"dataset": dataset, "download": False},
                "train": {"threads": args.threads, "progress": not args.no_progress,
                          "accelerator": "gpu" if args.device == "cuda" else "cpu", "devices": "1",
                          "compile": args.compile, "cuda_graphs": True if args.cuda_graphs else None}})
    return cfg


def data_module(name: str, cfg: Config) -> MaskAAEDataModule:
    """The run's data module; image cases get random uint8 images unless real files were named."""
    dm = MaskAAEDataModule(cfg.data, cfg.optim.batch_size, cfg.optim.n_critic, cfg.train.max_steps)
    shape = CASES[name][2]
    if shape and not cfg.data.dataset.startswith("idx:"):
        g = torch.Generator().manual_seed(0)
        n_val = N_IMAGES // 10
        images = torch.randint(0, 256, (N_IMAGES + 2 * n_val, *shape), dtype=torch.uint8, generator=g)
        dm.train_data, dm.val_data, dm.test_data = images.split([N_IMAGES, n_val, n_val])
    dm.setup()
    return dm


def time_maskaae(cfg: Config, model: MaskAAE, dm: MaskAAEDataModule, warmup: int, n: int,
                 device: torch.device, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` iterations of `maskaae train`'s Trainer after ``warmup`` of them."""
    run_dir = Path(tempfile.mkdtemp(dir=work))
    window = Config.from_dict(cfg.to_dict())
    window.train.max_steps = warmup + n  # the Trainer stops after the window; callbacks as for the real run
    timer = StepTimer(warmup, n, device)
    trainer = make_trainer(window, model, run_dir, [*build_callbacks(cfg, dm, run_dir), timer])
    line = configure_cuda_graphs(window, trainer, model, dm)
    if line and line not in SAID:
        SAID.add(line)
        print(f"  {line}", flush=True)
    trainer.fit(model, datamodule=dm)
    shutil.rmtree(run_dir, ignore_errors=True)
    return timer.seconds


class FirstBatch(L.Callback):
    """Keeps the model's weights, the batch and the RNG state as the first iteration starts."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == 0:
            self.weights = {k: v.clone() for k, v in module.state_dict().items()}
            self.batch, self.rng = batch.clone(), torch.get_rng_state()
            self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None


def same_algorithm(cfg: Config, dm: MaskAAEDataModule, device: torch.device, work: Path) -> float:
    """How far apart one iteration of each loop moves the same weights: |dW_ours - dW_plain| / |dW_ours|.

    maskaae runs one iteration through its Trainer; the plain loop then starts from the same
    weights, batch and random-number state. Both run in float64: RMSprop's first step is about
    lr * sign(g), so in float32 a rounding-level gradient flips some updates and hides small
    differences. Rounding alone then gives ~1e-8 or less (image losses stay float32 in
    losses.py); a different algorithm, such as another loss weight, a far larger number.
    """
    model, first, run_dir = build_model(cfg, dm), FirstBatch(), Path(tempfile.mkdtemp(dir=work))
    window = Config.from_dict(cfg.to_dict())
    window.train.max_steps, window.train.precision = 1, "64-true"
    trainer = make_trainer(window, model, run_dir, [*build_callbacks(cfg, dm, run_dir), first])
    trainer.fit(model, datamodule=dm)
    shutil.rmtree(run_dir, ignore_errors=True)
    after = {k: v.detach().double().cpu().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(first.weights)
    loop = PlainMaskAAE(cfg, dm.train_data[:1], dm.is_image, device, dtype=torch.float64)
    loop.load_from(model)
    torch.set_rng_state(first.rng)
    if first.cuda_rng is not None:
        torch.cuda.set_rng_state_all(first.cuda_rng)
    loop.step(first.batch.to(device, torch.float64))
    # the trained weights (the moving average of the decoder is not a training update)
    keys = [k for k, v in first.weights.items() if v.is_floating_point() and not k.startswith("ema.")]
    ours = torch.cat([(after[k] - first.weights[k].double().cpu()).flatten() for k in keys])
    plain = loop.state()
    gap = torch.cat([(after[k] - plain[k].double().cpu()).flatten() for k in keys])
    return (gap.norm() / ours.norm()).item()


def time_plain(loop: PlainMaskAAE, warmup: int, n: int) -> tuple[float, float]:
    """Wall and CPU seconds for ``n`` iterations of the plain loop after ``warmup`` of them.

    Importing Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK, which makes every torch.optim step
    on a CPU-only machine slower; a hand-written script never imports Lightning, so the plain
    loop runs without it.
    """
    saved = os.environ.pop(NVML_CHECK, None)
    try:
        for _ in range(warmup):
            loop.step()
        sync(loop.device)
        start = clocks()
        for _ in range(n):
            loop.step()
        sync(loop.device)
        return elapsed(start)
    finally:
        if saved is not None:
            os.environ[NVML_CHECK] = saved


def run_case(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    device = torch.device(args.device)
    cfg = case_config(name, args)
    L.seed_everything(cfg.train.seed, verbose=False)
    dm = data_module(name, cfg)
    model = build_model(cfg, dm)
    loop = PlainMaskAAE(cfg, dm.train_data, dm.is_image, device, compile=args.compile)
    diff = None if args.compile else same_algorithm(cfg, dm, device, work)
    if diff is not None:
        print(f"  {name}: one iteration from the same start: |dW_maskaae - dW_plain| / |dW_maskaae| = "
              f"{diff:.2g}", flush=True)
    per_step = time_plain(loop, 2, 3)[0] / 3  # also the plain loop's first warm-up
    n = max(args.min_steps, round(args.seconds / per_step))
    time_maskaae(cfg, model, dm, args.warmup, min(n, 10), device, work)  # warm-up round, discarded
    rounds = []
    for r in range(args.repeats):
        (t_m, c_m), (t_p, c_p) = time_maskaae(cfg, model, dm, args.warmup, n, device, work), \
            time_plain(loop, args.warmup, n)
        rounds.append({"maskaae_steps_per_s": n / t_m, "plain_steps_per_s": n / t_p, "ratio": t_m / t_p,
                       "cpu_ratio": c_m / c_p})
        print(f"  {name} round {r + 1}: maskaae {n / t_m:.2f} it/s, plain {n / t_p:.2f} it/s, "
              f"ratio {t_m / t_p:.3f} (CPU time {c_m / c_p:.3f})", flush=True)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    return {"steps_per_round": n, "warmup": args.warmup, **med, "update_difference_one_iteration": diff,
            "cuda_graphs": model.cuda_graphs == "graph", "rounds": rounds,
            "nets": {"m": cfg.model.m, "arch": model.encoder.__class__.__name__,
                     "hidden": cfg.model.hidden, "depth": cfg.model.depth,
                     "critic": f"{cfg.model.critic_depth}x{cfg.model.critic_hidden}",
                     "data_shape": list(dm.data_shape), "batch_size": cfg.optim.batch_size,
                     "n_critic": cfg.optim.n_critic}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", choices=list(CASES), help="net(s) to time (default: all)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--seconds", type=float, default=3.0, help="target seconds per measurement (default 3)")
    p.add_argument("--min-steps", type=int, default=5, help="fewest timed iterations per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations before each measurement")
    p.add_argument("--compile", action="store_true", help="torch.compile the nets (both loops)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="maskaae through CUDA graphs, as train --cuda-graphs (warm-up: at least 5)")
    p.add_argument("--no-progress", action="store_true", help="maskaae without its progress bar")
    p.add_argument("--mnist-data", help="idx:PATH of MNIST-format images instead of random ones")
    p.add_argument("--out", type=Path, help="results file (default: benchmarks/results/throughput.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is available here; use --device cpu")
    if args.cuda_graphs:  # each measurement is a new fit: its eager warm-up and capture stay untimed
        args.warmup = max(args.warmup, WARMUP_ITERATIONS + 2)
    suffix = ("-compile" if args.compile else "") + ("-cuda-graphs" if args.cuda_graphs else "")
    args.out = args.out or RESULTS / f"throughput{'-cuda' if args.device == 'cuda' else ''}{suffix}.json"
    if args.out.exists() and not args.overwrite:
        p.error(f"{args.out} exists: give --overwrite to replace it or --out for another file")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_lightning()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    results: dict[str, Any] = {
        "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "device": args.device, "threads": args.threads, "torch": torch.__version__,
        "lightning": L.__version__, "machine": platform.platform(), "processor": platform.processor(),
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="maskaae-throughput-") as work:
        for name in args.case or list(CASES):
            results["cases"][name] = run_case(name, args, Path(work))
    print(f"\n{'net':<14}{'maskaae it/s':>14}{'plain it/s':>12}{'ratio':>8}{'CPU ratio':>11}")
    for name, r in results["cases"].items():
        print(f"{name:<14}{r['maskaae_steps_per_s']:>14.2f}{r['plain_steps_per_s']:>12.2f}"
              f"{r['ratio']:>8.3f}{r['cpu_ratio']:>11.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
