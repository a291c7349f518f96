"""The CIFAR-10 benchmark's classifier feature space (a Frechet distance that reads objects).

Trains a small CNN on CIFAR-10's 50,000 training images (labels from the class folders of the
image tree, ``train/<class>/*``) and saves its 256-unit penultimate layer as a TorchScript feature
extractor for ``maskaae fid --features FILE`` and ``maskaae train --eval-features FILE``. One thread
and a fixed seed: the same classifier on any machine with this torch build.

    python benchmarks/cifar_eval.py --data CIFAR_DIR --out runs/cifar-eval
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from maskaae_cli.data.decode import decode_all
from maskaae_cli.data.folder import list_images

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_file import save, saved_record  # noqa: E402

SEED = 0


def labelled_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """uint8 (N, 3, 32, 32) images of ``root/split/<class>/*`` and their class indices."""
    folder = root / split
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(classes) != 10:
        sys.exit(f"error: {folder} holds {len(classes)} class folders, not CIFAR-10's 10: pass --data with "
                 "train/<class>/ and test/<class>/")
    files = list_images(folder)
    labels = torch.tensor([classes.index(p.relative_to(folder).parts[0]) for p in files])
    images = decode_all([str(p) for p in files], lambda name: Path(name).read_bytes(), "RGB", None, 32,
                        f"decoding {split}")
    return images, labels, classes


class SmallCNN(nn.Module):
    """Three conv blocks (32-64-128) and a 256-unit penultimate layer, the Frechet feature space."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

        self.body = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(),
                                  nn.Linear(128 * 4 * 4, 256), nn.ReLU())
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class FeatureExtractor(nn.Module):
    """What ``--features FILE`` loads: images in [0, 1], (N, 3, 32, 32) -> (N, 256)."""

    def __init__(self, net: SmallCNN) -> None:
        super().__init__()
        self.body = net.body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float())


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int) -> SmallCNN:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * ((len(images) + 127) // 128))
    g = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        for idx in torch.randperm(len(images), generator=g).split(128):
            x = images[idx].float() / 255.0
            flip = torch.rand(len(x), generator=g) < 0.5  # horizontal flips, the one augmentation
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(net(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"classifier epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", flush=True)
    return net.eval()


@torch.no_grad()
def accuracy(net: SmallCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = torch.cat([net(b.float() / 255.0) for b in images.split(500)])
    return float((logits.argmax(1) == labels).float().mean())


def prepare(data: Path, out: Path, epochs: int = 8) -> dict[str, Any]:
    """Write OUT/cifar_features.pt and OUT/classifier.json (reused when already there); the record."""
    features = out / "cifar_features.pt"
    record = saved_record(features, lambda r: r.get("epochs") == epochs)
    if record is not None:
        return record
    train_x, train_y, classes = labelled_split(data, "train")
    test_x, test_y, _ = labelled_split(data, "test")
    net = train_classifier(train_x, train_y, epochs)
    return save(FeatureExtractor(net), features,
                {"classes": classes, "epochs": epochs, "seed": SEED, "feature_dim": 256,
                 "train_images": len(train_x), "test_images": len(test_x),
                 "train_accuracy": accuracy(net, train_x, train_y),
                 "test_accuracy": accuracy(net, test_x, test_y)})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="CIFAR-10 as train/<class>/ and test/<class>/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=8)
    a = p.parse_args()
    print(json.dumps(prepare(a.data, a.out, a.epochs), indent=2))


if __name__ == "__main__":
    main()
