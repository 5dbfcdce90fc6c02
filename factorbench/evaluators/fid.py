"""FID as a benchmark metric: a trained model against a reference split (docs/protocols.md §4.1).

Two evaluators, each giving the thesis's pair of numbers, ``saved`` and ``direct`` (§5.4.2):

- ``fid``: images decoded from z ~ N(0, I) (the thesis's "random z");
- ``fid_test_seeded``: reconstructions of the reference images (§3.2.1's "test-seeded").

Parameters (a spec's ``metric_params``, e.g. ``fid = { n_fake = 10000, reference = "train" }``):

- ``reference``: ``"test"`` (default) -- the cell's test split -- or ``"train"`` -- the split
  the model was trained on (the spec's ``dataset.train_split``: ``all`` for CUB in Tables
  5.3/5.4, whose thesis trains on "the whole dataset of CUB");
- ``n_real``: reference images, the first n_real of that split (default: all of it; more
  than the split holds is an error);
- ``n_fake``: generated images (default: as many as the reference); test-seeded FID
  reconstructs the reference, so there it must equal n_real;
- ``n``: the older single knob, "up to n on each side": n_real = min(n, |reference|) and
  n_fake = n_real unless given.

The reference goes through the same mode as the samples; its statistics are cached. Both
counts are in every record's protocol (``n_fake``, ``n_real``, ``reference_split``).
"""

from __future__ import annotations

from typing import List, Optional

import torch

from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, register_evaluator
from ..metrics.fid import compute_fid
from ..metrics.image_sources import Images, images_of_dataset, model_images

PAIR = ("saved", "direct")
REFERENCES = ("test", "train")


def _positive(name: str, value: Optional[int]) -> Optional[int]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise FactorbenchError(f"fid: {name} must be a positive integer, got {value!r}")
    return value


def reference_images(ctx: EvalContext, reference: str, n: Optional[int], n_real: Optional[int]) -> Images:
    """The first ``n_real`` (or up to ``n``) images of the reference split, with their protocol."""
    if reference not in REFERENCES:
        raise FactorbenchError(f"fid: reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    ds = ctx.test if reference == "test" else ctx.train
    _positive("n", n)
    if _positive("n_real", n_real) is not None and n_real > len(ds):
        raise FactorbenchError(f"fid: n_real = {n_real}, but the reference ({ds.name} {ds.split}) has {len(ds)} images")
    count = n_real if n_real is not None else min(n, len(ds)) if n is not None else len(ds)
    return images_of_dataset(ds, count)


def _fid_pair(ctx: EvalContext, sampling: str, prefix: str, n: Optional[int], n_fake: Optional[int],
              n_real: Optional[int], reference: str) -> List[MetricValue]:
    real = reference_images(ctx, reference, n, n_real)
    count = _positive("n_fake", n_fake) or real.n
    if sampling == "test" and count != real.n:
        raise FactorbenchError(f"fid_test_seeded reconstructs the {real.n} reference images; n_fake = {count} "
                               "cannot differ from n_real")
    data = model_images(ctx.model, sampling, count, ctx.seed, ctx.batch_size, ctx.device, real.data,
                        what=f"model {ctx.model.name}")
    fake = Images(data, {"kind": "model", "model": ctx.model.name, "sampling": sampling, "seed": ctx.seed})
    stored = getattr(ctx.model, "stored_steps", None)
    if stored:  # samples read from 8-bit files (external rows): exactly uint8 again, and said so
        fake = Images((data * 255).round().to(torch.uint8), fake.source, list(stored))
    out = []
    for mode in PAIR:
        record, _, _ = compute_fid(fake, real, mode, real.size, min(ctx.batch_size, 64), ctx.device, True, ctx.progress)
        proto = {**record["protocol"], "reference_split": real.source["split"], "reference": reference}
        proto["definition"] += f"; reference: the first {real.n} images of {real.source['name']} {real.source['split']}"
        out.append(MetricValue(f"{prefix}_{mode}", record["value"], proto))
    return out


@register_evaluator("fid", {"fid_saved": "lower", "fid_direct": "lower"})
def evaluate_fid_random(ctx: EvalContext, n: Optional[int] = None, n_fake: Optional[int] = None,
                        n_real: Optional[int] = None, reference: str = "test") -> List[MetricValue]:
    return _fid_pair(ctx, "random", "fid", n, n_fake, n_real, reference)


@register_evaluator("fid_test_seeded", {"fid_test_seeded_saved": "lower", "fid_test_seeded_direct": "lower"})
def evaluate_fid_test_seeded(ctx: EvalContext, n: Optional[int] = None, n_fake: Optional[int] = None,
                             n_real: Optional[int] = None, reference: str = "test") -> List[MetricValue]:
    return _fid_pair(ctx, "test", "fid_test_seeded", n, n_fake, n_real, reference)
