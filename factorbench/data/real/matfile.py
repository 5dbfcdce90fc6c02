"""Reading MATLAB ``.mat`` annotation files (Stanford Cars devkit, Stanford Dogs lists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FactorbenchError


def read_mat(path: Path, *keys: str) -> dict:
    """Variables ``keys`` of a MATLAB .mat file (``scipy.io.loadmat``, no squeezing: a struct
    array comes back as a structured array, a cell array as an object array); an unreadable
    file or a missing variable is a one-line error naming the file."""
    import scipy.io  # imported here: every loader module is imported when the package is

    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several unrelated types on corrupt input
        raise FactorbenchError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in keys if k not in data]
    if missing:
        have = ", ".join(k for k in data if not k.startswith("__"))
        raise FactorbenchError(f"{path}: no variable {', '.join(missing)} (has: {have})")
    return {k: data[k] for k in keys}


def mat_value(value):
    """The one value inside a loadmat leaf (a 1x1 array, a 1-element char array, a cell)."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected one value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value
