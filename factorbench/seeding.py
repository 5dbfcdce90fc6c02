"""Seeds: one master seed, a derived seed per stage, and a deterministic mode.

``stage_seed(master, "train/init")`` hashes the master seed with the stage's name, so
adding a stage never shifts the seeds of the others and two stages never share a stream.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch


def stage_seed(master: int, stage: str) -> int:
    """A 31-bit seed for ``stage`` derived from ``master`` (stable across runs and machines)."""
    digest = hashlib.sha256(f"{int(master)}:{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (errors on ops that have none)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
