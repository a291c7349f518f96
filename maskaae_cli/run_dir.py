"""The run folder: checked before anything is written, replaced only when it is a run folder, locked
while a run trains in it, and holding everything needed to reproduce the run.

``--overwrite`` never deletes first: the old run is moved aside (``.NAME.replaced-PID`` beside it),
the new one is built in its place, and the old one is deleted only once the new run has trained
its first iteration; a run that fails before then puts the old folder back as it was (and a new run
that fails before then leaves no folder behind). The replace is journalled
(:mod:`maskaae_cli.replace_journal`), so a run killed part way is finished or undone by the next
command. A symbolic link given as ``--out`` is followed: the folder it points to is the run folder.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from maskaae_cli.atomic_io import atomic_write_text, write_json
from maskaae_cli.errors import UserError
from maskaae_cli.replace_journal import Replace, recover_near
from maskaae_cli.run_files import CONFIG, RUN_RECORD, foreign_entries
from maskaae_cli.run_folder import is_run_folder
from maskaae_cli.run_lock import RunLock, check_unlocked
from maskaae_cli.writable import check_writable

__all__ = ["PreparedRunDir", "check_out_dir", "check_out_outside_data", "check_writable", "prepare_run_dir",
           "write_json", "write_run_record"]


def _protected(path: Path) -> str | None:
    """Why ``path`` may never be replaced whatever it holds (the current folder, home, ...), or None."""
    resolved = path.resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "it is the current folder or holds it"
    if resolved == home or resolved in home.parents:
        return "it is your home folder or holds it"
    if resolved.parent == resolved:
        return "it is the root of the file system"
    return None


def check_out_dir(path: str | Path, overwrite: bool) -> None:
    """Everything that can be said about ``--out`` before a run writes anything.

    An empty or missing folder is used as it is. A non-empty one needs ``overwrite``, and then it
    must be a maskaae run folder (``run.json``, and nothing but the files a run writes) that no live
    run holds; the current folder, the home folder and their ancestors are never replaced.
    """
    p = Path(path)
    recover_near(p)
    if p.is_symlink() and not p.exists():
        raise UserError(f"--out {p} is a symbolic link to {os.readlink(p)}, which does not exist: give a "
                        "folder")
    check_writable(p)
    if not p.is_dir() or not any(p.iterdir()):
        return
    if not overwrite:
        raise UserError(f"run folder {p} already exists and is not empty: choose another --out, pass "
                        "--overwrite to replace it, or --resume it")
    why = _protected(p)
    if why is None and not is_run_folder(p):
        why = f"it is not a maskaae run folder (no {RUN_RECORD})"
    if why is None and (foreign := foreign_entries(p)):
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        why = f"it holds files that no maskaae run writes ({listed})"
    if why:
        raise UserError(f"--overwrite refused for {p}: {why}; --overwrite replaces only a maskaae run "
                        "folder: choose another --out")
    check_unlocked(p)


def check_out_outside_data(out: Path, dataset: str) -> None:
    """Refuse an ``--out`` inside a ``folder:`` dataset: the run's pictures would become training images."""
    if not dataset.startswith("folder:"):
        return
    data = Path(dataset[len("folder:"):]).expanduser().resolve()
    where = Path(out).resolve()
    if where == data or data in where.parents:
        raise UserError(f"--out {out} is inside the dataset folder {data}: a run folder there would mix "
                        "its files with the data; choose an --out outside it")


@dataclass
class PreparedRunDir:
    """A run folder made ready for training: locked, the run it replaces (if any) moved aside.

    ``pending`` until the new run has trained its first iteration (:meth:`commit`); a run that fails
    before then :meth:`rollback` s: the old run comes back, or a folder the run made is removed.
    """

    path: Path
    lock: RunLock
    replace: Replace | None = None
    _old_lock: RunLock | None = field(default=None, repr=False)
    pending: bool = False
    created: bool = False  # the folder did not exist before the run

    @property
    def replaced(self) -> Path | None:
        """The old run moved aside, until the new one has trained an iteration."""
        return self.replace.aside if self.replace is not None and self.pending else None

    def commit(self) -> None:
        """The new run trains: delete the old one for good."""
        if self.pending and self.replace is not None:
            if self._old_lock is not None:
                self._old_lock.release()
            self.replace.commit()
        self.pending = False

    def rollback(self) -> None:
        """The new run failed before training: remove what it wrote and put the old folder back."""
        self.lock.release()
        if not self.pending:
            return
        self.pending = False
        if self.replace is None:
            _remove_new_run(self.path, self.created)
            return
        self.replace.rollback()
        if self._old_lock is not None:
            self._old_lock.move(self.path)
            self._old_lock.release()

    def release(self) -> None:
        self.lock.release()


def _remove_new_run(path: Path, created: bool) -> None:
    """What a new run wrote before its first iteration: the folder it made, or its files in the empty
    folder it was given."""
    if created:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in path.iterdir() if path.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def prepare_run_dir(path: str | Path, overwrite: bool) -> PreparedRunDir:
    """Check ``path`` (:func:`check_out_dir`), then make it and lock it; an old run is moved aside."""
    p = Path(path)
    check_out_dir(p, overwrite)
    if p.is_symlink():  # replace the folder it points to, never the link
        p = p.resolve()
    created = not p.exists()
    replace, old_lock = None, None
    if p.is_dir() and any(p.iterdir()):
        old_lock = RunLock(p).acquire()
        replace = Replace(p)
        try:
            replace.begin()
        except BaseException:
            old_lock.release()
            raise
        old_lock.move(replace.aside)
    try:
        p.mkdir(parents=True, exist_ok=True)
        lock = RunLock(p).acquire()
    except BaseException:
        if replace is not None:
            replace.rollback()
            assert old_lock is not None
            old_lock.move(p)
            old_lock.release()
        elif created:
            shutil.rmtree(p, ignore_errors=True)
        raise
    return PreparedRunDir(p, lock, replace, old_lock, pending=True, created=created)


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
    import lightning
    import torch

    from maskaae_cli import __version__

    return {"maskaae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "lightning": lightning.__version__, "platform": platform.platform()}


def write_run_record(run_dir: Path, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """config.yaml (the resolved config) and run.json (seed, versions, git state, command, ``extra``)."""
    atomic_write_text(run_dir / CONFIG, yaml.safe_dump(config, sort_keys=False))
    record = {"seed": config["train"]["seed"], "command": sys.argv,
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "versions": versions(), "git": git_state(), **(extra or {})}
    write_json(run_dir / RUN_RECORD, record)
