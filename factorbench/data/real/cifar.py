"""``cifar10``: CIFAR-10 at its native 3x32x32, label ``class`` (thesis §3.5; SPEC §2.2).

Layout: ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``, the
python-version pickles of the official ``cifar-10-python.tar.gz``, the files torchvision's
``CIFAR10`` reads.

Why not ``torchvision.datasets.CIFAR10``: with ``download=False`` it still verifies the md5
of all six batches and of ``batches.meta`` before reading any split, so it rejects every
file that is not byte-identical to the official release, including the few-image files the
tests write in the same format. This module reads the same pickles the same way
(``pickle.load(f, encoding="latin1")``; ``data`` uint8 (N, 3072), each row the 1024 red,
then green, then blue values of a 32x32 image in row-major order; ``labels`` a list of N
ints) and checks their structure instead: dtype, shape, label range, and that
``batches.meta`` names the ten classes below. It does not check md5s. The keys may be
``str`` (the official Python-2 pickles under ``encoding="latin1"``) or ``bytes``
(``b"data"``, a file pickled from Python 3 or read with ``encoding="bytes"``). Pickle
files can run code when loaded, as with torchvision: point the loader only at data from a
source you trust.

Split: train = ``data_batch_1`` .. ``data_batch_5`` (50,000) in that order, test =
``test_batch`` (10,000); ``n`` takes the first ``n``. No crop, no resize. Fields: image,
count (1); label ``class`` 0-9 = airplane, automobile, bird, cat, deer, dog, frog, horse,
ship, truck (the order of ``batches.meta``'s ``label_names``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
SIDE = 32


def _text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def unpickle(path: Path) -> Dict[str, Any]:
    """One CIFAR pickle as a dict with ``str`` keys; an unreadable file is a one-line error."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle can raise almost anything
        raise FactorbenchError(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(entry, dict):
        raise FactorbenchError(f"{path}: not a CIFAR pickle (expected a dict, found {type(entry).__name__})")
    return {_text(k): v for k, v in entry.items()}


def read_meta(path: Path) -> None:
    """Check that ``batches.meta`` names CIFAR-10's classes in the documented order."""
    names = unpickle(path).get("label_names")
    if names is None:
        raise FactorbenchError(f"{path}: no 'label_names' entry")
    if tuple(_text(x) for x in names) != CLASSES:
        raise FactorbenchError(f"{path}: label_names {list(map(_text, names))} are not CIFAR-10's {list(CLASSES)}")


def read_batch(path: Path) -> tuple:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file."""
    entry = unpickle(path)
    if "data" not in entry or "labels" not in entry:
        raise FactorbenchError(f"{path}: expected 'data' and 'labels' entries, found {sorted(entry)}")
    data, labels = np.asarray(entry["data"]), np.asarray(entry["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
        raise FactorbenchError(f"{path}: 'data' must be uint8 (N, 3072), found {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise FactorbenchError(f"{path}: 'labels' must be {len(data)} integers, found {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise FactorbenchError(f"{path}: labels must be 0-9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, SIDE, SIDE), labels.astype(np.int64)


@register_dataset("cifar10")
class CIFAR10Source(RealSource):
    version = 1
    subdir = "cifar-10-batches-py"
    image_shape = (3, SIDE, SIDE)
    description = "CIFAR-10, 3x32x32 native size, label class (10 classes; thesis §3.5)"
    fields = ("image", "count", "labels")
    labels = ("class",)
    label_values = {"class": CLASSES}
    layout = "{data_batch_1..5, test_batch, batches.meta} (python pickles of cifar-10-python.tar.gz)"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version)"

    def required(self, split: str) -> List[str]:
        return list(TRAIN_FILES if split == "train" else TEST_FILES) + [META_FILE]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        read_meta(folder / META_FILE)
        images, labels, have = [], [], 0
        for name in TRAIN_FILES if split == "train" else TEST_FILES:
            if n is not None and have >= n:
                break
            x, y = read_batch(folder / name)
            images.append(x)
            labels.append(y)
            have += len(x)
        image = np.concatenate(images)[:n]
        return {
            "image": np.ascontiguousarray(image),
            "count": np.ones(len(image), dtype=np.int64),
            "label_class": np.concatenate(labels)[:n],
        }
