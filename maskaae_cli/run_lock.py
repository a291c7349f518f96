"""One training per run folder at a time: RUN/run.lock names the process that holds it.

The lock file holds the owner's pid, host and start time, and a background thread touches it
every few seconds while the owner lives. A second `maskaae train` (or `--resume`) into the same
folder is refused with one line. A crashed run's lock is stale and is taken over: on the same
host when its pid is gone, on another host (a shared file system) once it has not been touched
for :data:`STALE_SECONDS`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maskaae_cli.errors import UserError
from maskaae_cli.run_files import LOCK

HEARTBEAT_SECONDS = 20.0
STALE_SECONDS = 300.0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (someone else's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def read_lock(folder: Path) -> dict[str, Any] | None:
    """The lock record of ``folder`` (None when there is none; {} when it is unreadable)."""
    path = folder / LOCK
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def is_stale(folder: Path, record: dict[str, Any]) -> bool:
    """Whether the process that wrote ``record`` can no longer be training."""
    if record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        return False
    if record.get("host") == socket.gethostname() and isinstance(record.get("pid"), int):
        return not pid_alive(record["pid"])
    try:
        age = time.time() - (folder / LOCK).stat().st_mtime
    except FileNotFoundError:
        return True
    return age > STALE_SECONDS


def check_unlocked(folder: Path) -> None:
    """Raise :class:`UserError` when a live process holds ``folder``'s lock."""
    record = read_lock(folder)
    if record is None or is_stale(folder, record):
        return
    who = (f"process {record.get('pid')} on {record.get('host')}, since {record.get('started')}"
           if record else "an unreadable lock")
    raise UserError(f"{folder} is in use by another maskaae run ({who}): wait for it to finish or stop "
                    f"it; if no run is training there, delete {folder / LOCK}")


class RunLock:
    """Holds ``folder/run.lock`` until :meth:`release`; :meth:`move` follows the folder's rename."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False

    @property
    def path(self) -> Path:
        return self.folder / LOCK

    def acquire(self) -> RunLock:
        check_unlocked(self.folder)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.path.unlink(missing_ok=True)  # a stale lock (check_unlocked refused a live one)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # another process took it between the check and now
            check_unlocked(self.folder)
            raise UserError(f"{self.folder} was locked by another maskaae run just now: try again") from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record) + "\n")
        self._held = True
        self._thread = threading.Thread(target=self._heartbeat, name="maskaae-run-lock", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def move(self, folder: Path) -> None:
        """The folder (lock file inside) was renamed to ``folder``."""
        self.folder = Path(folder)

    def release(self) -> None:
        if not self._held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        record = read_lock(self.folder)
        if record and record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)
        self._held = False
