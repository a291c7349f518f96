"""``--dataset folder:PATH``: every png/jpg image under a folder, as one uint8 tensor."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from maskaae_cli.data.decode import GREY_MODES, decode_all, too_large
from maskaae_cli.errors import UserError
from maskaae_cli.run_files import RUN_RECORD

EXTENSIONS = (".png", ".jpg", ".jpeg")


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, skipping maskaae run folders), in a fixed order."""
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist: give --dataset folder:PATH with a "
                        "folder of .png/.jpg files")
    runs = {p.parent for p in folder.rglob(RUN_RECORD) if p.is_file()}  # maskaae run folders: not data
    files = sorted((p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()
                    and not runs.intersection(p.parents)), key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise UserError(f"no images in {folder}: it needs .png or .jpg files (subfolders count)")
    return files


def all_grey(files: list[Path]) -> bool:
    """True when every file is a greyscale image (reads only the headers)."""
    for path in files:
        try:
            with Image.open(path) as img:
                if img.mode not in GREY_MODES:
                    return False
        except Image.DecompressionBombError as exc:
            raise too_large(str(path), exc) from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"cannot read image {path} ({exc}): replace or remove the file") from exc
    return True


def load_folder(folder: Path, size: int) -> torch.Tensor:
    """uint8 (N, C, size, size): centre-cropped to a square and resized; C = 1 if all are grey, else 3."""
    files = list_images(folder)
    mode = "L" if all_grey(files) else "RGB"
    names = [str(p) for p in files]
    return decode_all(names, lambda name: Path(name).read_bytes(), mode, None, size,
                      f"decoding {len(files)} images from {folder}")
