"""The MNIST benchmark's fixed data split and its digit-classifier feature space.

``prepare`` splits the 10,000-image MNIST test file once (seed 0): 8,000 images for training
(the auto-encoders and the classifier) and 2,000 that only the evaluation sees. It writes them
as an IDX folder (``train-images-idx3-ubyte`` = the 8,000, ``t10k-images-idx3-ubyte`` = the
2,000), so ``maskaae train --dataset idx:FOLDER`` trains on the first and ``maskaae fid`` measures
against the second (the folder's test split). It then trains a small CNN digit classifier on the
8,000 labelled training images and saves its 128-unit penultimate layer as a TorchScript feature
extractor for ``maskaae fid --features FILE`` and ``maskaae train --eval-features FILE``.

    python benchmarks/mnist_eval.py --data PATH/TO/mnist-test --out runs/mnist-eval
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from maskaae_cli.data.idx import read_idx_images

EVAL_IMAGES = 2_000
SPLIT_SEED = 0
IMAGES = "t10k-images-idx3-ubyte"
LABELS = "t10k-labels-idx1-ubyte"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    sys.exit(f"error: {folder} holds no {stem}[.gz]: pass --data with the folder of the IDX files")


def read_labels(path: Path) -> torch.Tensor:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if raw[:4] != b"\x00\x00\x08\x01":
        sys.exit(f"error: {path} is not an IDX label file")
    n = int.from_bytes(raw[4:8], "big")
    return torch.frombuffer(bytearray(raw[8 : 8 + n]), dtype=torch.uint8).long()


def write_idx_images(path: Path, images: torch.Tensor) -> None:
    """uint8 (N, 1, H, W) -> an uncompressed IDX3 file."""
    n, _, h, w = images.shape
    header = b"\x00\x00\x08\x03" + b"".join(int(v).to_bytes(4, "big") for v in (n, h, w))
    path.write_bytes(header + images.contiguous().numpy().tobytes())


class DigitNet(nn.Module):
    """A small CNN; ``features`` is its 128-unit penultimate layer (the Frechet feature space)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class FeatureExtractor(nn.Module):
    """What `--features FILE` loads: images in [0, 1], (N, 1, 28, 28) -> (N, 128)."""

    def __init__(self, net: DigitNet) -> None:
        super().__init__()
        self.body = net.body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float())


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int) -> DigitNet:
    torch.set_num_threads(1)  # the same classifier on any machine with this torch build
    torch.manual_seed(seed)
    net = DigitNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = images.float() / 255.0
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            loss = F.cross_entropy(net(x[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: DigitNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = torch.cat([net(b.float() / 255.0) for b in images.split(500)])
    return float((logits.argmax(1) == labels).float().mean())


def prepare(data: Path, out: Path, epochs: int = 6, seed: int = 0) -> dict[str, Any]:
    """Write OUT/data (the IDX split), OUT/digit_features.pt and OUT/split.json; return the record."""
    images_file, labels_file = find(data, IMAGES), find(data, LABELS)
    images = read_idx_images(images_file)
    labels = read_labels(labels_file)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
    eval_idx, train_idx = perm[:EVAL_IMAGES], perm[EVAL_IMAGES:]
    folder = out / "data"
    folder.mkdir(parents=True, exist_ok=True)
    write_idx_images(folder / "train-images-idx3-ubyte", images[train_idx])
    write_idx_images(folder / "t10k-images-idx3-ubyte", images[eval_idx])
    net = train_classifier(images[train_idx], labels[train_idx], epochs, seed)
    extractor = torch.jit.script(FeatureExtractor(net))
    features = out / "digit_features.pt"
    torch.jit.save(extractor, str(features))
    record = {
        "source": {"images": images_file.name, "images_md5": md5(images_file),
                   "labels": labels_file.name, "labels_md5": md5(labels_file)},
        "split": {"seed": SPLIT_SEED, "train": len(train_idx), "eval": len(eval_idx),
                  "rule": "torch.randperm(10000, generator=manual_seed(0)): the first 2,000 "
                          "evaluate, the other 8,000 train"},
        "classifier": {"epochs": epochs, "seed": seed, "feature_dim": 128,
                       "train_accuracy": accuracy(net, images[train_idx], labels[train_idx]),
                       "eval_accuracy": accuracy(net, images[eval_idx], labels[eval_idx]),
                       "file": features.name,
                       "file_sha256": hashlib.sha256(features.read_bytes()).hexdigest()},
        "data_folder": str(folder),
    }
    (out / "split.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with the MNIST test split's "
                   "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=6)
    args = p.parse_args()
    record = prepare(args.data, args.out, args.epochs)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
