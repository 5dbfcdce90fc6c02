"""On-disk cache of built datasets (compressed ``.npz``, written atomically).

Location: ``$FACTORBENCH_CACHE`` if set, else ``~/.cache/factorbench``.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..fileio import atomic_write_bytes
from .sample import ArrayDict


def cache_root() -> Path:
    root = os.environ.get("FACTORBENCH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "factorbench"


def read_npz(path: Path) -> Optional[ArrayDict]:
    """Arrays from ``path``, or None if it is missing or unreadable (then it is rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def write_npz(path: Path, arrays: ArrayDict, compress: bool = True) -> None:
    """Write ``arrays`` atomically; ``compress=False`` for float matrices that barely compress."""
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
