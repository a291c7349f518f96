"""Image datasets: pick the loader for ``data.dataset`` and make train / validation / test splits.

Every split is a uint8 tensor (N, C, H, W); the data module scales batches to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch

from maskaae_cli.config import DataConfig
from maskaae_cli.data.celeba import load_celeba
from maskaae_cli.data.folder import load_folder
from maskaae_cli.data.idx import idx_file, read_idx_images
from maskaae_cli.data.image_tree import load_split_tree, split_dirs
from maskaae_cli.data.paths import data_dir
from maskaae_cli.data.torchvision_sets import IDX_IMAGES, IDX_SETS, load_cifar10, load_idx_set
from maskaae_cli.errors import UserError

Splits = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
DEFAULT_SIZE = 64


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def carve_validation(train: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val): a random ``fraction`` of ``train`` (at least one sample), fixed by ``seed``."""
    n_val = max(1, round(len(train) * fraction))
    if n_val >= len(train):
        raise UserError(f"only {len(train)} training images: too few to hold out a validation set")
    perm = _permutation(len(train), seed)
    return train[perm[n_val:]], train[perm[:n_val]]


def three_way_split(data: torch.Tensor, fraction: float, seed: int) -> Splits:
    """Train / val / test of one pool: ``fraction`` of it for test, then ``fraction`` of the rest for val."""
    if len(data) < 3:
        raise UserError(f"only {len(data)} images: at least 3 are needed for train, validation and test")
    n_test = min(len(data) - 2, max(1, round(len(data) * fraction)))
    perm = _permutation(len(data), seed)
    train, val = carve_validation(data[perm[n_test:]], fraction, seed + 1)
    return train, val, data[perm[:n_test]]


def split_by_partition(data: torch.Tensor, partition: torch.Tensor) -> Splits:
    """Split by labels 0 / 1 / 2; sorted labels (the official CelebA order) give views, not copies."""
    if bool((partition[1:] >= partition[:-1]).all()):
        counts = [int((partition == k).sum()) for k in range(3)]
        parts = torch.split(data, counts)
    else:
        parts = tuple(data[partition == k] for k in range(3))
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        if len(part) == 0:
            raise UserError(f"the official partition leaves the {name} split empty: remove or fix "
                            "list_eval_partition.txt")
    return parts  # type: ignore[return-value]


def load_idx_path(path: Path, cfg: DataConfig) -> Splits:
    """``idx:PATH``: a folder with train-/t10k-images-idx3-ubyte[.gz], or one IDX image file."""
    if path.is_file():
        return three_way_split(read_idx_images(path, fix="replace it"), cfg.val_fraction, cfg.split_seed)
    if not path.is_dir():
        raise UserError(f"{path} does not exist: give --dataset idx:PATH with an IDX image file or a folder "
                        "holding train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]")
    found = [idx_file(path, stem) for stem in IDX_IMAGES]
    if all(found):
        train, test = (read_idx_images(f, fix="replace it") for f in found)  # type: ignore[arg-type]
        return (*carve_validation(train, cfg.val_fraction, cfg.split_seed), test)
    files = [f for f in found if f] or sorted(path.glob("*-idx3-ubyte*"))
    if len(files) != 1:
        raise UserError(f"{path} holds {len(files)} IDX image files: give one file as idx:FILE, or a folder "
                        "with train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]")
    return three_way_split(read_idx_images(files[0], fix="replace it"), cfg.val_fraction, cfg.split_seed)


def load_image_splits(cfg: DataConfig, notes: list[str] | None = None) -> Splits:
    """(train, val, test) uint8 tensors (N, C, H, W) for ``cfg.dataset``.

    ``notes`` gets one line for each choice the user should know of (a split made up here).
    """
    name = cfg.dataset
    if name.startswith("folder:"):
        folder = Path(name[len("folder:"):]).expanduser()
        if split_dirs(folder) is not None:  # train/ and test/: kept, validation carved from train
            train, test = load_split_tree(folder, cfg.image_size or DEFAULT_SIZE)
            return (*carve_validation(train, cfg.val_fraction, cfg.split_seed), test)
        images = load_folder(folder, cfg.image_size or DEFAULT_SIZE)
        return three_way_split(images, cfg.val_fraction, cfg.split_seed)
    if name.startswith("idx:"):
        return load_idx_path(Path(name[len("idx:"):]).expanduser(), cfg)
    root = data_dir(cfg)
    if name in IDX_SETS:
        train, test = load_idx_set(name, root, cfg.download)
    elif name == "cifar10":
        train, test = load_cifar10(root, cfg.download)
    elif name == "celeba":
        images, partition = load_celeba(root, cfg.celeba_crop, cfg.image_size or DEFAULT_SIZE, cfg.download)
        if partition is not None:
            return split_by_partition(images, partition)
        splits = three_way_split(images, cfg.val_fraction, cfg.split_seed)
        if notes is not None:
            notes.append(f"celeba: no list_eval_partition.txt beside the images in {root}: a random "
                         f"{len(splits[2])} of the {len(images)} faces are the test split, {len(splits[1])} "
                         f"of the rest validation (--split-seed {cfg.split_seed})")
        return splits
    else:
        raise UserError(f"unknown image dataset {name!r}")
    return (*carve_validation(train, cfg.val_fraction, cfg.split_seed), test)
