"""Seeds: one master seed, a derived seed per stage, and a deterministic mode.

``stage_seed(master, "train/init")`` hashes the master seed with the stage's name, so
adding a stage never shifts the seeds of the others and two stages never share a stream.

Threads. Float reductions on CPU split their work by torch's intra-op thread count, so the
same run gives different last digits on 1, 2 or 16 threads (a Ray worker, a local run, a
bigger machine). In deterministic mode training and evaluation therefore run on a fixed
:data:`DETERMINISTIC_THREADS` threads (:func:`fixed_threads`), whatever the executor or the
core count, and every record states it (``protocol["torch_threads"]``). One thread also
makes k concurrent jobs on a machine cost about k times one job (no oversubscription);
use ``--jobs N`` to fill the cores.
"""

from __future__ import annotations

import hashlib
import os
import random
from contextlib import contextmanager
from typing import Iterator, Optional

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


#: torch intra-op threads of every training run and evaluation in deterministic mode
DETERMINISTIC_THREADS = 1


@contextmanager
def fixed_threads(enabled: bool = True) -> Iterator[Optional[int]]:
    """Run the block on :data:`DETERMINISTIC_THREADS` torch threads (restored afterwards);
    yields that count, or None (threads left as they are) when not ``enabled``."""
    if not enabled:
        yield None
        return
    old = torch.get_num_threads()
    torch.set_num_threads(DETERMINISTIC_THREADS)
    try:
        yield DETERMINISTIC_THREADS
    finally:
        torch.set_num_threads(old)
