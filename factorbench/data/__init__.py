"""Datasets behind one sample contract (docs/protocols.md §2); importing this registers all of them."""

from .registry import DATASETS, get_dataset, dataset_names  # noqa: F401
from . import synthetic  # noqa: F401  (registers the embedded synthetic datasets)
from . import real  # noqa: F401  (registers the real-dataset loaders)
