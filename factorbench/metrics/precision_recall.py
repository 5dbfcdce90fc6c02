"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019), on Inception features.

Each set of features approximates its manifold by the union of hyperspheres centred on its
samples, the radius of sample φ being the distance to its k-th nearest neighbour in the
same set (φ itself not counted):

    f(φ, Φ) = 1  if  ‖φ − φ'‖₂ ≤ ‖φ' − NN_k(φ', Φ)‖₂  for some φ' ∈ Φ,  else 0
    precision(Φ_r, Φ_g) = (1/|Φ_g|) Σ_{φ_g ∈ Φ_g} f(φ_g, Φ_r)
    recall(Φ_r, Φ_g)    = (1/|Φ_r|) Σ_{φ_r ∈ Φ_r} f(φ_r, Φ_g)

(the paper's eq. 1-2), with k = 3 as torch-fidelity's ``prc`` default. Precision is the
fraction of generated samples that fall in the real manifold (quality), recall the fraction
of real samples that fall in the generated manifold (coverage). Distances are Euclidean, in
float64, computed in blocks of rows so memory stays O(block · N).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ..errors import FactorbenchError

DEFAULT_K = 3
DEFINITION = ("improved precision and recall (Kynkäänniemi et al. 2019): a sample counts when it lies within the "
              "k-th-nearest-neighbour radius of some sample of the other set; Euclidean distances on Inception pool3")


def _as_features(x, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise FactorbenchError(f"{what} features must be (N, D), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise FactorbenchError(f"{what} features contain NaN or inf")
    return a


def _pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and of ``b`` (|a| x |b|)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(sq, 0.0, None))


def knn_radii(features: np.ndarray, k: int = DEFAULT_K, block: int = 1024) -> np.ndarray:
    """Distance from each row to its k-th nearest *other* row of ``features``."""
    n = len(features)
    if not 1 <= k < n:
        raise FactorbenchError(f"precision/recall with k={k} needs more than {k} samples per side, got {n}")
    out = np.empty(n)
    for start in range(0, n, block):
        d = _pairwise_distances(features[start:start + block], features)
        rows = np.arange(d.shape[0])
        d[rows, start + rows] = np.inf  # a sample is not its own neighbour
        out[start:start + block] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


def coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int = 1024) -> float:
    """Fraction of ``points`` inside at least one ball (centre, radius): the f of the module doc."""
    inside = np.empty(len(points), dtype=bool)
    for start in range(0, len(points), block):
        d = _pairwise_distances(points[start:start + block], centres)
        inside[start:start + block] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(fake_features, real_features, k: int = DEFAULT_K) -> Dict[str, float]:
    """``precision``, ``recall`` and their harmonic mean ``f_score`` of generated features
    ``fake_features`` (N_g, D) against ``real_features`` (N_r, D) (module doc, eq. 1-2)."""
    fake = _as_features(fake_features, "fake")
    real = _as_features(real_features, "real")
    if fake.shape[1] != real.shape[1]:
        raise FactorbenchError(f"fake and real features differ in dimension: {fake.shape[1]} vs {real.shape[1]}")
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    f_score = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f_score": f_score}
