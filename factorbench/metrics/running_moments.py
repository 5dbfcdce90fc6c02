"""Mean and covariance of features that arrive in batches, without keeping the features.

Batches are merged with Chan, Golub & LeVeque's pairwise update (float64): for a running
(n_a, μ_a, M_a) and a batch (n_b, μ_b, M_b), with M = Σ (x − μ)(x − μ)ᵀ and δ = μ_b − μ_a,

    n = n_a + n_b,   μ = μ_a + δ · n_b / n,   M = M_a + M_b + δ δᵀ · n_a n_b / n,

and Σ = M / (n − 1) (ddof = 1, as :func:`factorbench.metrics.frechet.feature_statistics`).
Unlike accumulating Σ x xᵀ, this does not cancel catastrophically, so the streamed
statistics match the all-at-once ones to float64 rounding (tests/test_api.py).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import FactorbenchError


class RunningMoments:
    """Streaming (μ, Σ) of (B, D) feature batches; memory O(D²), not O(N·D)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Optional[np.ndarray] = None
        self.m2: Optional[np.ndarray] = None

    def add(self, features) -> None:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise FactorbenchError(f"features must be (B, D), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise FactorbenchError("features contain NaN or inf")
        if len(x) == 0:
            return
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        if self.n == 0:
            self.n, self.mean, self.m2 = len(x), mean_b, m2_b
            return
        if x.shape[1] != self.mean.shape[0]:
            raise FactorbenchError(f"feature dimension changed from {self.mean.shape[0]} to {x.shape[1]}")
        n = self.n + len(x)
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (len(x) / n)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.n * len(x) / n)
        self.n = n

    def statistics(self) -> Tuple[np.ndarray, np.ndarray]:
        """(μ, Σ) in float64; Σ with ddof = 1. Needs at least 2 samples."""
        if self.n < 2:
            raise FactorbenchError(f"FID needs at least 2 images per side, got {self.n}")
        return self.mean.copy(), self.m2 / (self.n - 1)
