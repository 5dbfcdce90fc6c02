"""How a benchmark preset is run: :class:`RunOptions` (the preset, the folders, the seeds,
the device and the executor fields).

Below :mod:`.cells`, :mod:`.executors`, :mod:`.external` and :mod:`.runner`, which all take
it, so that none of them imports another back for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass
class RunOptions:
    preset: str
    workdir: Path
    results: Path
    seeds: Optional[int] = None
    device: str = "cpu"
    progress: bool = True
    #: how the cells run: "local" (in-process, or a pool of ``jobs`` processes) or "ray"
    executor: str = "local"
    jobs: int = 1
    #: Ray cluster address (None or "local": a Ray instance started on this machine)
    address: Optional[str] = None
    #: resources each job asks for (Ray); locally, cpus_per_job is the torch threads of a pool worker
    cpus_per_job: float = 1
    gpus_per_job: float = 0
