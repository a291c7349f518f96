"""CelebA ("celeba140"): aligned faces, centre-cropped and resized, cached as one tensor.

Accepts, under ``<data dir>/celeba`` or ``<data dir>``, the unpacked ``img_align_celeba/``
folder or the ``img_align_celeba.zip`` archive (read in place), plus the official
``list_eval_partition.txt`` when present. torchvision's Google-Drive download is tried only
when neither exists, since it often fails on the Drive quota.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torchvision import datasets
from torchvision.datasets.utils import download_file_from_google_drive

from maskaae_cli.data.decode import decode_all
from maskaae_cli.data.decoded_cache import read_cache, write_cache
from maskaae_cli.data.idx import corrupt
from maskaae_cli.data.paths import data_dir
from maskaae_cli.data.registry import DATASETS
from maskaae_cli.data.splits import Splits, split_by_partition, three_way_split
from maskaae_cli.errors import UserError

if TYPE_CHECKING:
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.registry import Dataset

IMAGES = "img_align_celeba"
ZIP = f"{IMAGES}.zip"
PARTITION = "list_eval_partition.txt"
URL = DATASETS["celeba"].url
SUFFIXES = (".jpg", ".png")


def _find(root: Path) -> Path | None:
    """The folder holding ``img_align_celeba/`` or ``img_align_celeba.zip``, if any."""
    for d in (root / "celeba", root):
        if (d / IMAGES).is_dir() or (d / ZIP).is_file():
            return d
    return None


def _download(dataset: Dataset, root: Path) -> Path:
    folder = dataset.where(root)
    wanted = {ZIP, PARTITION}
    try:
        for file_id, md5, name in datasets.CelebA.file_list:
            if name in wanted:
                download_file_from_google_drive(file_id, str(folder), name, md5)
    except Exception as exc:  # gdown missing, Drive quota, no network: all mean "do it by hand"
        raise dataset.download_failed(root, exc, "Google Drive") from exc
    return folder


def _source(folder: Path) -> tuple[list[str], Callable[[str], bytes]]:
    """Sorted image file names and a reader of their bytes (from the folder or the zip)."""
    images = folder / IMAGES
    if images.is_dir():
        names = sorted(p.name for p in images.iterdir() if p.suffix.lower() in SUFFIXES)
        return names, lambda name: (images / name).read_bytes()
    try:
        archive = zipfile.ZipFile(folder / ZIP)
        members = {Path(i.filename).name: i.filename for i in archive.infolist()
                   if not i.is_dir() and Path(i.filename).suffix.lower() in SUFFIXES}
    except (zipfile.BadZipFile, OSError) as exc:
        raise corrupt(folder / ZIP, str(exc), f"delete it and download it again from {URL}") from exc
    lock = threading.Lock()

    def read(name: str) -> bytes:
        with lock:
            try:
                return archive.read(members[name])
            except (zipfile.BadZipFile, EOFError) as exc:
                raise corrupt(folder / ZIP, f"{name}: {exc}",
                              f"delete it and download it again from {URL}") from exc

    return sorted(members), read


def read_partition(path: Path, names: list[str]) -> torch.Tensor:
    """Official split per image (0 train, 1 validation, 2 test); unlisted images go to train."""
    table: dict[str, int] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise corrupt(path, f"line {n} is not 'NAME 0|1|2'",
                          f"delete it and download it again from {URL}")
        table[parts[0]] = int(parts[1])
    return torch.tensor([table.get(name, 0) for name in names], dtype=torch.int8)


def load_celeba(dataset: Dataset, root: Path, crop: int, size: int,
                download: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 (N, 3, size, size) faces and the official partition (None if the file is absent)."""
    folder = _find(root)
    if folder is None:
        if not download:
            raise dataset.not_found(root)
        folder = _download(dataset, root)
    names, read = _source(folder)
    if not names:
        raise UserError(f"no images in {folder / IMAGES}: unpack {ZIP} from {URL} there")
    cache = folder / f"celeba-crop{crop}-{size}px.pt"
    images = (read_cache(cache, names) or {}).get("images")
    if images is None:
        images = decode_all(names, read, "RGB", crop, size, f"decoding {len(names)} CelebA images")
        write_cache(cache, names, images=images)
    partition = folder / PARTITION
    return images, read_partition(partition, names) if partition.is_file() else None


def load_celeba_splits(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """CelebA's splits: the official partition, else a three-way split that ``notes`` tells of."""
    root = data_dir(cfg)
    images, partition = load_celeba(dataset, root, cfg.celeba_crop, cfg.image_side(), cfg.download)
    if partition is not None:
        return split_by_partition(images, partition)
    splits = three_way_split(images, cfg.val_fraction, cfg.split_seed)
    notes.append(f"celeba: no list_eval_partition.txt beside the images in {root}: a random "
                 f"{len(splits.test)} of the {len(images)} faces are the test split, {len(splits.val)} "
                 f"of the rest validation (--split-seed {cfg.split_seed})")
    return splits
