"""Atomic writes: a file is either the old version or the complete new one, never half.

Every result, checkpoint, cache and table goes through :func:`atomic_write`: the content is
written to a temporary file in the same folder, flushed to disk, then renamed over the
target (``os.replace`` is atomic on POSIX), and the folder itself is synced so that the
rename survives a power cut. The file gets the mode a plain ``open`` would give it (0666
less the process's umask, so a group that shares the results folder can read it), not
``tempfile.mkstemp``'s 0600.

A process killed mid-write leaves the old file intact and at most a stray
``.<name>.<host>.<pid>.<random>.tmp`` beside it. Readers ignore it (no reader globs
``*.tmp``), and the next write of the same file removes it once it is certainly stale: its
writer (same host) is no longer running, or it is older than :data:`STALE_SECONDS`.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any, Callable, IO

import torch

#: a temporary file of another host is removed once it is this old (its pid means nothing here)
STALE_SECONDS = 24 * 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_temps(path: os.PathLike) -> int:
    """Remove the stray temporary files a killed writer of ``path`` left; the number removed."""
    path = Path(path)
    prefix, host, removed = f".{path.name}.", socket.gethostname(), 0
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        parts = tmp.name[len(prefix):-len(".tmp")].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue  # not one of ours
        try:
            age = time.time() - tmp.stat().st_mtime
            if (parts[0] == host and not _pid_alive(int(parts[1]))) or age > STALE_SECONDS:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # another writer cleaned it first
            continue
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory itself)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directories cannot be opened; the rename is as durable as it gets
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (and NFS clients) refuse fsync on a directory
    finally:
        os.close(fd)


def atomic_write(path: os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file, then move it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = path.parent / f".{path.name}.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # O_EXCL: never write through a file (or a planted link) that already exists; 0o666 & ~umask
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(path: os.PathLike, obj: Any) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())
