"""The shape of data at a path, found without loading it: IDX headers, image file headers."""

from __future__ import annotations

import gzip
from pathlib import Path

from maskaae_cli.errors import UserError


def idx_shape(path: Path) -> tuple[int, int, int]:
    """(1, H, W) from an IDX image file's header, or from the first one in a folder."""
    if path.is_dir():
        found = sorted(path.glob("*-images-idx3-ubyte*")) or sorted(path.glob("*idx3-ubyte*"))
        if not found:
            raise UserError(f"{path} holds no IDX image file (*-images-idx3-ubyte[.gz]): give --dataset "
                            "idx:PATH with an IDX file or a folder of them")
        path = found[0]
    if not path.is_file():
        raise UserError(f"{path} does not exist: give --dataset idx:PATH with an IDX image file or a folder")
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as f:
            header = f.read(16)
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read {path} ({exc}): replace it") from exc
    if len(header) < 16 or header[:4] != b"\x00\x00\x08\x03":
        raise UserError(f"{path} is not an IDX file of uint8 images: replace it")
    return 1, int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")


def folder_shape(path: Path, side: int) -> tuple[int, int, int]:
    """(C, side, side) that ``folder:PATH`` loads as: C = 1 when every image is grey, else 3."""
    from maskaae_cli.data.folder import all_grey, list_images  # Pillow: only when probing

    return (1 if all_grey(list_images(path)) else 3), side, side
