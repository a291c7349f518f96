"""Image trees that come split: ``ROOT/train/**`` and ``ROOT/test/**`` (CIFAR-10 as PNG / JPEG
files, or ``folder:`` data a user has split), decoded into two uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import torch

from maskaae_cli.data.decode import decode_all
from maskaae_cli.data.decoded_cache import read_cache, write_cache
from maskaae_cli.data.folder import all_grey, list_images

SPLITS = ("train", "test")


def split_dirs(root: Path) -> tuple[Path, Path] | None:
    """``(root/train, root/test)`` when both are folders, else None."""
    train, test = (root / s for s in SPLITS)
    return (train, test) if train.is_dir() and test.is_dir() else None


def load_split_tree(root: Path, size: int, mode: str | None = None,
                    cache: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) uint8 (N, C, size, size) from ``root/train`` and ``root/test``.

    ``mode`` is ``"L"`` or ``"RGB"`` (None: grey only when every image is). With ``cache``, the
    decoded tensors are kept there, keyed by the files' names and sizes.
    """
    dirs = split_dirs(root)
    assert dirs is not None, f"{root} has no train/ and test/ folders"
    files = [list_images(d) for d in dirs]
    if mode is None:
        mode = "L" if all_grey(files[0] + files[1]) else "RGB"
    key = [f"{p.relative_to(root).as_posix()}:{p.stat().st_size}" for split in files for p in split]
    key.append(f"{mode}-{size}px")
    saved = read_cache(cache, key) if cache is not None else None
    if saved is not None and {"train", "test"} <= saved.keys():
        return saved["train"], saved["test"]
    train, test = (decode_all([str(p) for p in split], lambda name: Path(name).read_bytes(), mode, None, size,
                              f"decoding {len(split)} {name} images from {root}")
                   for split, name in zip(files, SPLITS, strict=True))
    if cache is not None:
        write_cache(cache, key, train=train, test=test)
    return train, test
