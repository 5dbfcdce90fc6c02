"""The one sample contract shared by every dataset (docs/protocols.md §2).

A sample is a dict:

- ``image``  float32 tensor in [0, 1], shape (C, H, W)
- ``mask``   optional float32 (1, H, W) foreground mask in {0, 1}
- ``masks``  optional float32 (K, H, W) one mask per object (K = ``count``)
- ``boxes``  optional float32 (K, 4) boxes as (x0, y0, x1, y1) in pixels, x1/y1 exclusive
- ``labels`` dict: name -> int (image attribute) or int64 tensor (K,) (per-object value)
- ``count``  int, number of objects (1 for single-object datasets)

On disk a dataset is a dict of NumPy arrays (:data:`ArrayDict`) with a fixed maximum K:
``image`` uint8 (N,C,H,W); ``mask`` uint8 (N,1,H,W); ``masks`` uint8 (N,K,H,W);
``boxes`` float32 (N,K,4); ``count`` int64 (N,); ``label_<name>`` int64 (N,) for an
attribute or (N,K) per object, padded with -1 past ``count``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

import numpy as np
import torch

ArrayDict = Dict[str, np.ndarray]
LABEL_PREFIX = "label_"


def check_arrays(arrays: Mapping[str, np.ndarray], where: str) -> None:
    """Assert that ``arrays`` follows the on-disk contract (shapes, dtypes, ranges)."""
    def fail(msg: str) -> None:
        raise ValueError(f"{where}: {msg}")

    img = arrays.get("image")
    if img is None or img.ndim != 4 or img.dtype != np.uint8:
        fail("'image' must be uint8 (N,C,H,W)")
    n, _, h, w = img.shape
    count = arrays.get("count")
    if count is None or count.shape != (n,):
        fail("'count' must have shape (N,)")
    if "mask" in arrays and arrays["mask"].shape != (n, 1, h, w):
        fail("'mask' must be (N,1,H,W)")
    k = None
    if "masks" in arrays:
        if arrays["masks"].shape[:1] != (n,) or arrays["masks"].shape[2:] != (h, w):
            fail("'masks' must be (N,K,H,W)")
        k = arrays["masks"].shape[1]
    if "boxes" in arrays:
        if arrays["boxes"].ndim != 3 or arrays["boxes"].shape[0] != n or arrays["boxes"].shape[2] != 4:
            fail("'boxes' must be (N,K,4)")
        if k is not None and arrays["boxes"].shape[1] != k:
            fail("'boxes' and 'masks' disagree on K")
        k = arrays["boxes"].shape[1]
    if k is not None and (count.max(initial=0) > k or count.min(initial=0) < 0):
        fail("'count' out of range")
    for key, value in arrays.items():
        if key.startswith(LABEL_PREFIX) and value.shape[0] != n:
            fail(f"'{key}' must have N rows")


def sample_from_arrays(arrays: Mapping[str, np.ndarray], i: int) -> Dict[str, Any]:
    """Sample ``i`` of an :data:`ArrayDict`, as the contract's dict of tensors."""
    count = int(arrays["count"][i])
    sample: Dict[str, Any] = {
        "image": torch.from_numpy(arrays["image"][i].astype(np.float32) / 255.0),
        "count": count,
        "labels": {},
    }
    if "mask" in arrays:
        sample["mask"] = torch.from_numpy(arrays["mask"][i].astype(np.float32))
    if "masks" in arrays:
        sample["masks"] = torch.from_numpy(arrays["masks"][i, :count].astype(np.float32))
    if "boxes" in arrays:
        sample["boxes"] = torch.from_numpy(arrays["boxes"][i, :count].astype(np.float32))
    for key, value in arrays.items():
        if key.startswith(LABEL_PREFIX):
            name = key[len(LABEL_PREFIX):]
            row = value[i]
            sample["labels"][name] = int(row) if row.ndim == 0 else torch.from_numpy(row[:count].astype(np.int64))
    return sample


def collate_samples(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Batch samples: fixed-shape fields are stacked, per-object fields stay lists."""
    batch: Dict[str, Any] = {
        "image": torch.stack([s["image"] for s in samples]),
        "count": torch.tensor([s["count"] for s in samples], dtype=torch.int64),
        "labels": {},
    }
    if "mask" in samples[0]:
        batch["mask"] = torch.stack([s["mask"] for s in samples])
    for key in ("masks", "boxes"):
        if key in samples[0]:
            batch[key] = [s[key] for s in samples]
    for name, value in samples[0]["labels"].items():
        values = [s["labels"][name] for s in samples]
        batch["labels"][name] = torch.tensor(values, dtype=torch.int64) if isinstance(value, int) else values
    return batch
