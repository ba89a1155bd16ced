"""One process at a time per run folder: an advisory lock on ``RUN/.lock``.

Two processes training into (or resuming) the same folder would interleave checkpoints
and metrics. The lock is ``flock`` on a file that also holds the owner's pid, so the
second process can say who holds it; the kernel drops the lock when its holder dies,
however it dies, so a stale lock is simply taken over. A run that ends (finished, stopped
by Ctrl-C, or failed) deletes the file, so a finished run folder holds no ``.lock``; only a
killed one leaves it, and the next process takes it over. Where ``fcntl`` does not exist
(Windows), no lock is taken.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ganzoo.errors import GanzooError, writing

LOCK_FILE = ".lock"


class RunLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process's end)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:
            return self
        for _ in range(_ATTEMPTS):
            with writing(self.path, "choose another --out", action="lock"):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise GanzooError(f"run folder '{self.path.parent}' is in use by process {holder} (ganzoo train); "
                                  "wait for it to finish or stop it, or choose another --out") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder deleted the file as we opened it: lock the file that is there now
        else:
            raise GanzooError(f"could not lock '{self.path}': the file kept disappearing; "
                              "another process is starting and ending runs in that folder; choose another --out")
        self._fd = fd
        with writing(self.path, "free some disk space", action="lock"):  # the pid only informs the next process
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def release(self) -> None:
        """Delete the lock file, then let go of it: deleted while still held, so no other
        process can have locked this file in between (one that opened it a moment earlier
        sees in :meth:`acquire` that it is gone and locks the new one)."""
        if self._fd is None:
            return
        import fcntl

        try:
            self.path.unlink(missing_ok=True)
        except OSError:  # a folder that takes no deletions: an empty file stays, as before
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


#: Tries at locking a lock file that its holder deletes as we open it.
_ATTEMPTS = 20


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one deleted after we opened it)."""
    try:
        mine, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
