"""The mask's count of latent dimensions against independent intrinsic-dimension estimators.

Computes, with the code `maskaae dims` uses (scikit-dimension's MLE at each k and TwoNN on one exact
nearest-neighbour search), the estimates of:

- the synthetic data as `maskaae train` builds it by default (d = 128, a fixed random 2-layer
  leaky-ReLU net of z ~ N(0, I_n), data seed 0) for each --n-true: -n samples of its training split,
  the same figures as `maskaae dims synthetic --n-true N -n 10000`;
- MNIST images from an IDX image file (--mnist, e.g. the MNIST test split's t10k-images-idx3-ubyte.gz),
  -n of its images (all of them when -n is at least their number), pixels in [0, 1]; the file's MD5
  is recorded.

Beside the synthetic estimates it puts the mask's counts read from the committed results files
benchmarks/results/discovery-early-search-n{N}.json (MaskAAE from m = 2n and m = 4n, seed 0). It
prints a table and writes --out (JSON); an existing --out is replaced only with --overwrite.

    python benchmarks/intrinsic_dim.py --mnist PATH/t10k-images-idx3-ubyte.gz --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from maskaae_cli.atomic_io import write_json
from maskaae_cli.config import DataConfig
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.data.idx import read_idx_images
from maskaae_cli.errors import UserError
from maskaae_cli.intrinsic_dim import estimate, parse_ks, subsample

RESULTS = Path(__file__).resolve().parent / "results"
DISCOVERY = "discovery-early-search-n{n}.json"  # seed 0 (the seed-1 files are named ...-seed1.json)


def mask_counts(n_true: int, results: Path = RESULTS) -> dict:
    """The MaskAAE rows of the committed discovery results for ``n_true``: {m: active_dims} and the file."""
    path = results / DISCOVERY.format(n=n_true)
    if not path.is_file():
        return {"source": path.name, "runs": [], "missing": True}
    runs = json.loads(path.read_text())["runs"]
    rows = sorted((r["m"], r["active_dims"]) for r in runs
                  if r.get("model") == "maae" and r.get("status") == "ok")
    return {"source": f"benchmarks/results/{path.name}",
            "runs": [{"m": m, "active_dims": a} for m, a in rows]}


def figures(x: np.ndarray, ks: list[int]) -> dict:
    start = time.perf_counter()
    result = estimate(x, ks)
    return {**result.to_dict(), "seconds": round(time.perf_counter() - start, 1)}


def synthetic(n_true: int, n: int, ks: list[int], seed: int) -> dict:
    """Estimates on -n samples of the default synthetic training split with ``n_true`` dimensions."""
    cfg = DataConfig(n_true=n_true)
    dm = MaskAAEDataModule(cfg)
    dm.setup()
    assert dm.train_data is not None
    x = subsample(dm.train_data.numpy(), min(n, len(dm.train_data)), seed)
    return {"n_true": n_true, "data_dim": cfg.data_dim, "data_seed": cfg.data_seed,
            "train_split": len(dm.train_data), **figures(x, ks), "mask": mask_counts(n_true)}


def mnist(path: Path, n: int, ks: list[int], seed: int) -> dict:
    """Estimates on -n images of an IDX image file (all of them when n is at least their number)."""
    images = read_idx_images(path, fix="give an intact IDX image file").numpy()
    x = subsample(images, min(n, len(images)), seed) / 255.0
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    return {"file": path.name, "md5": md5, "images": len(images), "image_shape": list(images.shape[1:]),
            **figures(x, ks), "mask": "see the MNIST benchmark"}


def row(name: str, record: dict, ks: list[int], mask: str) -> str:
    est = {(e["estimator"], e["k"]): e["dimension"] for e in record["estimates"]}
    cells = [f"{est[('mle', k)]:>10.2f}" for k in ks] + [f"{est[('twonn', None)]:>8.2f}"]
    return f"{name:<16}{record['n_used']:>7}" + "".join(cells) + f"   {mask}"


def mask_text(mask: dict) -> str:
    if not mask["runs"]:
        return f"(no {mask['source']})"
    return ", ".join(f"{r['active_dims']} from m = {r['m']}" for r in mask["runs"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist", type=Path, default=None, help="an IDX image file (the MNIST test split's "
                   "t10k-images-idx3-ubyte[.gz]); without it MNIST is left out")
    p.add_argument("--n-true", default="4,8,12,16", help="synthetic true dimensions, comma-separated")
    p.add_argument("-n", type=int, default=10_000, help="samples per dataset (default 10000)")
    p.add_argument("--k", default="5,10,20", help="MLE neighbour counts (default 5,10,20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of samples")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the neighbour search")
    p.add_argument("--out", type=Path, default=RESULTS / "intrinsic-dim.json")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    a = p.parse_args()
    if a.out.exists() and not a.overwrite:
        sys.exit(f"error: {a.out} exists: pass --overwrite to replace it, or choose another --out")
    if a.mnist is not None and not a.mnist.is_file():
        sys.exit(f"error: --mnist {a.mnist}: no such file")
    try:
        ks = parse_ks(a.k)
        n_trues = [int(v) for v in a.n_true.split(",") if v.strip()]
    except (UserError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if a.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(a.threads)
        threadpool_limits(limits=a.threads)

    start = time.perf_counter()
    header = (f"{'data':<16}{'n':>7}" + "".join(f"{'MLE k=' + str(k):>10}" for k in ks)
              + f"{'TwoNN':>8}   mask")
    print(header)
    rows = []
    for n_true in n_trues:
        rows.append(synthetic(n_true, a.n, ks, a.seed))
        print(row(f"synthetic n={n_true}", rows[-1], ks, mask_text(rows[-1]["mask"])), flush=True)
    real = None
    if a.mnist is not None:
        real = mnist(a.mnist, a.n, ks, a.seed)
        print(row("MNIST", real, ks, real["mask"]), flush=True)
    versions = {name: metadata.version(name) for name in ("scikit-dimension", "scikit-learn", "numpy")}
    record = {
        "about": "intrinsic-dimension estimators (maskaae_cli/intrinsic_dim.py) against the mask's count",
        "n_true": n_trues, "n": a.n, "k": ks, "seed": a.seed, "threads": a.threads, "versions": versions,
        "synthetic": rows, "mnist": real, "wall_seconds": round(time.perf_counter() - start, 1),
    }
    write_json(a.out, record)
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
