"""What a run folder is, decided in one place, and its records read defensively.

A folder is a maskaae run folder when it holds ``run.json`` (``maskaae train`` writes it first). Every
command that writes into an existing folder (``--resume``, ``--overwrite``) or finds a run from a
checkpoint asks here. A damaged record (not UTF-8, not JSON, not an object, a folder) is one line
naming the file, raised before anything in the folder changes. No torch here.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from maskaae_cli.errors import UserError
from maskaae_cli.run_files import CHECKPOINT_DIR, LOGGER_RECORD, METRICS, RUN_RECORD


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` is a folder that ``maskaae train`` made (it holds run.json, maybe damaged)."""
    return path.is_dir() and (path / RUN_RECORD).exists()


def run_folder_of(path: Path) -> Path | None:
    """The run folder ``path`` is or belongs to (RUN, RUN/model.ckpt, RUN/checkpoints/last.ckpt), or
    None."""
    candidates = [path] if path.is_dir() else [path.parent]
    if not path.is_dir() and path.parent.name == CHECKPOINT_DIR:
        candidates.append(path.parent.parent)
    return next((c for c in candidates if is_run_folder(c)), None)


def damaged(path: Path, why: str) -> UserError:
    """The one error for a run file that exists but cannot be read."""
    return UserError(f"{path} is damaged ({why}): restore it from a copy, or start a new run with "
                     "another --out (nothing in the run folder was changed)")


def read_text(path: Path) -> str:
    """A run file's text; a folder in its place, bad bytes or no permission is :func:`damaged`."""
    if path.is_dir():
        raise damaged(path, "a folder where a file belongs")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(path, "not UTF-8 text") from exc
    except PermissionError as exc:
        raise UserError(f"{path}: no permission to read it: check its permissions") from exc


def read_record(path: Path, missing_ok: bool = True) -> dict[str, Any]:
    """A run's JSON record (run.json, logger.json) as a dict; {} when absent and ``missing_ok``."""
    if not path.exists() and not path.is_symlink():
        if missing_ok:
            return {}
        raise UserError(f"{path} is missing: this is not a maskaae run folder")
    try:
        record = json.loads(read_text(path))
    except ValueError as exc:
        raise damaged(path, "not valid JSON") from exc
    if not isinstance(record, dict):
        raise damaged(path, f"a JSON {type(record).__name__}, not an object")
    return record


def check_metrics(path: Path) -> None:
    """metrics.csv, when present, is a CSV table whose ``step`` column holds whole numbers."""
    if not path.exists():
        return
    text = read_text(path)
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        rows = list(reader)
    except csv.Error as exc:
        raise damaged(path, f"not a CSV table: {exc}") from exc
    if rows and "step" not in header:
        raise damaged(path, "no step column")
    for row in rows:
        step = row.get("step")
        if step and not step.strip().isdigit():
            raise damaged(path, f"step {step[:20]!r} is not a whole number")


def check_resumable(run_dir: Path) -> None:
    """Everything ``--resume`` reads or writes in ``run_dir``: a run folder, writable, records intact."""
    if not is_run_folder(run_dir):
        raise UserError(f"{run_dir} is not a maskaae run folder (no {RUN_RECORD}), and --resume writes "
                        "only into the run folder a checkpoint came from: resume that folder, or start a "
                        "new run with --out")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"--resume {run_dir}: the run folder is read-only and a resumed run writes "
                        f"there: make it writable (chmod -R u+w {run_dir}), or copy the run folder and "
                        "resume the copy")
    read_record(run_dir / RUN_RECORD, missing_ok=False)
    read_record(run_dir / LOGGER_RECORD)
    check_metrics(run_dir / METRICS)
