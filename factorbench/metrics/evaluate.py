"""The evaluator contract: context in, metric values with protocols out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch

from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from ..models import GenerativeModel
from ..registry import Registry

#: name -> evaluator(ctx, **params) -> list[MetricValue]
EVALUATORS: Registry = Registry("metric")
#: metric value name -> "lower" | "higher" | "none"
DIRECTIONS: Dict[str, str] = {}


@dataclass
class MetricValue:
    metric: str
    value: float
    protocol: Dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    model: GenerativeModel
    train: ArrayDataset
    test: ArrayDataset
    device: str = "cpu"
    seed: int = 0
    batch_size: int = 256
    progress: bool = False


def register_evaluator(name: str, directions: Dict[str, str]):
    """Register evaluator ``name``, producing the metric values named in ``directions``."""

    def add(fn: Callable[..., List[MetricValue]]):
        DIRECTIONS.update(directions)
        fn.outputs = tuple(directions)
        return EVALUATORS.register(name)(fn)

    return add


def metric_direction(metric: str) -> str:
    return DIRECTIONS.get(metric, "none")


@torch.no_grad()
def map_batches(fn: Callable[[torch.Tensor], Any], images: torch.Tensor, batch_size: int, device: str) -> List[Any]:
    """Apply ``fn`` to ``images`` in batches on ``device``; NaN/inf outputs are an error."""
    outs = []
    for start in range(0, len(images), batch_size):
        out = fn(images[start:start + batch_size].to(device))
        for t in out if isinstance(out, tuple) else (out,):
            if not torch.isfinite(t).all():
                raise FactorbenchError("the model produced NaN or inf values; its checkpoint is likely diverged")
        outs.append(out)
    return outs


def check_label(ds: ArrayDataset, label: Optional[str]) -> str:
    if label is None:
        if len(ds.label_names) != 1:
            raise FactorbenchError(f"dataset {ds.name} has labels {ds.label_names}; say which one to probe")
        return ds.label_names[0]
    ds.labels(label)  # raises a clear error if absent
    return label
