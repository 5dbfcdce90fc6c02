"""FID as a benchmark metric: a trained model against its dataset's test split (SPEC §4.1).

Two evaluators, each giving the thesis's pair of numbers, ``saved`` and ``direct`` (§5.4.2):

- ``fid``: images decoded from z ~ N(0, I) (the thesis's "random z");
- ``fid_test_seeded``: reconstructions of the test images (§3.2.1's "test-seeded").

The reference is the same test images, through the same mode; its statistics are cached.
"""

from __future__ import annotations

from typing import List, Optional

import torch

from .evaluate import EvalContext, MetricValue, register_evaluator
from .fid import compute_fid
from .image_sources import Images, model_images

PAIR = ("saved", "direct")


def _reference(ctx: EvalContext, n: Optional[int]) -> Images:
    ds = ctx.test
    data = torch.from_numpy(ds.arrays["image"][: n or len(ds)])
    return Images(data, {"kind": "dataset", "name": ds.name, "split": ds.split, "seed": ds.info.get("seed", 0),
                         "n": int(data.shape[0])})


def _fid_pair(ctx: EvalContext, sampling: str, prefix: str, n: Optional[int]) -> List[MetricValue]:
    real = _reference(ctx, n)
    data = model_images(ctx.model, sampling, real.n, ctx.seed, ctx.batch_size, ctx.device, real.data,
                        what=f"model {ctx.model.name}")
    fake = Images(data, {"kind": "model", "model": ctx.model.name, "sampling": sampling, "seed": ctx.seed})
    out = []
    for mode in PAIR:
        record, _, _ = compute_fid(fake, real, mode, real.size, min(ctx.batch_size, 64), ctx.device, True, ctx.progress)
        out.append(MetricValue(f"{prefix}_{mode}", record["value"], record["protocol"]))
    return out


@register_evaluator("fid", {"fid_saved": "lower", "fid_direct": "lower"})
def evaluate_fid_random(ctx: EvalContext, n: Optional[int] = None) -> List[MetricValue]:
    return _fid_pair(ctx, "random", "fid", n)


@register_evaluator("fid_test_seeded", {"fid_test_seeded_saved": "lower", "fid_test_seeded_direct": "lower"})
def evaluate_fid_test_seeded(ctx: EvalContext, n: Optional[int] = None) -> List[MetricValue]:
    return _fid_pair(ctx, "test", "fid_test_seeded", n)
