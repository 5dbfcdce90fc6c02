"""Training-loop settings (model hyper-parameters live in each model's config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

from ..errors import FactorbenchError


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    #: checkpoint every this many optimisation steps (0: at the end of every epoch)
    checkpoint_every: int = 0
    #: torch.use_deterministic_algorithms and a fixed thread count: bit-exact resume on CPU
    deterministic: bool = True
    #: "fp32" (default: exact resume, the committed baselines) or "bf16": the forward pass and
    #: losses under torch.autocast(dtype=torch.bfloat16), opt-in for speed on CPUs with
    #: AVX-512 BF16 / AMX (weights, optimiser and gradients stay fp32; numbers move by ~1e-3
    #: relative, measured in benchmarks/perf/train_throughput.py)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0 or self.checkpoint_every < 0:
            raise FactorbenchError("train: epochs and batch_size must be positive, checkpoint_every >= 0")
        if self.precision not in PRECISIONS:
            raise FactorbenchError(f"train: precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def key(self) -> Dict[str, Any]:
        """The settings that identify a run (cell ids, a checkpoint's config.json): all of
        them, less ``precision`` when it is the default, so runs made before it existed keep
        their ids and resume."""
        out = dataclasses.asdict(self)
        if out["precision"] == "fp32":
            del out["precision"]
        return out


PRECISIONS = ("fp32", "bf16")
