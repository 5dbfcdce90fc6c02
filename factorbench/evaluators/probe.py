"""The ``probe_linear`` and ``probe_mlp`` evaluators: probes on the posterior mean μ of the
train and test splits (docs/protocols.md §4.3; thesis Tables 4.1, 5.2, 5.7), with
:mod:`factorbench.metrics.probes`.
"""

from __future__ import annotations

from typing import List, Optional
import numpy as np
import torch

from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, check_label, register_evaluator
from ..metrics.batches import map_batches
from ..metrics.probes import ProbeResult, linear_probe, mlp_probe


def encode_mu(ctx: EvalContext, images: torch.Tensor) -> np.ndarray:
    ctx.model.eval()
    outs = map_batches(ctx.model.encode, images, ctx.batch_size, ctx.device)
    return torch.cat([mu.cpu() for mu, _ in outs]).numpy()


def _probe_values(kind: str, result: ProbeResult, label: str, n_train: int, n_test: int) -> List[MetricValue]:
    protocol = {"features": "posterior mean mu", "label": label, "n_train": n_train, "n_test": n_test,
                "classifier": "logistic regression" if kind == "linear" else "MLP, 256 hidden",
                "standardised": True, "chance": "frequency of the most common test label"}
    return [
        MetricValue(f"probe_{kind}_train_acc", result.train_acc, protocol),
        MetricValue(f"probe_{kind}_test_acc", result.test_acc, protocol),
        MetricValue(f"probe_{kind}_chance", result.chance, protocol),
    ]


def _evaluate_probe(kind: str, ctx: EvalContext, label: Optional[str]) -> List[MetricValue]:
    label = check_label(ctx.train, label)
    z_train, z_test = encode_mu(ctx, ctx.train.images()), encode_mu(ctx, ctx.test.images())
    y_train, y_test = ctx.train.labels(label), ctx.test.labels(label)
    if y_train.ndim != 1:
        raise FactorbenchError(f"label {label!r} is per-object; probes need one label per image")
    fit = linear_probe if kind == "linear" else mlp_probe
    result = fit(z_train, y_train, z_test, y_test, seed=ctx.seed)
    return _probe_values(kind, result, label, len(y_train), len(y_test))


@register_evaluator("probe_linear", {"probe_linear_train_acc": "higher", "probe_linear_test_acc": "higher",
                                     "probe_linear_chance": "none"})
def evaluate_linear_probe(ctx: EvalContext, label: Optional[str] = None) -> List[MetricValue]:
    return _evaluate_probe("linear", ctx, label)


@register_evaluator("probe_mlp", {"probe_mlp_train_acc": "higher", "probe_mlp_test_acc": "higher",
                                  "probe_mlp_chance": "none"})
def evaluate_mlp_probe(ctx: EvalContext, label: Optional[str] = None) -> List[MetricValue]:
    return _evaluate_probe("mlp", ctx, label)
