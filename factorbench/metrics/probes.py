"""Latent probes (docs/protocols.md §4.3): how much of a label can a classifier read off μ?

``linear_probe``: multinomial logistic regression (Table 4.1's linear classifier) on
standardised features; ``mlp_probe``: two layers, 256 hidden units (Tables 5.2, 5.7).
Both fit on the train split's codes and report train and test accuracy, with the chance
level alongside: the test accuracy of the best constant guess (the frequency of the most
common test label), which no label-blind predictor can beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import FactorbenchError


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
