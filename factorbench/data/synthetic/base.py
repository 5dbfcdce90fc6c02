"""Base class of the embedded synthetic datasets (docs/protocols.md §2.1): generate once, cache on disk.

A subclass sets the class attributes and implements :meth:`generate`, a pure function of
(split, n, rng) returning an :data:`~factorbench.data.sample.ArrayDict`. The split's
generator is seeded with ``stage_seed(seed, "<name>/<split>")``, so a (name, split, n, seed,
version) tuple always yields the same bytes; bump ``version`` whenever ``generate`` changes.
Train and test differ by construction (held-out colour combinations, disjoint source
digits, ...) as each generator documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ...seeding import stage_seed
from ..cache import cache_root, read_npz, write_npz
from ..dataset import ArrayDataset
from ..sample import ArrayDict

SPLITS = ("train", "test")


class SyntheticSource:
    """A registered synthetic dataset. Subclasses fill in the attributes and ``generate``."""

    kind = "synthetic"
    version: int = 1
    image_shape: Tuple[int, int, int] = (3, 64, 64)
    default_sizes: Dict[str, int] = {"train": 1000, "test": 200}
    description: str = ""
    fields: Tuple[str, ...] = ("image", "count")
    labels: Tuple[str, ...] = ()

    def __init__(self, name: str):
        self.name = name

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        raise NotImplementedError  # abstract

    def describe(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "image_shape": list(self.image_shape),
            "sizes": dict(self.default_sizes),
            "fields": list(self.fields),
            "labels": list(self.labels),
            "description": self.description,
            "version": self.version,
        }

    def cache_path(self, split: str, n: int, seed: int) -> Path:
        return cache_root() / "datasets" / self.name / f"{split}-n{n}-seed{seed}-v{self.version}.npz"

    def is_cached(self, split: str, n: Optional[int] = None, seed: int = 0) -> bool:
        return self.cache_path(split, n or self.default_sizes[split], seed).exists()

    def load(self, split: str = "train", n: Optional[int] = None, seed: int = 0) -> ArrayDataset:
        if split not in SPLITS:
            raise FactorbenchError(f"dataset {self.name}: unknown split {split!r}; splits: {', '.join(SPLITS)}")
        n = self.default_sizes[split] if n is None else int(n)
        if n <= 0:
            raise FactorbenchError(f"dataset {self.name}: size must be positive, got {n}")
        path = self.cache_path(split, n, seed)
        arrays = read_npz(path)
        if arrays is None:
            rng = np.random.default_rng(stage_seed(seed, f"{self.name}/{split}"))
            arrays = self.generate(split, n, rng)
            write_npz(path, arrays)
        info = {"source": "synthetic", "seed": seed, "version": self.version, "cache": str(path)}
        return ArrayDataset(self.name, split, arrays, info)
