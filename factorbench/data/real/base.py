"""Base class of the real-dataset loaders: a local root, a layout check, a cache (docs/protocols.md §2.2).

A loader reads ``<data root>/<subdir>/`` in the dataset's official on-disk layout and returns
the same :data:`~factorbench.data.sample.ArrayDict` as the synthetic datasets. Before
reading, :meth:`RealSource.missing` lists the required files that are absent; if any are,
loading fails with one line naming the dataset, the folder, what is missing, the expected
layout and where to get the data, never with a traceback or an empty dataset.

The data root is ``$FACTORBENCH_DATA`` (``factorbench --data-root DIR`` sets it) or
``./data``. Decoded splits are cached like the synthetic ones (``$FACTORBENCH_CACHE``), keyed
by dataset, split, size, loader version and the resolved root, so a second load of a large
dataset does not decode its JPEGs again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ...errors import FactorbenchError
from ..cache import cache_root, read_npz, write_npz
from ..dataset import ArrayDataset
from ..sample import ArrayDict

SPLITS = ("train", "test")


def data_root() -> Path:
    return Path(os.environ.get("FACTORBENCH_DATA", "data"))


class RealSource:
    """A registered real dataset. Subclasses set the attributes and implement ``read``."""

    kind = "real"
    version: int = 1
    #: folder under the data root
    subdir: str = ""
    image_shape: Tuple[int, int, int] = (3, 64, 64)
    description: str = ""
    fields: Tuple[str, ...] = ("image", "count")
    labels: Tuple[str, ...] = ()
    #: one line: the files the loader reads, relative to <root>/<subdir>
    layout: str = ""
    #: one line: where a user gets the data
    source_url: str = ""
    splits: Tuple[str, ...] = SPLITS

    def __init__(self, name: str):
        self.name = name

    # -- what subclasses implement -----------------------------------------------------------
    def required(self, split: str) -> List[str]:
        """Paths (relative to the dataset folder) that must exist to read ``split``."""
        raise NotImplementedError  # abstract

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        """The first ``n`` samples (all if None) of ``split`` in the contract's arrays."""
        raise NotImplementedError  # abstract

    # -- shared machinery ----------------------------------------------------------------------
    def folder(self) -> Path:
        return data_root() / self.subdir

    def missing(self, split: str) -> List[str]:
        folder = self.folder()
        return [rel for rel in self.required(split) if not (folder / rel).exists()]

    def found(self) -> bool:
        return all(not self.missing(s) for s in self.splits)

    def describe(self) -> Dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "image_shape": list(self.image_shape),
            "sizes": {s: "all" for s in self.splits}, "fields": list(self.fields), "labels": list(self.labels),
            "description": self.description, "version": self.version, "root": str(self.folder()),
            "found": self.found(), "layout": self.layout,
        }

    def not_found_error(self, split: str, missing: List[str]) -> FactorbenchError:
        shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
        return FactorbenchError(
            f"dataset {self.name} ({split}) not found under {self.folder()}: missing {shown}. Expected layout: "
            f"{self.layout}. Get it from {self.source_url} and point --data-root or FACTORBENCH_DATA at its parent"
        )

    def cache_path(self, split: str, n: Optional[int]) -> Path:
        where = hashlib.sha1(str(self.folder().resolve()).encode()).hexdigest()[:10]
        return cache_root() / "datasets" / self.name / f"{split}-n{n or 'all'}-v{self.version}-{where}.npz"

    def is_cached(self, split: str, n: Optional[int] = None, seed: int = 0) -> bool:
        return self.cache_path(split, n).exists()

    def load(self, split: str = "train", n: Optional[int] = None, seed: int = 0) -> ArrayDataset:
        if split not in self.splits:
            raise FactorbenchError(f"dataset {self.name}: unknown split {split!r}; splits: {', '.join(self.splits)}")
        if n is not None and n <= 0:
            raise FactorbenchError(f"dataset {self.name}: size must be positive, got {n}")
        missing = self.missing(split)
        if missing:
            raise self.not_found_error(split, missing)
        path = self.cache_path(split, n)
        arrays = read_npz(path)
        if arrays is None:
            arrays = self.read(self.folder(), split, n)
            if len(arrays["image"]) == 0:
                raise FactorbenchError(f"dataset {self.name} ({split}) under {self.folder()} holds no images")
            write_npz(path, arrays)
        info = {"source": "real", "root": str(self.folder()), "version": self.version, "cache": str(path)}
        return ArrayDataset(self.name, split, arrays, info)
