"""Diversity of a set of images: the mean pairwise distance, and its ratio to the inputs'
(the collapse criterion of the ``samples`` evaluator, thesis §3.5.1; definitions in
:mod:`factorbench.evaluators.samples`)."""

from __future__ import annotations

import torch

from ..errors import FactorbenchError


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs i < j of (N, ...) images (N ≥ 2), float64."""
    if len(images) < 2:
        raise FactorbenchError("diversity needs at least two images")
    flat = images.detach().double().flatten(1)
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))  # the diagonal is 0; each pair counted twice


def diversity_ratio(outputs: torch.Tensor, inputs: torch.Tensor) -> float:
    """diversity(outputs) / diversity(inputs) (see the module docstring)."""
    return mean_pairwise_distance(outputs) / max(mean_pairwise_distance(inputs), 1e-12)
