"""One exception type for every mistake a user can fix, and the one way I/O failures become one.

The CLI prints its message as a single line and exits 2, so the message must
name the problem and the fix; anything else escaping is a bug in ganzoo.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path


class GanzooError(Exception):
    """A user-facing error: one line, names the problem and what to do."""


#: A fix that follows from the system's reason, whatever the command was doing.
_FIXES = {
    errno.ENOSPC: "free some disk space or write somewhere else",
    errno.EDQUOT: "free some space in your quota or write somewhere else",
    errno.EFBIG: "the file size limit (ulimit -f) was reached: raise it or write somewhere else",
    errno.EROFS: "write somewhere else",
    errno.EACCES: "you may not write there: write somewhere else or fix its permissions",
    errno.EPERM: "you may not write there: write somewhere else or fix its permissions",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: give a file name",
}


def io_error(exc: OSError, path: str | Path | None = None, fix: str = "choose another path",
             action: str = "write") -> GanzooError:
    """The one line for a failed read or write: the path, the system's reason (disk full,
    read-only, ...) and a fix for that reason, else ``fix`` (the command's own advice)."""
    where = path if path is not None else (exc.filename or "?")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return GanzooError(f"cannot {action} '{where}': {reason}; {_FIXES.get(exc.errno or 0, fix)}")


def check_writable(path: str | Path, fix: str = "choose another path", suffix: str | None = None) -> Path:
    """Before long work, not after it: ``path`` is no folder, ends in ``suffix`` (when
    given), its folder exists (made when missing) and takes a new file (a read-only or
    full disk fails here)."""
    path = Path(path)
    if path.is_dir():
        raise GanzooError(f"'{path}' is a folder; give a file name inside it, such as {path / 'out'}{suffix or ''}")
    if suffix and path.suffix.lower() != suffix:
        raise GanzooError(f"'{path}' does not end in {suffix}; give a {suffix} file name, such as "
                          f"{path.with_suffix(suffix).name}")
    with writing(path.parent, fix, action="create the folder"):
        path.parent.mkdir(parents=True, exist_ok=True)
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    with writing(path, fix):
        probe.write_bytes(b"")
        probe.unlink()
    return path


@contextlib.contextmanager
def writing(path: str | Path, fix: str = "choose another path", action: str = "write") -> Iterator[None]:
    """Turn any OSError raised inside into :func:`io_error` for ``path``."""
    try:
        yield
    except OSError as exc:
        raise io_error(exc, path, fix, action) from None
