"""The ``recon_mse`` evaluator: the test split's reconstruction error (docs/protocols.md §4.2;
thesis Tables 3.1/3.2), with :func:`factorbench.metrics.reconstruction.sse_per_image`.
"""

from __future__ import annotations

from typing import List
import torch

from .base import EvalContext, MetricValue, register_evaluator
from ..metrics.batches import map_batches
from ..metrics.reconstruction import sse_per_image


@register_evaluator("recon_mse", {"recon_mse": "lower"})
def evaluate_recon_mse(ctx: EvalContext) -> List[MetricValue]:
    images = ctx.test.images()
    ctx.model.eval()
    recons = torch.cat([r.cpu() for r in map_batches(ctx.model.reconstruct, images, ctx.batch_size, ctx.device)])
    value = float(sse_per_image(images, recons).mean())
    protocol = {
        "definition": "mean over test images of the per-image sum of squared errors, pixels in [0,1]",
        "reconstruction": "decode(posterior mean)",
        "split": "test",
        "n_images": len(images),
    }
    return [MetricValue("recon_mse", value, protocol)]
