"""Writers of tiny datasets in their real on-disk formats (no network needed)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))  # fake_cifar10


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of uint8 data (magic 0x0000080N, big-endian sizes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def digits(n: int, seed: int, size: int = 28) -> np.ndarray:
    """n grey images (uint8, n x size x size), each with a bright square at a random place."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size), dtype=np.uint8)
    for img in out:
        r, c = rng.integers(2, size - 10, size=2)
        img[r:r + 8, c:c + 8] = 255
    return out


def write_idx_set(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20) -> Path:
    """torchvision's layout: ``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(digits(n, seed))))
        labels = np.arange(n, dtype=np.uint8) % 10
        (raw / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return raw


def write_cifar(root: Path, per_batch: int = 10, n_test: int = 10) -> Path:
    """``root/cifar-10-batches-py`` with data_batch_1..5, test_batch and batches.meta (pickles): the
    benchmarks' fake CIFAR-10 writer at test size."""
    from fake_cifar10 import write_fake_cifar10

    return write_fake_cifar10(root, n_train=5 * per_batch, n_test=n_test)


def face(border: tuple[int, int, int], centre: tuple[int, int, int], inner: int = 150) -> Image.Image:
    """A 178x218 image (CelebA's aligned size) of one colour with an ``inner`` square of another."""
    img = Image.new("RGB", (178, 218), border)
    left, top = (178 - inner) // 2, (218 - inner) // 2
    img.paste(centre, (left, top, left + inner, top + inner))
    return img


def write_celeba(root: Path, n: int = 12, partition: bool = True) -> Path:
    """``root/celeba/img_align_celeba/000001.jpg ...`` and ``list_eval_partition.txt`` (6/3/3 split)."""
    folder = root / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        face((255, 0, 0), (0, 255, 0)).save(images / f"{i:06d}.jpg", quality=95)
    if partition:
        split = [0] * (n // 2) + [1] * (n // 4) + [2] * (n - n // 2 - n // 4)
        (folder / "list_eval_partition.txt").write_text(
            "".join(f"{i:06d}.jpg {s}\n" for i, s in enumerate(split, 1)))
    return folder


def write_image_folder(root: Path, n: int = 12, grey: bool = False, size: tuple[int, int] = (40, 30)) -> Path:
    """A folder (with a subfolder) of png and jpg images of assorted sizes."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = size[0] + i, size[1] + 2 * i
        pixels = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(pixels, "L" if grey else "RGB")
        target = root / ("sub" if i % 3 == 0 else "") / f"img{i:02d}.{'png' if i % 2 else 'jpg'}"
        img.save(target)
    (root / "notes.txt").write_text("not an image")
    return root
