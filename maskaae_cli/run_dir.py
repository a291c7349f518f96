"""The run folder: guarded against overwrites, with everything needed to reproduce the run."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from maskaae_cli.errors import UserError


def prepare_run_dir(path: str | Path, overwrite: bool) -> Path:
    """Create the run folder; refuse to touch an existing non-empty one unless ``overwrite``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"--out {p} is a file, not a folder: choose another --out")
    if p.is_dir() and any(p.iterdir()):
        if not overwrite:
            raise UserError(f"run folder {p} already exists and is not empty: choose another "
                            "--out, pass --overwrite to replace it, or --resume it")
        shutil.rmtree(p)
    p.mkdir(parents=True, exist_ok=True)
    return p


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the maskaae source tree, when it is a git checkout."""
    src = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(src), *args], capture_output=True, text=True,
                                 timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def versions() -> dict[str, str]:
    import lightning  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from maskaae_cli import __version__  # noqa: PLC0415

    return {"maskaae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "lightning": lightning.__version__, "platform": platform.platform()}


def write_run_record(run_dir: Path, config: dict[str, Any]) -> None:
    """config.yaml (the resolved config) and run.json (seed, versions, git state, command)."""
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    record = {"seed": config["train"]["seed"], "command": sys.argv,
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "versions": versions(), "git": git_state()}
    write_json(run_dir / "run.json", record)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a crash never leaves a half-written file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)
