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
