"""The ``sharpness`` evaluator: the Laplacian sharpness of a model's test reconstructions
(docs/protocols.md §4.4; thesis §3.2.1), with :mod:`factorbench.metrics.sharpness`.
"""

from __future__ import annotations

from typing import List
import torch

from .base import EvalContext, MetricValue, register_evaluator
from ..metrics.batches import map_batches
from ..metrics.sharpness import sharpness, sharpness_protocol, sharpness_summary


def reconstructions(ctx: EvalContext) -> torch.Tensor:
    """``model.reconstruct`` of the test split, on the CPU (NaN/inf is an error)."""
    ctx.model.eval()
    outs: List[torch.Tensor] = map_batches(ctx.model.reconstruct, ctx.test.images(), ctx.batch_size, ctx.device)
    return torch.cat([r.cpu() for r in outs])


@register_evaluator("sharpness", {"sharpness": "higher"})
def evaluate_sharpness(ctx: EvalContext) -> List[MetricValue]:
    values = sharpness(reconstructions(ctx))
    protocol = sharpness_protocol(values, "model.reconstruct(x) of the test split, float as the model outputs them, not quantised")
    protocol["split"] = "test"
    return [MetricValue("sharpness", sharpness_summary(values)[0], protocol)]
