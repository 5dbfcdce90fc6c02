"""Apply a network to a tensor of images batch by batch (the loop every metric over model
outputs shares), refusing NaN/inf outputs."""

from __future__ import annotations

from typing import Any, Callable, List

import torch

from ..errors import FactorbenchError


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
