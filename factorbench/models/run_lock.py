"""An advisory lock per run folder, held for the whole of a training run.

Two ``bench run``\\ s (or two specs, or two pool workers sharing a stage-1 cell) may ask for
the same checkpoint folder at once. Without a lock both would train it: double compute,
and ``losses.csv`` would get every step twice or lose rows. With it, the second waits
(benchmark runs: afterwards it finds the run finished and skips it) or stops with one line
naming the holder (``factorbench train``).

The lock is a POSIX record lock (``fcntl.lockf``) on ``<folder>/.lock``: NFS and the other
shared filesystems a Ray cluster's storage uses support it (through the NFS lock manager,
unlike BSD ``flock`` on older clients), and the kernel releases it when its holder dies, so
a killed run never leaves a stale lock. The file holds the holder's host, pid and start
time, for the message. Record locks belong to a process, so the folders this process holds
are also remembered here: a second lock of the same folder in the same process is refused
rather than silently granted.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Optional, Set

from ..errors import FactorbenchError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; runs are not locked
    fcntl = None

LOCK_FILE = ".lock"
POLL_SECONDS = 0.5
log = logging.getLogger(__name__)
_HELD: Set[str] = set()


def holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as the lock file says ("another process" if it is empty)."""
    try:
        info = json.loads((Path(folder) / LOCK_FILE).read_text() or "{}")
        return f"pid {info['pid']} on host {info['host']} (since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """``with RunLock(folder, wait=...)``: hold ``folder``'s lock inside the block.

    ``wait``: seconds to wait for a lock another process holds (None: as long as it takes;
    0: not at all); past it, a one-line :class:`FactorbenchError` names the holder.
    """

    def __init__(self, folder: Path, wait: Optional[float] = 0):
        self.folder = Path(folder)
        self.wait = wait
        self.fd: Optional[int] = None

    def __enter__(self) -> "RunLock":
        key = str(self.folder.resolve())
        if key in _HELD:
            raise FactorbenchError(f"{self.folder} is already being trained by this process")
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        started, told = time.monotonic(), False
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:  # EACCES or EAGAIN: another process holds it
                waited = time.monotonic() - started
                if self.wait is not None and waited >= self.wait:
                    os.close(fd)
                    raise FactorbenchError(
                        f"{self.folder} is being trained by {holder(self.folder)}; wait for it to finish or "
                        "use another folder (the lock goes when that process ends)") from None
                if not told:
                    log.warning("waiting for %s: it is being trained by %s", self.folder, holder(self.folder))
                    told = True
                time.sleep(POLL_SECONDS)
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
        self.fd = fd
        _HELD.add(key)
        return self

    def __exit__(self, *exc) -> None:
        _HELD.discard(str(self.folder.resolve()))
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)  # no holder to name any more
            finally:
                os.close(self.fd)  # releases the lock
            self.fd = None
