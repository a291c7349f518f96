"""MNIST, Fashion-MNIST and CIFAR-10: torchvision's download, our own careful reading.

torchvision fetches and checks the official archives (MD5); the files on disk are then read
here, so a truncated or damaged file gives one clear error that names it.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import extract_archive

from maskaae_cli.data.idx import IDX_IMAGES, corrupt, idx_file, read_idx_images
from maskaae_cli.data.image_tree import load_split_tree, split_dirs
from maskaae_cli.data.paths import data_dir
from maskaae_cli.data.splits import Splits, with_validation
from maskaae_cli.errors import UserError

if TYPE_CHECKING:
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.registry import Dataset


def load_mnist(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """MNIST (N, 1, 28, 28) under the data folder: the official train and test files."""
    return _load_idx_set(dataset, cfg, datasets.MNIST)


def load_fashion_mnist(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """Fashion-MNIST (N, 1, 28, 28) under the data folder: the official train and test files."""
    return _load_idx_set(dataset, cfg, datasets.FashionMNIST)


def _load_idx_set(dataset: Dataset, cfg: DataConfig, tv_class: type[datasets.MNIST]) -> Splits:
    """An MNIST-format set as torchvision lays it out (``<root>/<tv_class>/raw/*.gz``), fetched with
    torchvision's code when it is missing and download is on."""
    root = data_dir(cfg)
    raw = dataset.where(root)
    if any(idx_file(raw, stem) is None for stem in IDX_IMAGES):
        if not cfg.download:
            raise dataset.not_found(root)
        try:
            tv_class(str(root), train=True, download=True)
        except (RuntimeError, URLError, OSError) as exc:
            raise dataset.download_failed(root, exc, tv_class.mirrors[0]) from exc
    train, test = (read_idx_images(idx_file(raw, stem)) for stem in IDX_IMAGES)  # type: ignore[arg-type]
    return with_validation(train, test, cfg.val_fraction, cfg.split_seed)


# ----------------------------------------------------------------------------- CIFAR-10
CIFAR = datasets.CIFAR10
CIFAR_FILES = [name for name, _ in CIFAR.train_list + CIFAR.test_list]
# what numpy arrays (and Python 3 bytes) need to unpickle; nothing that runs code
_NUMPY_GLOBALS = {(mod, name) for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
                  for name in ("_reconstruct", "scalar")}
_NUMPY_GLOBALS |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts, lists, numpy arrays) and nothing executable."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def read_cifar_batch(path: Path) -> torch.Tensor:
    """One ``cifar-10-batches-py`` batch as uint8 (N, 3, 32, 32)."""
    fix = f"delete it (or the whole {path.parent.name} folder) and run again to download it afresh"
    try:
        with path.open("rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, zlib.error) as exc:
        raise corrupt(path, f"unreadable pickle: {exc or type(exc).__name__}", fix) from exc
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror or exc}): {fix}") from exc
    data = entry.get("data") if isinstance(entry, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise corrupt(path, "no uint8 'data' array of 32x32 colour images", fix)
    return torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)


CIFAR_TREE = "cifar10"  # CIFAR-10 as image files: <data dir>/cifar10/{train,test}/<class>/*.png|jpg


def cifar_tree(root: Path) -> Path | None:
    """The folder holding CIFAR-10 as ``train/`` and ``test/`` image trees, if there is one."""
    for folder in (root / CIFAR_TREE, root):
        if split_dirs(folder) is not None:
            return folder
    return None


def load_cifar10(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """CIFAR-10 (N, 3, 32, 32) from the data folder, in the first form found there: torchvision's
    ``cifar-10-batches-py/``, the official ``cifar-10-python.tar.gz`` (unpacked in place), or image files
    in ``root/cifar10/{train,test}/<class>/`` (decoded once, then cached); validation carved from train."""
    root = data_dir(cfg)
    folder = root / CIFAR.base_folder
    archive = root / CIFAR.filename
    if not all((folder / name).is_file() for name in CIFAR_FILES):
        tree = cifar_tree(root)
        if archive.is_file():
            try:
                extract_archive(str(archive), str(root))
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                raise corrupt(archive, str(exc) or type(exc).__name__,
                              "delete it and run again to download it afresh") from exc
        elif tree is not None:
            train, test = load_split_tree(tree, 32, "RGB", cache=tree / "cifar10-32px.pt")
            return with_validation(train, test, cfg.val_fraction, cfg.split_seed)
        elif not cfg.download:
            raise dataset.not_found(root)
        else:
            try:
                CIFAR(str(root), train=False, download=True)
            except (RuntimeError, URLError, OSError) as exc:
                raise dataset.download_failed(root, exc, CIFAR.url) from exc
    train = torch.cat([read_cifar_batch(folder / name) for name, _ in CIFAR.train_list])
    test = torch.cat([read_cifar_batch(folder / name) for name, _ in CIFAR.test_list])
    return with_validation(train, test, cfg.val_fraction, cfg.split_seed)
