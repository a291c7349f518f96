"""Data at a path: ``folder:PATH`` (png/jpg images) and ``idx:PATH`` (MNIST-format files)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from maskaae_cli.data.folder import load_folder
from maskaae_cli.data.idx import IDX_IMAGES, idx_file, read_idx_images
from maskaae_cli.data.image_tree import load_split_tree, split_dirs
from maskaae_cli.data.registry import data_path
from maskaae_cli.data.splits import Splits, three_way_split, with_validation
from maskaae_cli.errors import UserError

if TYPE_CHECKING:
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.registry import Dataset


def load_folder_data(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """``folder:PATH``: its train/ and test/ kept (validation carved from train) when it has both, else
    every image under it split three ways; resized to --image-size."""
    folder = data_path(cfg.dataset)
    if split_dirs(folder) is not None:
        train, test = load_split_tree(folder, cfg.image_side())
        return with_validation(train, test, cfg.val_fraction, cfg.split_seed)
    return three_way_split(load_folder(folder, cfg.image_side()), cfg.val_fraction, cfg.split_seed)


def load_idx_data(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """``idx:PATH``: a folder with train-/t10k-images-idx3-ubyte[.gz], or one IDX image file."""
    path = data_path(cfg.dataset)
    if path.is_file():
        return three_way_split(read_idx_images(path, fix="replace it"), cfg.val_fraction, cfg.split_seed)
    if not path.is_dir():
        raise UserError(f"{path} does not exist: {dataset.missing}")
    found = [idx_file(path, stem) for stem in IDX_IMAGES]
    if all(found):
        train, test = (read_idx_images(f, fix="replace it") for f in found)  # type: ignore[arg-type]
        return with_validation(train, test, cfg.val_fraction, cfg.split_seed)
    files = [f for f in found if f] or sorted(path.glob("*-idx3-ubyte*"))
    if len(files) != 1:
        raise UserError(f"{path} holds {len(files)} IDX image files: give one file as idx:FILE, or a folder "
                        "with train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz]")
    return three_way_split(read_idx_images(files[0], fix="replace it"), cfg.val_fraction, cfg.split_seed)
