"""How a benchmark preset is run: :class:`RunOptions` (the preset, the folders, the seeds,
the device and the executor fields).

Below :mod:`.cells`, :mod:`.executors`, :mod:`.external` and :mod:`.runner`, which all take
it, so that none of them imports another back for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .spec import PresetSpec


@dataclass
class RunOptions:
    #: the resolved preset (``spec.preset(name)``), not its name: everything below the
    #: command reads its settings from here and files records under ``preset.name``
    preset: PresetSpec
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

    def __post_init__(self) -> None:
        if not isinstance(self.preset, PresetSpec):
            raise TypeError(f"RunOptions.preset is the resolved PresetSpec (spec.preset({self.preset!r})), "
                            f"not {type(self.preset).__name__}")
