"""Probes on BFVAE's two codes (thesis §5.4.1 Table 5.2, §5.4.3 Table 5.7; docs/protocols.md §4.3).

"We train a two-layer MLP classifier to classify both z_b and z_f. This is a good indicator
to show the amount of information in the latent space" (§5.4.1): for each label (shape,
foreground colour, digit class ...) a classifier is fitted on the train split's codes and
scored on both splits. Higher is better for z_f, lower for z_b (Table 5.2: z_b "should be
as low as possible since we want it to lose the foreground information").

Codes are posterior means μ: z_f = E_f(x⊙m [, m]) and z_b = E_b(x), with each image's own
mask (or, in attribute mode, its class exemplar). Probes are those of
:mod:`~factorbench.metrics.probes` (standardised codes; logistic regression and the
256-unit MLP of Tables 5.2/5.7), with the same chance level (the frequency of the most
common test label).

The evaluator ``probe_factors`` reports one record per output per label; the label name is
the record's ``target`` (so a table with ``rows = "target"`` has one row per label, as
Table 5.2 has one for shape and one for colour).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import torch

from ..data.dataset import ArrayDataset
from ..device import to_device
from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, register_evaluator, targets_from
from ..metrics.probes import ProbeResult, linear_probe, mlp_probe

PARTS = ("zf", "zb")
KINDS = ("linear", "mlp")
SPLITS = ("train", "test")
FEATURES = {"zf": "posterior mean of z_f (E_f on the foreground)", "zb": "posterior mean of z_b (E_b on the whole image)"}
CLASSIFIERS = {"linear": "logistic regression", "mlp": "MLP, 256 hidden"}


@torch.no_grad()
def zf_zb_codes(model, dataset: ArrayDataset, batch_size: int = 256, device: str = "cpu") -> Dict[str, np.ndarray]:
    """μ of z_f and of z_b for every image of ``dataset``: ``{"zf": (N, zf_dim), "zb": (N, zb_dim)}``.

    Runs in eval mode (restored afterwards); f uses each image's ``mask``, or in attribute
    mode its ``attribute_label`` exemplar.
    """
    if not hasattr(model, "encode_parts"):
        raise FactorbenchError(f"factor probes need a model with a foreground and a background code (bfvae); "
                               f"{model.name} has none")
    label = model.config.attribute_label if getattr(model.config, "attribute_mode", False) else None
    if label is not None:
        dataset.labels(label)  # a clear error when the dataset lacks it
    elif "mask" not in dataset.arrays:
        raise FactorbenchError(f"dataset {dataset.name} has no foreground 'mask', which z_f needs")
    was_training = model.training
    model.eval()
    codes: Dict[str, List[torch.Tensor]] = {"zf": [], "zb": []}
    try:
        for start in range(0, len(dataset), batch_size):
            batch = to_device(dataset.batch(np.arange(start, min(start + batch_size, len(dataset)))), device)
            labels = None if label is None else batch["labels"][label]
            parts = model.encode_parts(batch["image"], batch.get("mask"), labels)
            for part in PARTS:
                mu = parts[f"{part}_mu"]
                if not torch.isfinite(mu).all():
                    raise FactorbenchError("the model produced NaN or inf codes; its checkpoint is likely diverged")
                codes[part].append(mu.cpu())
    finally:
        model.train(was_training)
    return {part: torch.cat(values).numpy() for part, values in codes.items()}


def factor_probe_results(codes_train: Dict[str, np.ndarray], y_train, codes_test: Dict[str, np.ndarray], y_test,
                         seed: int = 0) -> Dict[str, ProbeResult]:
    """Linear and MLP probes of ``y`` on each code: keys ``"{kind}_{part}"`` (e.g. ``mlp_zb``)."""
    fits = {"linear": linear_probe, "mlp": mlp_probe}
    return {f"{kind}_{part}": fits[kind](codes_train[part], y_train, codes_test[part], y_test, seed=seed)
            for kind in KINDS for part in PARTS}



OUTPUTS: Dict[str, str] = {
    **{f"probe_{kind}_{part}_{split}_acc": "higher" if part == "zf" else "lower"
       for kind in KINDS for part in PARTS for split in SPLITS},
    "probe_chance": "none",
}


@register_evaluator("probe_factors", OUTPUTS, targets=targets_from("labels"))
def evaluate_factor_probes(ctx: EvalContext, labels: Optional[List[str]] = None) -> List[MetricValue]:
    """Tables 5.2/5.7: linear and MLP probes of each label in ``labels`` on z_f and on z_b."""
    if not labels:
        raise FactorbenchError("probe_factors needs labels=[...], the labels to probe (e.g. shape, fg_colour)")
    codes_train = zf_zb_codes(ctx.model, ctx.train, ctx.batch_size, ctx.device)
    codes_test = zf_zb_codes(ctx.model, ctx.test, ctx.batch_size, ctx.device)
    values: List[MetricValue] = []
    for label in labels:
        y_train, y_test = ctx.train.labels(label), ctx.test.labels(label)
        if y_train.ndim != 1:
            raise FactorbenchError(f"label {label!r} is per-object; probes need one label per image")
        results = factor_probe_results(codes_train, y_train, codes_test, y_test, seed=ctx.seed)
        base = {"label": label, "n_train": len(y_train), "n_test": len(y_test), "standardised": True,
                "chance": "frequency of the most common test label"}
        for key, result in results.items():
            kind, part = key.split("_")
            protocol = {**base, "features": FEATURES[part], "classifier": CLASSIFIERS[kind]}
            for split in SPLITS:
                values.append(MetricValue(f"probe_{kind}_{part}_{split}_acc", getattr(result, f"{split}_acc"),
                                          protocol, target=label))
        values.append(MetricValue("probe_chance", results["linear_zf"].chance, base, target=label))
    return values
