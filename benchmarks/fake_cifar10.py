"""Random images in CIFAR-10's on-disk layout, for timing `maskaae train --dataset cifar10` where the
real set cannot be downloaded (the GPU machine is offline; speed does not depend on the pixels).

    python benchmarks/fake_cifar10.py DATA_DIR   # then: maskaae train --data-dir DATA_DIR --no-download

Writes DATA_DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} (pickles of uint8
arrays, as torchvision unpacks the official archive): 50,000 training and 10,000 test images.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

TRAIN_BATCHES = 5


def write_fake_cifar10(root: Path, n_train: int = 50_000, n_test: int = 10_000, seed: int = 0) -> Path:
    """The folder ``root/cifar-10-batches-py`` of random images; returns it."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [n_train // TRAIN_BATCHES] * TRAIN_BATCHES + [n_test]
    names = [f"data_batch_{i}" for i in range(1, TRAIN_BATCHES + 1)] + ["test_batch"]
    for name, n in zip(names, sizes, strict=True):
        entry = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 "filenames": [f"{i}.png" for i in range(n)]}
        with (folder / name).open("wb") as f:
            pickle.dump(entry, f, protocol=2)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f, protocol=2)
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="the --data-dir to write under")
    p.add_argument("--n-train", type=int, default=50_000)
    p.add_argument("--n-test", type=int, default=10_000)
    args = p.parse_args()
    print(f"wrote {write_fake_cifar10(args.root, args.n_train, args.n_test)}")


if __name__ == "__main__":
    main()
