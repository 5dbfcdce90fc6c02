"""``cifar10``: CIFAR-10 at its native 3x32x32, label ``class`` (thesis §3.5; docs/protocols.md §2.2).

Layout: ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``, the
python-version pickles of the official ``cifar-10-python.tar.gz``, the files torchvision's
``CIFAR10`` reads.

Why not ``torchvision.datasets.CIFAR10``: with ``download=False`` it still verifies the md5
of all six batches and of ``batches.meta`` before reading any split, so it rejects every
file that is not byte-identical to the official release, including the few-image files the
tests write in the same format. This module reads the same pickles (torchvision decodes
them with a latin-1 string encoding, as :class:`CifarUnpickler` does; ``data`` uint8
(N, 3072), each row the 1024 red,
then green, then blue values of a 32x32 image in row-major order; ``labels`` a list of N
ints) and checks their structure instead: dtype, shape, label range, and that
``batches.meta`` names the ten classes below. It does not check md5s. The keys may be
``str`` (the official Python-2 pickles under ``encoding="latin1"``) or ``bytes``
(``b"data"``, a file pickled from Python 3 or read with ``encoding="bytes"``).

A plain ``pickle.load`` runs whatever code a file names, and the default data root is
``./data`` in the current folder, so the pickles are read with :class:`CifarUnpickler`:
it admits only what the format needs (dicts, lists, str/bytes/numbers, and numpy arrays
of a numeric dtype rebuilt by numpy's own reconstructors) and refuses any other global in
one line, before anything is called.

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


class UnsafePickle(Exception):
    """A pickle names a global the CIFAR format does not use."""


def _numeric_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.kind not in "biuf":
        raise UnsafePickle(f"an array of dtype {dtype} (only numeric arrays are admitted)")
    return dtype


#: what the file gets for ``numpy.ndarray``: a token only :func:`_reconstruct` accepts, so
#: the class itself is never called with arguments from the file
_NDARRAY = object()


def _reconstruct(subtype, *args):
    if subtype is not _NDARRAY:
        raise UnsafePickle("an array of a type other than numpy.ndarray")
    return _NUMPY_RECONSTRUCT(np.ndarray, *args)


def _frombuffer(buf, dtype, shape, order):
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
        raise UnsafePickle(f"an array of dtype {dtype}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _latin1_encode(text, encoding="utf-8"):
    # how Python 3's protocol-2 pickles store bytes: _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle("a _codecs.encode call other than str -> latin1 bytes")
    return text.encode("latin1")


try:
    from numpy._core.multiarray import _reconstruct as _NUMPY_RECONSTRUCT  # numpy >= 2
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _NUMPY_RECONSTRUCT

#: (module, name) -> what a CIFAR pickle may call; numpy moved ``core`` to ``_core`` in 2.0
#: and pickles name whichever version wrote them
_ADMITTED = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _numeric_dtype,
             ("_codecs", "encode"): _latin1_encode}
for _core in ("numpy.core", "numpy._core"):
    _ADMITTED[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _ADMITTED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, scalars and numeric numpy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ADMITTED:
            raise UnsafePickle(f"{module}.{name}")
        return _ADMITTED[(module, name)]


def unpickle(path: Path) -> Dict[str, Any]:
    """One CIFAR pickle as a dict with ``str`` keys; an unreadable or unsafe file is a
    one-line error, and no code named in the file runs."""
    try:
        with open(path, "rb") as f:
            entry = CifarUnpickler(f, encoding="latin1").load()
    except UnsafePickle as exc:
        raise FactorbenchError(f"{path}: refused: the pickle asks for {exc}, which a CIFAR batch never holds "
                               "(only dicts, lists, strings, numbers and numeric arrays are read)") from None
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
