"""``mnist``: MNIST handwritten digits at their native 1x28x28 (thesis §3.5; SPEC §2.2).

Layout (torchvision's): ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
the four official idx files *uncompressed*. They are read by
``torchvision.datasets.MNIST(<root>, download=False)``; in torchvision 0.29.1 that class
needs all four uncompressed files whichever split is asked for (its existence check covers
both splits, without md5s), and it only unpacks the official ``.gz`` files inside
``download()``, so ``.gz`` files alone are not enough: ``gunzip`` them in place. Like
torchvision, the legacy ``MNIST/processed/{training,test}.pt`` pair (both present) is
accepted instead of the raw files.

Split: the official files, train = ``train-*`` (60,000), test = ``t10k-*`` (10,000), in
file order; ``n`` takes the first ``n``. No crop, no resize: the thesis trains on MNIST at
28x28 (§3.5: "the size is the smallest which is only 28x28"). Fields: image, count (1);
label ``digit`` (0-9).

:func:`read_mnist` is shared with the ``multi-mnist`` datasets (:mod:`.multi_mnist`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource

SUBDIR = "MNIST"  # torchvision's class name: it reads <root>/MNIST/raw
RAW = tuple(f"raw/{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
LEGACY = ("processed/training.pt", "processed/test.pt")
LAYOUT = "raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (the four idx files, uncompressed: gunzip the .gz)"
SOURCE_URL = "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"


def mnist_missing(folder: Path) -> List[str]:
    """What torchvision's MNIST lacks under ``folder`` (= <root>/MNIST) to read either split."""
    if all((folder / rel).is_file() for rel in LEGACY):
        return []
    return [rel for rel in RAW if not (folder / rel).is_file()]


def _split_files(folder: Path, split: str) -> Tuple[Path, Path]:
    prefix = "train" if split == "train" else "t10k"
    return folder / "raw" / f"{prefix}-images-idx3-ubyte", folder / "raw" / f"{prefix}-labels-idx1-ubyte"


def _bad_file(folder: Path, split: str) -> str:
    """The split's idx file that torchvision's own parsers reject (both names if neither does)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = _split_files(folder, split)
    for path, parse in ((images, read_image_file), (labels, read_label_file)):
        try:
            parse(str(path))
        except Exception:  # noqa: BLE001 - any failure of the parser means this file is bad
            return str(path)
    return f"{images} / {labels}"


def read_mnist(folder: Path, split: str, n: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``n`` digits of ``split``: (uint8 (N, 28, 28), int64 (N,) labels 0-9)."""
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(folder.parent), train=split == "train", download=False)
    except RuntimeError as exc:
        if "not found" in str(exc):
            raise FactorbenchError(f"MNIST not found under {folder}: {exc}") from None
        raise FactorbenchError(f"{_bad_file(folder, split)}: not a valid MNIST idx file ({exc})") from None
    except (AssertionError, ValueError, TypeError, IndexError, KeyError, OSError) as exc:
        why = str(exc) or type(exc).__name__
        raise FactorbenchError(f"{_bad_file(folder, split)}: not a valid MNIST idx file ({why})") from None
    images, labels = _split_files(folder, split)
    data, targets = ds.data.numpy(), ds.targets.numpy().astype(np.int64)
    if data.ndim != 3 or data.shape[1:] != (28, 28):
        raise FactorbenchError(f"{images}: expected 28x28 images, the idx header says {tuple(data.shape[1:])}")
    if len(data) != len(targets):
        raise FactorbenchError(f"{labels}: {len(targets)} labels for {len(data)} images in {images.name}")
    if len(targets) and (targets.min() < 0 or targets.max() > 9):
        raise FactorbenchError(f"{labels}: labels must be digits 0-9, found {targets.min()}..{targets.max()}")
    return data[:n].astype(np.uint8), targets[:n]


@register_dataset("mnist")
class MNISTSource(RealSource):
    version = 1
    subdir = SUBDIR
    image_shape = (1, 28, 28)
    description = "MNIST handwritten digits, 1x28x28 native size, label digit (thesis §3.5)"
    fields = ("image", "count", "labels")
    labels = ("digit",)
    label_values = {"digit": tuple(str(d) for d in range(10))}
    layout = LAYOUT
    source_url = SOURCE_URL

    def required(self, split: str) -> List[str]:
        return list(RAW)  # torchvision checks all four files for either split

    def missing(self, split: str) -> List[str]:
        return mnist_missing(self.folder())

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        images, digits = read_mnist(folder, split, n)
        return {"image": images[:, None], "count": np.ones(len(images), dtype=np.int64), "label_digit": digits}
