"""The model contract (DESIGN.md): what the trainer and the metrics may call.

A model is a ``torch.nn.Module`` registered by name with a config dataclass. It declares
its optimisers and *phases* (one phase for a VAE; discriminator then generator for a GAN);
the trainer runs, for every batch and every phase in order: zero the phase's optimiser,
``training_step(batch, phase)``, backpropagate its ``"loss"``, step. Metrics only use
``encode``, ``decode``, ``reconstruct`` and ``sample`` (and ``glimpse`` for object models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn

from ..config import config_from_dict
from ..errors import FactorbenchError
from ..registry import Registry

MODELS: Registry = Registry("model")


def register_model(name: str):
    """Class decorator: register a :class:`GenerativeModel` subclass under ``name``."""

    def add(cls):
        cls.name = name
        return MODELS.register(name)(cls)

    return add


@dataclass(frozen=True)
class Phase:
    """One optimisation phase per batch: ``optimizer`` steps on the loss of ``name``."""

    name: str
    optimizer: str


class GenerativeModel(nn.Module):
    """Base class. Subclasses set ``config_class`` and implement the methods they support."""

    name = "abstract"
    config_class: type = object
    #: training schedules for ``factorbench train --schedule``: name -> TrainConfig fields (epochs, batch
    #: size). Not benchmark presets: a spec's ``[presets.X]`` sets its cells' ``train`` table itself.
    train_schedules: Mapping[str, Mapping[str, Any]] = {"quick": {"epochs": 5, "batch_size": 64}}

    def __init__(self, config: Any, image_shape: Sequence[int]):
        super().__init__()
        self.config = config
        self.image_shape: Tuple[int, int, int] = tuple(int(s) for s in image_shape)  # type: ignore[assignment]

    # -- training --------------------------------------------------------------------------
    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        raise NotImplementedError  # abstract

    def phases(self) -> List[Phase]:
        return [Phase("train", "main")]

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        raise NotImplementedError  # abstract

    # -- what metrics use --------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise FactorbenchError(f"model {self.name} has no encoder")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise FactorbenchError(f"model {self.name} has no decoder")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise FactorbenchError(f"model {self.name} cannot reconstruct")

    def sample(self, n: int, generator: torch.Generator = None) -> torch.Tensor:
        raise FactorbenchError(f"model {self.name} cannot sample")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def build_model(name: str, config_values: Mapping[str, Any], image_shape: Sequence[int]) -> GenerativeModel:
    """Instantiate registered model ``name`` from a (strictly checked) config dict."""
    cls = MODELS.get(name)
    config = config_from_dict(cls.config_class, config_values, where=f"model {name}")
    return cls(config, image_shape)
