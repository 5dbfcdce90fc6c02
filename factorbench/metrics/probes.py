"""Latent probes (docs/protocols.md §4.3): how much of a label can a classifier read off μ?

``linear_probe``: multinomial logistic regression (Table 4.1's linear classifier) on
standardised features; ``mlp_probe``: two layers, 256 hidden units (Tables 5.2, 5.7).
Both fit on the train split's codes and report train and test accuracy, with the chance
level alongside: the test accuracy of the best constant guess (the frequency of the most
common test label), which no label-blind predictor can beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import FactorbenchError
from .evaluate import EvalContext, MetricValue, check_label, map_batches, register_evaluator


@dataclass
class ProbeResult:
    train_acc: float
    test_acc: float
    chance: float


def _fit_probe(classifier, z_train, y_train, z_test, y_test) -> ProbeResult:
    z_train, z_test = np.asarray(z_train, np.float64), np.asarray(z_test, np.float64)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(np.unique(y_train)) < 2:
        raise FactorbenchError("a probe needs at least two classes in the training labels")
    if not (np.isfinite(z_train).all() and np.isfinite(z_test).all()):
        raise FactorbenchError("latent codes contain NaN or inf; the model is likely diverged")
    model = make_pipeline(StandardScaler(), classifier).fit(z_train, y_train)
    _, test_counts = np.unique(y_test, return_counts=True)
    return ProbeResult(
        train_acc=float((model.predict(z_train) == y_train).mean()),
        test_acc=float((model.predict(z_test) == y_test).mean()),
        chance=float(test_counts.max() / len(y_test)),
    )


def linear_classifier(seed: int = 0) -> LogisticRegression:
    """The linear probe's classifier (multinomial logistic regression); callers standardise."""
    return LogisticRegression(max_iter=2000, random_state=seed)


def linear_probe(z_train, y_train, z_test, y_test, seed: int = 0) -> ProbeResult:
    """Multinomial logistic regression on standardised codes."""
    return _fit_probe(linear_classifier(seed), z_train, y_train, z_test, y_test)


def mlp_probe(z_train, y_train, z_test, y_test, seed: int = 0, hidden: int = 256) -> ProbeResult:
    """Two-layer MLP (one hidden layer of ``hidden`` units) on standardised codes."""
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=500, early_stopping=False, random_state=seed)
    return _fit_probe(clf, z_train, y_train, z_test, y_test)


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
