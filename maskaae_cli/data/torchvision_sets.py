"""MNIST, Fashion-MNIST and CIFAR-10: torchvision's download, our own careful reading.

torchvision fetches and checks the official archives (MD5); the files on disk are then read
here, so a truncated or damaged file gives one clear error that names it.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import extract_archive

from maskaae_cli.data.idx import corrupt, idx_file, read_idx_images
from maskaae_cli.data.image_tree import load_split_tree, split_dirs
from maskaae_cli.errors import UserError

Splits = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class IdxSet:
    """An MNIST-format dataset as torchvision lays it out: ``<root>/<folder>/raw/*.gz``."""

    name: str
    tv_class: type[datasets.MNIST]

    @property
    def url(self) -> str:
        return self.tv_class.mirrors[0]


IDX_SETS = {"mnist": IdxSet("MNIST", datasets.MNIST),
            "fashion-mnist": IdxSet("Fashion-MNIST", datasets.FashionMNIST)}
IDX_IMAGES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def download_failed(name: str, url: str, exc: Exception, by_hand: str) -> UserError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(f"could not download {name} from {url} ({reason}): check the network connection, "
                     f"or {by_hand}")


def load_idx_set(dataset: str, root: Path, download: bool) -> Splits:
    """(train, test) uint8 tensors (N, 1, 28, 28) of MNIST or Fashion-MNIST under ``root``."""
    spec = IDX_SETS[dataset]
    raw = root / spec.tv_class.__name__ / "raw"
    files = [f"{stem}.gz" for stem in IDX_IMAGES]
    by_hand = f"put {' and '.join(files)} from {spec.url} into {raw}"
    if any(idx_file(raw, stem) is None for stem in IDX_IMAGES):
        if not download:
            raise UserError(f"{spec.name} not found in {raw} (download is off): {by_hand}, "
                            "or run with --download")
        try:
            spec.tv_class(str(root), train=True, download=True)
        except (RuntimeError, URLError, OSError) as exc:
            raise download_failed(spec.name, spec.url, exc, by_hand) from exc
    train, test = (read_idx_images(idx_file(raw, stem)) for stem in IDX_IMAGES)  # type: ignore[arg-type]
    return train, test


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


def load_cifar10(root: Path, download: bool) -> Splits:
    """(train, test) uint8 tensors (N, 3, 32, 32) from ``root``, in the first form found there:
    torchvision's ``cifar-10-batches-py/``, the official ``cifar-10-python.tar.gz`` (unpacked in
    place), or image files in ``root/cifar10/{train,test}/<class>/`` (decoded once, then cached)."""
    folder = root / CIFAR.base_folder
    archive = root / CIFAR.filename
    tree_dir = root / CIFAR_TREE
    by_hand = (f"download {CIFAR.url} and put it (or its unpacked {CIFAR.base_folder}/) in {root}, or put "
               f"the images as {tree_dir}/train/<class>/*.png and {tree_dir}/test/<class>/*.png")
    if not all((folder / name).is_file() for name in CIFAR_FILES):
        tree = cifar_tree(root)
        if archive.is_file():
            try:
                extract_archive(str(archive), str(root))
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                raise corrupt(archive, str(exc) or type(exc).__name__,
                              "delete it and run again to download it afresh") from exc
        elif tree is not None:
            return load_split_tree(tree, 32, "RGB", cache=tree / "cifar10-32px.pt")
        elif not download:
            raise UserError(f"CIFAR-10 not found in {root} (download is off): {by_hand}, or run with "
                            "--download")
        else:
            try:
                CIFAR(str(root), train=False, download=True)
            except (RuntimeError, URLError, OSError) as exc:
                raise download_failed("CIFAR-10", CIFAR.url, exc, by_hand) from exc
    train = torch.cat([read_cifar_batch(folder / name) for name, _ in CIFAR.train_list])
    test = torch.cat([read_cifar_batch(folder / name) for name, _ in CIFAR.test_list])
    return train, test
