"""One process at a time per run folder: an advisory lock on ``RUN/.lock``.

Two processes training into (or resuming) the same folder would interleave checkpoints
and metrics. The lock is ``flock`` on a file that also holds the owner's pid, so the
second process can say who holds it; the kernel drops the lock when its holder dies,
however it dies, so a stale lock is simply taken over. Where ``fcntl`` does not exist
(Windows), no lock is taken.
"""

from __future__ import annotations

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
        with writing(self.path, "choose another --out", action="lock"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise GanzooError(f"run folder '{self.path.parent}' is in use by process {holder} (ganzoo train); "
                              "wait for it to finish or stop it, or choose another --out") from None
        self._fd = fd
        with writing(self.path, "free some disk space", action="lock"):  # the pid only informs the next process
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
