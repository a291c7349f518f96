"""The replace of ``--overwrite``, journalled so that a crash at any point is finished or undone.

``--overwrite`` moves the old run aside (``.NAME.replaced-PID``), builds the new run at NAME and
deletes the old one once the new run has trained its first iteration. A journal beside the folder,
``.NAME.replace.json``, records each step before it is taken: ``moving`` (the old run is being, or
has been, moved aside; the new run has not trained) and ``committing`` (the new run trains; the old
copy is being deleted). When the process that wrote a journal is gone (SIGKILL, a power cut), the
next command that touches the folder (train, --resume, --overwrite, sample, inspect, fid, traverse,
dims) puts the old run back or finishes deleting it, and says so on stderr. No torch here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from maskaae_cli.atomic_io import write_json
from maskaae_cli.errors import UserError
from maskaae_cli.run_files import LOCK, foreign_entries
from maskaae_cli.run_lock import STALE_SECONDS, is_stale, pid_alive, read_lock


def journal_path(target: Path) -> Path:
    """Where the journal of a replace of ``target`` lives: ``.NAME.replace.json`` beside it."""
    return target.parent / f".{target.name}.replace.json"


class Replace:
    """One replace of the run folder ``target``: :meth:`begin`, then :meth:`commit` or :meth:`rollback`."""

    def __init__(self, target: Path, aside: Path | None = None) -> None:
        self.target = target
        self.aside = aside or target.with_name(f".{target.name}.replaced-{os.getpid()}")
        self.journal = journal_path(target)

    def _write(self, state: str) -> None:
        write_json(self.journal, {"state": state, "target": self.target.name, "aside": self.aside.name,
                                  "pid": os.getpid(), "host": socket.gethostname()})

    def begin(self) -> None:
        """Journal the move, then move the old run aside."""
        self._write("moving")
        try:
            os.rename(self.target, self.aside)
        except BaseException as exc:
            self.journal.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise UserError(f"cannot move the old run {self.target} aside ({exc.strerror or exc}): "
                                "check the folder's permissions") from exc
            raise

    def commit(self) -> None:
        """The new run trains: delete the old run for good."""
        self._write("committing")
        shutil.rmtree(self.aside, ignore_errors=True)
        self.journal.unlink(missing_ok=True)

    def rollback(self) -> None:
        """Remove what the new run wrote and put the old run back (the new run's lock released first)."""
        if self.aside.exists():
            if self.target.exists() or self.target.is_symlink():
                foreign = foreign_entries(self.target) if self.target.is_dir() else [self.target.name]
                if foreign:
                    listed = ", ".join(foreign[:3])
                    raise UserError(f"an interrupted --overwrite left the old run in {self.aside}, but "
                                    f"{self.target} now holds files no run writes ({listed}): move them "
                                    f"away and run again, or rename {self.aside.name} back yourself")
                shutil.rmtree(self.target)
            os.rename(self.aside, self.target)
        self.journal.unlink(missing_ok=True)


def _owner_alive(record: dict[str, Any], journal: Path, target: Path) -> bool:
    """Whether the process that wrote the journal may still be replacing the folder."""
    if record.get("host") == socket.gethostname() and isinstance(record.get("pid"), int):
        return record["pid"] == os.getpid() or pid_alive(record["pid"])
    try:
        recent = time.time() - journal.stat().st_mtime < STALE_SECONDS
    except OSError:
        return False
    lock = read_lock(target)
    return recent or (lock is not None and not is_stale(target, lock))


def recover(target: Path) -> str | None:
    """Finish or undo an interrupted replace of ``target``; what was done, or None (nothing to do)."""
    journal = journal_path(target)
    if not journal.is_file():
        return None
    try:
        record = json.loads(journal.read_text())
        state, aside = record["state"], target.with_name(str(record["aside"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{journal} (the record of an interrupted --overwrite) is damaged: look for "
                        f"the old run in .{target.name}.replaced-* beside it, then delete {journal}") from exc
    if _owner_alive(record, journal, target):
        return None
    replace = Replace(target, aside)
    if state == "committing":
        replace.commit()
        return (f"finished an interrupted --overwrite of {target}: the old run it replaced "
                f"({aside.name}) is deleted")
    if not aside.exists():  # it stopped before the move: nothing to undo
        journal.unlink(missing_ok=True)
        return None
    replace.rollback()
    lock = read_lock(target)
    if lock is not None and is_stale(target, lock):
        (target / LOCK).unlink(missing_ok=True)
    return (f"rolled back an interrupted --overwrite of {target}: the old run is back as it was "
            "(the new run had not trained its first iteration)")


def recover_near(path: Path) -> None:
    """Recover the replace of any run folder ``path`` is, or is inside (RUN/checkpoints/last.ckpt)."""
    path = Path(path)
    seen: set[Path] = set()
    for candidate in (path, path.parent, path.parent.parent):
        for folder in (candidate, candidate.resolve()):
            if folder in seen or folder.parent == folder:
                continue
            seen.add(folder)
            done = recover(folder)
            if done:
                sys.stderr.write(done + "\n")
                sys.stderr.flush()
