"""An in-memory dataset over an :data:`~factorbench.data.sample.ArrayDict`.

Every dataset, synthetic or real, ends up as one of these: a torch ``Dataset`` that yields
contract samples, plus direct array access (``images()``, ``labels(name)``) for metrics that
want the whole split at once.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import FactorbenchError
from .sample import LABEL_PREFIX, ArrayDict, check_arrays, sample_from_arrays


class ArrayDataset(Dataset):
    """A dataset split held as arrays; ``ds[i]`` is a contract sample."""

    def __init__(self, name: str, split: str, arrays: ArrayDict, info: Optional[Mapping[str, Any]] = None):
        check_arrays(arrays, f"{name}/{split}")
        self.name = name
        self.split = split
        self.arrays = arrays
        self.info: Dict[str, Any] = dict(info or {})

    def __len__(self) -> int:
        return int(self.arrays["image"].shape[0])

    def __getitem__(self, i: int) -> Dict[str, Any]:
        return sample_from_arrays(self.arrays, int(i))

    @property
    def image_shape(self) -> tuple:
        return tuple(self.arrays["image"].shape[1:])

    @property
    def label_names(self) -> list:
        return sorted(k[len(LABEL_PREFIX):] for k in self.arrays if k.startswith(LABEL_PREFIX))

    def batch(self, indices: np.ndarray) -> Dict[str, Any]:
        """Samples ``indices`` collated into one batch (see :func:`batch_from_arrays`)."""
        return batch_from_arrays(self.arrays, indices)

    def images(self, indices: Optional[np.ndarray] = None) -> torch.Tensor:
        """Images as float32 in [0, 1], shape (N, C, H, W)."""
        data = self.arrays["image"] if indices is None else self.arrays["image"][indices]
        return torch.from_numpy(data.astype(np.float32) / 255.0)

    def labels(self, name: str) -> np.ndarray:
        key = LABEL_PREFIX + name
        if key not in self.arrays:
            have = ", ".join(self.label_names) or "none"
            raise FactorbenchError(f"dataset {self.name} has no label {name!r}; labels: {have}")
        return self.arrays[key]


def batch_from_arrays(arrays: ArrayDict, indices: np.ndarray) -> Dict[str, Any]:
    """The collated batch of samples ``indices`` (same structure as ``collate_samples``),
    built with array slicing instead of a per-sample Python loop (the training fast path)."""
    indices = np.asarray(indices)
    count = arrays["count"][indices]
    batch: Dict[str, Any] = {
        "image": torch.from_numpy(arrays["image"][indices].astype(np.float32) / 255.0),
        "count": torch.from_numpy(count.astype(np.int64)),
        "labels": {},
    }
    if "mask" in arrays:
        batch["mask"] = torch.from_numpy(arrays["mask"][indices].astype(np.float32))
    for key in ("masks", "boxes"):
        if key in arrays:
            batch[key] = [torch.from_numpy(arrays[key][i, :c].astype(np.float32)) for i, c in zip(indices, count)]
    for key, value in arrays.items():
        if key.startswith(LABEL_PREFIX):
            name = key[len(LABEL_PREFIX):]
            rows = value[indices]
            if rows.ndim == 1:
                batch["labels"][name] = torch.from_numpy(rows.astype(np.int64))
            else:
                batch["labels"][name] = [torch.from_numpy(r[:c].astype(np.int64)) for r, c in zip(rows, count)]
    return batch
