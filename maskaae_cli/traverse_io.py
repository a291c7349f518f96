"""Where a traversal's files go, the checks made before anything is computed, and the writing.

``--out NAME.png`` is the picture; ``NAME.npz`` (the raw tensors) and, for vector models,
``NAME.csv`` (the change of the decoded vector per dimension and value) are written beside it.
Without ``--out`` they go into the run folder as traverse.png / .npz / .csv, where
``maskaae inspect`` finds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from maskaae_cli.atomic_io import atomic_write, atomic_write_bytes, atomic_write_text
from maskaae_cli.errors import UserError
from maskaae_cli.run_files import TRAVERSE_PICTURE
from maskaae_cli.run_folder import run_folder_of as run_folder
from maskaae_cli.traverse import Traversal
from maskaae_cli.writable import writable_ancestor


def run_folder_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint argument belongs to: the folder itself, the folder of a checkpoint
    file, or the run above checkpoints/last.ckpt."""
    if checkpoint.is_dir():
        return checkpoint
    return run_folder(checkpoint) or checkpoint.parent


def default_output(checkpoint: Path) -> Path:
    return run_folder_of(checkpoint) / TRAVERSE_PICTURE


def output_paths(picture: Path, is_image: bool) -> dict[str, Path]:
    """{"picture": NAME.png, "tensors": NAME.npz, and for vectors "changes": NAME.csv}."""
    paths = {"picture": picture, "tensors": picture.with_suffix(".npz")}
    if not is_image:
        paths["changes"] = picture.with_suffix(".csv")
    return paths


def existing_outputs(checkpoint: Path) -> list[Path]:
    """The traversal files of a checkpoint's run folder that exist (picture first)."""
    picture = default_output(checkpoint)
    return [p for p in output_paths(picture, False).values() if p.is_file()]


def check_outputs(paths: dict[str, Path], overwrite: bool) -> None:
    """Refuse, before any work: --out not a .png, a folder in the way, an existing file without
    ``overwrite``, or a place where nothing can be written."""
    picture = paths["picture"]
    if picture.suffix.lower() != ".png":
        beside = " and ".join(p.suffix for key, p in paths.items() if key != "picture")
        raise UserError(f"--out {picture}: give a .png file name (the {beside} written beside it take "
                        "its name)")
    for path in paths.values():
        if path.is_dir():
            raise UserError(f"--out {picture}: {path} is a folder: choose another --out")
        if path.exists() and not overwrite:
            raise UserError(f"{path} already exists: choose another --out or pass --overwrite to replace it")
    writable_ancestor(picture.parent, "--out", picture)


def tensors(tr: Traversal, is_image: bool) -> dict[str, np.ndarray]:
    """The raw arrays of the .npz file."""
    return {
        "images" if is_image else "vectors": tr.outputs.numpy().astype(np.float32),
        "base_output": tr.base_output.numpy().astype(np.float32),
        "dims": np.asarray(tr.dims, dtype=np.int64),
        "values": tr.values.numpy().astype(np.float32),
        "base": tr.base.numpy().astype(np.float32),
        "alpha": tr.alpha.numpy().astype(np.float32),
        "alpha_generator": tr.alpha_generator.numpy().astype(np.float32),
        "active": tr.active.numpy(),
        "change_rms": tr.change_rms().numpy().astype(np.float32),
    }


def changes_csv(tr: Traversal) -> str:
    """One row per (dimension, value): alpha, the RMS and norm of the change, and the change itself."""
    deltas = tr.changes().numpy()
    width = deltas.shape[2]
    lines = [",".join(["dim", "alpha", "alpha_generator", "active", "value", "change_rms", "change_norm",
                       *(f"delta_{i}" for i in range(width))])]
    for row, j in enumerate(tr.dims):
        for step, value in enumerate(tr.values.tolist()):
            d = deltas[row, step]
            head = [str(j), f"{float(tr.alpha[j]):.7g}", f"{float(tr.alpha_generator[j]):.7g}",
                    str(int(bool(tr.active[j]))), f"{value:.7g}", f"{float(np.sqrt(np.mean(d**2))):.7g}",
                    f"{float(np.linalg.norm(d)):.7g}"]
            lines.append(",".join(head + [f"{v:.7g}" for v in d]))
    return "\n".join(lines) + "\n"


def write_outputs(tr: Traversal, paths: dict[str, Path], is_image: bool, picture_png: bytes) -> None:
    """Write the picture, the tensors and (vectors) the CSV, each atomically."""
    arrays = tensors(tr, is_image)

    def save_npz(f: IO[bytes]) -> None:
        np.savez(f, **arrays)

    atomic_write(paths["tensors"], save_npz)
    if "changes" in paths:
        atomic_write_text(paths["changes"], changes_csv(tr))
    atomic_write_bytes(paths["picture"], picture_png)
