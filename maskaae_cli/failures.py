"""The failures no command can prevent, as one line each: a full disk, no permission, no memory, a
number too large, input nested too deeply. The CLI's entry point is the only caller (no torch here)."""

from __future__ import annotations

import errno

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM)
_ALLOCATOR = ("out of memory", "defaultcpuallocator", "can't allocate memory", "cannot allocate memory")


def _where(exc: OSError, target: str | None) -> str:
    name = target or exc.filename
    return f" ({name})" if name else ""


def describe(exc: BaseException, target: str | None = None) -> str | None:
    """One line for a resource or limit failure (``target``: what was being written), else None."""
    if isinstance(exc, OSError):
        where = _where(exc, target)
        if exc.errno in _DISK_FULL:
            removed = "" if target else " (files being written were removed)"
            return (f"no space left on the device{where}: free some space or write elsewhere, then run "
                    f"again{removed}")
        if exc.errno in _DENIED:
            return f"permission denied{where}: check its permissions, or write elsewhere"
        if exc.errno == errno.EROFS:
            return f"read-only file system{where}: write elsewhere"
        return f"{exc.strerror or type(exc).__name__}{where}: check the path and try again"
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                        and any(s in str(exc).lower() for s in _ALLOCATOR)):
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return (f"out of memory ({first}): lower --batch-size, -n, --image-size or the model's size "
                "(--m, the nets' widths)")
    if isinstance(exc, OverflowError):
        return f"a number is too large ({exc}): use a smaller value"
    if isinstance(exc, RecursionError):
        return ("the input is nested too deeply to read (a recipe or file thousands of levels deep?): "
                "flatten it")
    if type(exc).__name__ == "DecompressionBombError":  # PIL: an image too large to decode safely
        return f"an image is too large to decode safely ({exc}): shrink it or remove it"
    return None
