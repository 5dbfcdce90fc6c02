"""Training-loop settings (model hyper-parameters live in each model's config)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FactorbenchError


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    #: checkpoint every this many optimisation steps (0: at the end of every epoch)
    checkpoint_every: int = 0
    #: torch.use_deterministic_algorithms and a fixed thread count: bit-exact resume on CPU
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0 or self.checkpoint_every < 0:
            raise FactorbenchError("train: epochs and batch_size must be positive, checkpoint_every >= 0")
