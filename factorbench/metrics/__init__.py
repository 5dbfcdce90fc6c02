"""Metrics (docs/protocols.md §4): pure functions over tensors and arrays — Fréchet
distance, Inception features and FID protocols, sharpness, probes, AP and count errors,
the digit-sum regressor, precision/recall, embeddings — and the readers of their inputs
(image folders and datasets, prediction files). Nothing here takes a trained model's
context or registers anything: the evaluators that pull outputs from a model and call
these functions are in :mod:`factorbench.evaluators`.
"""
