"""The dataset registry: a name maps to a *source* that can load a split.

A source is any object with ``describe() -> dict`` and
``load(split, n=None, seed=0) -> ArrayDataset``. Synthetic sources build and cache their
data (:mod:`factorbench.data.synthetic.base`); real-dataset loaders read a local root.
"""

from __future__ import annotations

from typing import Optional

from ..registry import Registry
from .dataset import ArrayDataset

DATASETS: Registry = Registry("dataset")


def register_dataset(name: str):
    """Class decorator: instantiate the source class and register it under ``name``."""

    def add(cls):
        DATASETS.register(name)(cls(name))
        return cls

    return add


def get_dataset(name: str, split: str = "train", n: Optional[int] = None, seed: int = 0) -> ArrayDataset:
    """Load split ``split`` of dataset ``name`` (``n`` images; default: the dataset's size)."""
    return DATASETS.get(name).load(split, n=n, seed=seed)


def dataset_names() -> list:
    return DATASETS.names()
