"""Fréchet distance between Gaussians fitted to features (FID's core; docs/protocols.md §4.1).

    d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}

computed in float64 without a general matrix square root. With A = Σ₁^{1/2} and
B = Σ₂^{1/2} (symmetric square roots from ``eigh``, tiny negative eigenvalues of the
estimated covariances clipped to 0), the cross term tr (A B² A)^{1/2} is the sum of the
singular values of A·B (its nuclear norm). Everything is real
by construction, so there is no imaginary part to drop, and identical inputs give
tr Σ − 2 Σσ(Σ) + tr Σ = 0 up to rounding. The result is clamped at 0 only against
rounding error (≥ −1e-8 relative); a clearly negative value would be a bug and raises.

**Fewer images than feature dimensions** (n < D = 2048, every CPU preset): Σ = XᵀX with
X = (F − μ)/√(n − 1) the centred (n, D) features, so Σ₁Σ₂ = X₁ᵀX₁Σ₂ has the same nonzero
eigenvalues as the (n₁, n₁) matrix X₁Σ₂X₁ᵀ, and with features on both sides the cross
term is the nuclear norm of the (n₁, n₂) matrix X₁X₂ᵀ. Both are exact (the same number,
not an approximation) and replace D × D decompositions by n × n ones: ~0.3 s instead of
~25 s at n = 200 on a 2-core CPU (``benchmarks/perf/frechet_speed.py``).
Statistics come from torch-fidelity's ``fid_features_to_statistics`` (mean and
``np.cov``, ddof = 1), cast to float64; they need at least 2 samples.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ..errors import FactorbenchError


def feature_statistics(features) -> Tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) in float64 of an (N, D) feature matrix; N ≥ 2."""
    feats = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if feats.dim() != 2:
        raise FactorbenchError(f"features must be (N, D), got shape {tuple(feats.shape)}")
    if feats.shape[0] < 2:
        raise FactorbenchError(f"FID needs at least 2 images per side, got {feats.shape[0]}")
    if not torch.isfinite(feats).all():
        raise FactorbenchError("features contain NaN or inf")
    stats = fid_features_to_statistics(feats)
    return np.asarray(stats["mu"], dtype=np.float64), np.atleast_2d(np.asarray(stats["sigma"], dtype=np.float64))


def psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance estimate (negative eigenvalues clipped to 0)."""
    sym = (sigma + sigma.T) / 2
    values, vectors = np.linalg.eigh(sym)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _centred(features, mu: np.ndarray, sigma: np.ndarray) -> Optional[np.ndarray]:
    """X = (F − μ)/√(n − 1), so that XᵀX is the ddof = 1 covariance of F; None when the
    features are not the ones the statistics were computed from (another count, mean or
    trace, e.g. a statistics file carrying a subset of its features): the distance then
    comes from the statistics alone."""
    feats = np.asarray(features, np.float64)
    if feats.ndim != 2 or feats.shape[1] != mu.size or feats.shape[0] < 2 or not np.isfinite(feats).all():
        return None
    mean = feats.mean(axis=0)
    scale = max(float(np.abs(mu).max()), 1e-12)
    if float(np.abs(mean - mu).max()) > 1e-5 * scale:
        return None
    x = (feats - mean) / np.sqrt(feats.shape[0] - 1)
    trace = float(np.trace(sigma))
    if abs(float(np.sum(x * x)) - trace) > 1e-5 * max(trace, 1e-12):
        return None
    return x


def _sqrt_eigvalsh_sum(m: np.ndarray) -> float:
    """Σ √λ over the eigenvalues of symmetric PSD ``m`` (rounding negatives clipped to 0)."""
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def cross_term(sigma1, sigma2, sqrt1=None, sqrt2=None, features1=None, features2=None, mu1=None, mu2=None) -> float:
    """tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}, by the cheapest exact route the inputs allow (module
    docstring): the (n₁, n₂) features product, the (n, n) product with the other side's
    covariance, or the D × D square roots. Features are centred only for a side that has
    fewer images than dimensions (and only if they match their statistics)."""
    dim = sigma1.shape[0]
    small1 = features1 is not None and len(features1) < dim
    small2 = features2 is not None and len(features2) < dim
    x1 = _centred(features1, mu1, sigma1) if small1 else None
    x2 = _centred(features2, mu2, sigma2) if small2 else None
    if x1 is not None and x2 is not None:
        return float(np.linalg.svd(x1 @ x2.T, compute_uv=False).sum())
    if x1 is not None and (x2 is None or len(x1) <= len(x2)):
        return _sqrt_eigvalsh_sum(x1 @ sigma2 @ x1.T)
    if x2 is not None:
        return _sqrt_eigvalsh_sum(x2 @ sigma1 @ x2.T)
    a = psd_sqrt(sigma1) if sqrt1 is None else np.asarray(sqrt1, np.float64)
    b = psd_sqrt(sigma2) if sqrt2 is None else np.asarray(sqrt2, np.float64)
    return float(np.linalg.svd(a @ b, compute_uv=False).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, sqrt1=None, sqrt2=None, features1=None, features2=None) -> float:
    """The Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2), float64, never negative.

    ``sqrt1``/``sqrt2`` may pass :func:`psd_sqrt` of the covariances when already known
    (the cached reference statistics keep it), saving an eigendecomposition each.
    ``features1``/``features2`` may pass the (n, D) features the statistics were computed
    from; with fewer images than dimensions the cross term then comes from an n × n
    problem instead (exact, module docstring); features that do not match their statistics
    are ignored."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise FactorbenchError(
            f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    for name, arr in (("mu", mu1), ("mu", mu2), ("sigma", sigma1), ("sigma", sigma2)):
        if not np.isfinite(arr).all():
            raise FactorbenchError(f"FID statistics contain NaN or inf ({name})")
    diff = mu1 - mu2
    trace1, trace2 = float(np.trace(sigma1)), float(np.trace(sigma2))
    cross = cross_term(sigma1, sigma2, sqrt1, sqrt2, features1, features2, mu1, mu2)
    value = float(diff @ diff) + trace1 + trace2 - 2.0 * cross
    scale = max(1.0, trace1 + trace2)
    if value < -1e-8 * scale:
        raise AssertionError(f"Fréchet distance came out negative ({value}); this is a bug")
    return max(value, 0.0)


#: relative tolerances of :func:`checked_covariance_root`: a covariance written by np.cov in
#: float64 or float32 (pytorch-fid, clean-fid, ours) is symmetric and PSD well within them
SYMMETRY_TOL = 1e-6
PSD_TOL = 1e-5


def checked_covariance_root(sigma: np.ndarray, where: str) -> np.ndarray:
    """:func:`psd_sqrt` of a covariance read from a file, after checking that it is one:
    finite, symmetric (max |Σ − Σᵀ| ≤ 1e-6 · max |Σ|) and positive semi-definite (smallest
    eigenvalue ≥ −1e-5 · the largest). Anything else is a one-line error naming ``where``;
    the Fréchet distance of a matrix that is not a covariance is not a number to report."""
    sigma = np.asarray(sigma, np.float64)
    if not np.isfinite(sigma).all():
        raise FactorbenchError(f"{where}: sigma contains NaN or inf")
    scale = float(np.abs(sigma).max()) if sigma.size else 0.0
    asymmetry = float(np.abs(sigma - sigma.T).max()) if sigma.size else 0.0
    if asymmetry > SYMMETRY_TOL * max(scale, 1e-300):
        raise FactorbenchError(f"{where}: sigma is not symmetric (max |sigma - sigma.T| = {asymmetry:.3g}, "
                               f"max |sigma| = {scale:.3g}); it is not a covariance matrix")
    values, vectors = np.linalg.eigh((sigma + sigma.T) / 2)
    if values.size and values.min() < -PSD_TOL * max(float(values.max()), 1e-300):
        raise FactorbenchError(f"{where}: sigma is not positive semi-definite (smallest eigenvalue {values.min():.3g}, "
                               f"largest {values.max():.3g}); it is not a covariance matrix")
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
