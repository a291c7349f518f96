"""Colour data from the local copies users have: CIFAR-10 in each of its forms, split folders, CelebA
without its partition file, Fashion-MNIST in any gzip wrapper; and the presets they get on a CPU."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from image_fixtures import digits, idx_bytes, write_celeba, write_cifar
from PIL import Image

from maskaae_cli.config import DataConfig
from maskaae_cli.data.registry import load_splits
from maskaae_cli.presets import choose_preset


def cfg_for(dataset: str, root: Path | None = None, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, data_dir=str(root) if root else None, download=False, **kw)


def colour(n: int, seed: int, size: int = 32) -> np.ndarray:
    """n random colour images, uint8 (n, size, size, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def write_tree(root: Path, counts: dict[str, int], ext: str = ".png",
               size: int = 32) -> dict[str, np.ndarray]:
    """``root/<split>/<class>/NNNN.ext`` for two classes; the pixels written, in sorted-path order."""
    written = {}
    for seed, (split, n) in enumerate(counts.items()):
        pixels = colour(n, seed, size)
        for i, img in enumerate(pixels):
            folder = root / split / ("cat" if i % 2 else "airplane")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:04d}{ext}", quality=95)
        order = sorted(range(n), key=lambda i: f"{'cat' if i % 2 else 'airplane'}/{i:04d}")
        written[split] = pixels[order].transpose(0, 3, 1, 2)
    return written


def test_cifar10_image_tree_loads_its_own_split_and_is_cached(tmp_path):
    written = write_tree(tmp_path / "cifar10", {"train": 20, "test": 6})
    train, val, test = load_splits(cfg_for("cifar10", tmp_path))
    assert (len(train), len(val), len(test)) == (18, 2, 6) and test.shape[1:] == (3, 32, 32)
    assert torch.equal(test, torch.from_numpy(written["test"]))  # PNG: the pixels as written
    assert sorted(map(bytes, torch.cat([train, val]).numpy())) == sorted(map(bytes, written["train"]))
    cache = tmp_path / "cifar10" / "cifar10-32px.pt"
    assert cache.is_file()
    (tmp_path / "cifar10" / "test" / "cat" / "0001.png").unlink()  # a changed tree decodes again
    assert len(load_splits(cfg_for("cifar10", tmp_path))[2]) == 5


def test_cifar10_jpeg_tree_at_the_data_dir_itself(tmp_path):
    write_tree(tmp_path, {"train": 10, "test": 4}, ext=".jpg")
    train, val, test = load_splits(cfg_for("cifar10", tmp_path))
    assert (len(train) + len(val), len(test)) == (10, 4) and train.dtype == torch.uint8


def test_cifar10_official_archive_is_unpacked_in_place(tmp_path):
    folder = write_cifar(tmp_path / "made", per_batch=4, n_test=3)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    shutil.rmtree(tmp_path / "made")
    train, val, test = load_splits(cfg_for("cifar10", tmp_path))
    assert (len(train) + len(val), len(test)) == (20, 3)
    assert (tmp_path / "cifar-10-batches-py" / "test_batch").is_file()


def test_split_folder_keeps_train_and_test(tmp_path):
    written = write_tree(tmp_path / "imgs", {"train": 12, "test": 5})
    train, val, test = load_splits(cfg_for(f"folder:{tmp_path / 'imgs'}", image_size=32))
    assert (len(train), len(val), len(test)) == (11, 1, 5)
    assert torch.equal(test, torch.from_numpy(written["test"]))
    assert not any((tmp_path / "imgs").glob("*.pt"))  # nothing written into a user's folder


def test_fashion_mnist_in_another_gzip_wrapper(tmp_path):
    """Debian recompresses the .gz files (other header, level): the images inside are what count."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", 30, 0), ("t10k", 10, 1)):
        data = gzip.compress(idx_bytes(digits(n, seed)), compresslevel=9, mtime=0)
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(data)
    train, val, test = load_splits(cfg_for("fashion-mnist", tmp_path))
    assert (len(train) + len(val), len(test)) == (30, 10)
    assert torch.equal(test[:, 0], torch.from_numpy(digits(10, 1)))


def test_celeba_without_partition_says_which_split_it_made(tmp_path):
    write_celeba(tmp_path, n=20, partition=False)
    notes: list[str] = []
    train, val, test = load_splits(cfg_for("celeba", tmp_path, image_size=64), notes)
    assert (len(train), len(val), len(test)) == (16, 2, 2) and test.shape[1:] == (3, 64, 64)
    (line,) = notes
    assert "no list_eval_partition.txt" in line and "2 of the 20 faces are the test split" in line


def test_a_split_colour_folder_takes_the_cpu_presets(tmp_path):
    write_tree(tmp_path / "imgs", {"train": 2, "test": 2})
    assert choose_preset(f"folder:{tmp_path / 'imgs'}", False, 32).name == "cifar10-cpu"
    assert choose_preset(f"folder:{tmp_path / 'imgs'}", True, 32).name == "cifar10"


@pytest.mark.slow
def test_a_run_starts_with_the_preset_line(tmp_path):
    """Lightning's accelerator banners are gone: the first line a user reads is the preset."""
    result = subprocess.run([sys.executable, "-m", "maskaae_cli", "train", "--max-steps", "2", "--m", "4",
                             "--eval-every", "2", "--threads", "1", "--no-progress",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert lines[0].startswith("preset synthetic:"), lines[:3]
    assert not any("available:" in line for line in lines)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 2
