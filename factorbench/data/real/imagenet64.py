"""``imagenet64``: downsampled ImageNet 64x64, label ``class`` (thesis §3.5, §4; docs/protocols.md §2.2).

The official "Downsampled ImageNet" release (Chrabaszcz, Loshchilov and Hutter 2017),
64x64 version, as NumPy ``.npz`` files. Layout:
``<root>/imagenet64/Imagenet64_train_npz/train_data_batch_1.npz .. train_data_batch_10.npz``
(the two official train archives, part 1 and part 2, unpacked into one folder) and
``<root>/imagenet64/Imagenet64_val_npz/val_data.npz``. Each file holds ``data`` uint8
(N, 12288), each row the 4096 red, then green, then blue values of a 64x64 image in
row-major order (so a row reshapes to (3, 64, 64)), and ``labels`` (N,) in 1..1000, which
become 0-based ``class`` 0..999 here. Other keys (the train files' ``mean``) are ignored.
The images are already 64x64 (the thesis rescales ImageNet to 64x64, §3.5): no crop, no
resize.

Split: ``train`` = the train batches in numeric order (1, 2, ..., 10), ``n`` takes the
first ``n`` images and reading stops as soon as ``n`` are in hand; ``test`` = the official
validation set (50,000), in file order. Only ``train_data_batch_1.npz`` is required for
train: if some batches are absent the loader reads the ones present, in numeric order,
skipping gaps, so ``train`` without ``n`` is then a subset of ImageNet;
``describe()["train_batches"]`` lists the batch files found. Fields: image, count (1),
label ``class``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource

SIZE = 64
NUM_CLASSES = 1000
TRAIN_DIR = "Imagenet64_train_npz"
VAL_FILE = "Imagenet64_val_npz/val_data.npz"
TRAIN_BATCHES = tuple(f"{TRAIN_DIR}/train_data_batch_{i}.npz" for i in range(1, 11))


def read_npz_batch(path: Path) -> tuple:
    """(images uint8 (N, 3, 64, 64), 0-based labels int64 (N,)) of one official npz file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if "data" not in f.files or "labels" not in f.files:
                raise FactorbenchError(f"{path}: expected 'data' and 'labels' arrays, found {sorted(f.files)}")
            data, labels = f["data"], np.asarray(f["labels"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError, TypeError) as exc:
        raise FactorbenchError(f"{path}: not a readable downsampled-ImageNet npz file ({exc})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIZE * SIZE:
        raise FactorbenchError(f"{path}: 'data' must be uint8 (N, 12288), found {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise FactorbenchError(f"{path}: 'labels' must be {len(data)} integers, found {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 1 or labels.max() > NUM_CLASSES):
        raise FactorbenchError(f"{path}: labels must be 1..1000 (1-based), found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, SIZE, SIZE), labels.astype(np.int64) - 1


@register_dataset("imagenet64")
class ImageNet64Source(RealSource):
    version = 1
    subdir = "imagenet64"
    image_shape = (3, SIZE, SIZE)
    description = (
        "downsampled ImageNet 64x64 (official npz), label class 0-999; test = official validation set; "
        "train reads the train_data_batch_*.npz present, in order (thesis §3.5)"
    )
    fields = ("image", "count", "labels")
    labels = ("class",)
    layout = f"{TRAIN_DIR}/train_data_batch_{{1..10}}.npz, {VAL_FILE} (official 64x64 npz files)"
    source_url = "https://image-net.org/download-images (Downsampled ImageNet 64x64, npz)"

    def required(self, split: str) -> List[str]:
        return [TRAIN_BATCHES[0]] if split == "train" else [VAL_FILE]

    def train_batches(self, folder: Path) -> List[str]:
        return [rel for rel in TRAIN_BATCHES if (folder / rel).is_file()]

    def describe(self) -> Dict[str, Any]:
        d = super().describe()
        d["train_batches"] = [Path(rel).name for rel in self.train_batches(self.folder())]
        return d

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        files = self.train_batches(folder) if split == "train" else [VAL_FILE]
        images, labels, have = [], [], 0
        for rel in files:
            if n is not None and have >= n:
                break
            x, y = read_npz_batch(folder / rel)
            take = len(x) if n is None else min(len(x), n - have)
            images.append(x[:take])
            labels.append(y[:take])
            have += take
        image = np.concatenate(images)
        return {"image": image, "count": np.ones(len(image), dtype=np.int64), "label_class": np.concatenate(labels)}
