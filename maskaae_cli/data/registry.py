"""The datasets ``--dataset`` takes, one entry each: its loader, the shape of one sample, where its
train / validation / test splits come from, its presets, and what to put where when it is missing.

Adding a dataset is one :func:`register_dataset` call below (its loader may live in a module of its
own) and its preset(s) in recipes/. This module imports neither torch nor the loaders (each is
imported when its data is loaded), so the command line reads it for its help at no cost.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maskaae_cli.data.probe import folder_shape, idx_shape
from maskaae_cli.errors import UserError

if TYPE_CHECKING:
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.splits import Splits

VAL_SPLIT = "validation: a random data.val_fraction of the training images (data.split_seed)"


@dataclass(frozen=True)
class Dataset:
    """One entry of the registry: a dataset by name, or (a name ending in ":") data at a path."""

    name: str  # what --dataset takes; for data at a path, the prefix ("folder:") that the path follows
    title: str  # its name in messages ("Fashion-MNIST")
    loader: str  # "module:function", called as function(dataset, cfg, notes) -> Splits
    shape: Callable[[DataConfig], tuple[int, ...]]  # one sample as the nets see it, found without loading
    splits: str  # where the train / validation / test splits come from
    missing: str = ""  # what to put where when it is missing ({folder}: where it is looked for; {url})
    words: str = ""  # what --dataset's help says after the name
    folder: str = ""  # where under the data folder (--data-dir) it lives
    url: str = ""  # where to get it by hand
    presets: tuple[str, ...] = ()  # its paper-scale (or only) preset first, then any others
    cpu_preset: str | None = None  # the preset a run on the CPU takes, where it has one
    preset_reason: str = ""  # why its preset is taken, where that does not depend on the hardware
    downloads: bool = False  # fetched when missing (unless --no-download)
    image: bool = True  # uint8 images (N, C, H, W); else float vectors (N, d)

    @property
    def at_path(self) -> bool:
        return self.name.endswith(":")

    def load(self, cfg: DataConfig, notes: list[str]) -> Splits:
        """Its (train, val, test) splits for ``cfg``; ``notes`` gets a line for each choice the user
        should know of (a split made up here)."""
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(module), function)(self, cfg, notes)

    def where(self, root: Path) -> Path:
        """Where under the data folder ``root`` it is looked for."""
        return root / self.folder if self.folder else root

    def missing_line(self, root: Path) -> str:
        return self.missing.format(folder=self.where(root), url=self.url)

    def not_found(self, root: Path) -> UserError:
        return UserError(f"{self.title} not found in {self.where(root)} (download is off): "
                         f"{self.missing_line(root)}, or run with --download")

    def download_failed(self, root: Path, exc: Exception, source: str = "") -> UserError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return UserError(f"could not download {self.title} from {source or self.url} ({reason}): check the "
                         f"network connection, or {self.missing_line(root)}")


DATASETS: dict[str, Dataset] = {}


def data_path(dataset: str) -> Path:
    """The path of data at a path: ``folder:~/faces`` -> ``/home/me/faces``."""
    return Path(dataset.partition(":")[2]).expanduser()


def register_dataset(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry (its name must be new)."""
    if dataset.name in DATASETS:
        raise ValueError(f"dataset {dataset.name!r} is registered already")
    DATASETS[dataset.name] = dataset
    return dataset


def lookup(name: str) -> Dataset:
    """The registry's entry for ``--dataset name``; an unknown name is one line listing the known ones."""
    found = DATASETS.get(name)
    if found is not None and not found.at_path:
        return found
    for dataset in DATASETS.values():
        if dataset.at_path and name.startswith(dataset.name):
            return dataset
    raise UserError(f"unknown dataset {name!r}: use one of {dataset_choices()}")


def load_splits(cfg: DataConfig, notes: list[str] | None = None) -> Splits:
    """The (train, val, test) splits of ``cfg.dataset``; ``notes`` gets a line for each choice the user
    should know of (a split made up here)."""
    return lookup(cfg.dataset).load(cfg, [] if notes is None else notes)


def dataset_choices() -> str:
    """What ``--dataset`` takes, in words: "synthetic (...), mnist, ..., or idx:PATH for ..."."""
    words = [f"{d.name}{' ' if d.words and not d.at_path else ''}{d.words}" for d in DATASETS.values()]
    return f"{', '.join(words[:-1])}, or {words[-1]}"


def download_titles() -> list[str]:
    """The titles of the datasets fetched when missing."""
    return [d.title for d in DATASETS.values() if d.downloads]


def preset_names() -> list[str]:
    """Every dataset's presets: the paper-scale one, the CPU-sized one, then any others."""
    return [name for d in DATASETS.values()
            for name in (*d.presets[:1], *([d.cpu_preset] if d.cpu_preset else []), *d.presets[1:])]


def closest_builtin(shape: tuple[int, ...]) -> Dataset:
    """The built-in image dataset nearest to images of ``shape`` (C, H, W): the same channels, then the
    nearest height (the first registered on a tie); its presets fit such data best."""
    from maskaae_cli.config import DataConfig  # config.py imports this module: here, not at the top

    default = DataConfig()
    images = [d for d in DATASETS.values() if d.image and not d.at_path]
    same = [d for d in images if d.shape(default)[0] == shape[0]] or images
    return min(same, key=lambda d: abs(d.shape(default)[1] - shape[1]))


def _official(folder_words: str) -> str:
    return f"the official training and test {folder_words}; {VAL_SPLIT}"


register_dataset(Dataset(
    "synthetic", "synthetic data", "maskaae_cli.data.synthetic:load_synthetic",
    lambda c: (c.data_dim,), "drawn: data.n_train / n_val / n_test samples x = f(z), each split its own z",
    words="(default; no download)", presets=("synthetic", "synthetic-reference"),
    preset_reason="the embedded synthetic data (the defaults)", image=False))
register_dataset(Dataset(
    "mnist", "MNIST", "maskaae_cli.data.torchvision_sets:load_mnist", lambda c: (1, 28, 28),
    _official("files"),
    "put train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz from {url} into {folder}",
    folder="MNIST/raw", url="https://ossci-datasets.s3.amazonaws.com/mnist/", presets=("mnist",),
    cpu_preset="mnist-cpu", downloads=True))
register_dataset(Dataset(
    "fashion-mnist", "Fashion-MNIST", "maskaae_cli.data.torchvision_sets:load_fashion_mnist",
    lambda c: (1, 28, 28), _official("files"),
    "put train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz from {url} into {folder}",
    folder="FashionMNIST/raw", url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    presets=("fashion-mnist",), cpu_preset="fashion-mnist-cpu", downloads=True))
register_dataset(Dataset(
    "cifar10", "CIFAR-10", "maskaae_cli.data.torchvision_sets:load_cifar10", lambda c: (3, 32, 32),
    _official("batches (or image trees)"),
    "download {url} and put it (or its unpacked cifar-10-batches-py/) in {folder}, or put the images as "
    "{folder}/cifar10/train/<class>/*.png and {folder}/cifar10/test/<class>/*.png",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", presets=("cifar10",),
    cpu_preset="cifar10-cpu", downloads=True))
register_dataset(Dataset(
    "celeba", "CelebA", "maskaae_cli.data.celeba:load_celeba_splits",
    lambda c: (3, c.image_side(), c.image_side()),
    "the official list_eval_partition.txt; without it a random data.val_fraction of the faces is the test "
    "split and as much of the rest validation (data.split_seed)",
    "put img_align_celeba.zip (or its unpacked img_align_celeba/ folder) and list_eval_partition.txt from "
    "{url} (Google Drive link there) in {folder}",
    folder="celeba", url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html", presets=("celeba",),
    cpu_preset="celeba-cpu", downloads=True))
register_dataset(Dataset(
    "folder:", "folder", "maskaae_cli.data.path_data:load_folder_data",
    lambda c: folder_shape(data_path(c.dataset), c.image_side()),
    "PATH/train and PATH/test where both exist (validation carved from train), else a random "
    "data.val_fraction of the images is test and as much of the rest validation",
    "give --dataset folder:PATH with a folder of .png/.jpg files", words="PATH for your own png/jpg images"))
register_dataset(Dataset(
    "idx:", "IDX files", "maskaae_cli.data.path_data:load_idx_data",
    lambda c: idx_shape(data_path(c.dataset)),
    "train-images- and t10k-images-idx3-ubyte as train and test (validation carved from train), or one "
    "file split three ways as folder: data are",
    "give --dataset idx:PATH with an IDX image file or a folder holding train-images-idx3-ubyte[.gz] and "
    "t10k-images-idx3-ubyte[.gz]", words="PATH for MNIST-format IDX files"))
