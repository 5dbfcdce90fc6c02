"""``mnist``: MNIST handwritten digits at their native 1x28x28 (thesis §3.5; docs/protocols.md §2.2).

MNIST ships with factorbench: ``factorbench/data/real/mnist_files/raw/`` holds the four
official idx files (gzip; Y. LeCun, C. Cortes, C. J. C. Burges, licence CC BY-SA 3.0, see
``mnist_files/LICENSE``), so ``mnist`` and the ``multi-mnist`` datasets need no data root
and nothing is downloaded. A data root still wins when it holds MNIST (:func:`mnist_folder`).

Layout (torchvision's): ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``,
each file uncompressed or as ``.gz`` (torchvision keeps both; the uncompressed one is read
when both are there). Like torchvision, the legacy ``MNIST/processed/{training,test}.pt``
pair (both present) is accepted instead of the raw files. The idx files are decoded by
:mod:`.idx`; the SHA-256 of their uncompressed content is checked against the published
one (:data:`SHA256`) on the first decode in a process, always for the shipped files and for
a data root's file of the official length, so a corrupted file is one line, never a
silently wrong digit.

Split: the official files, train = ``train-*`` (60,000), test = ``t10k-*`` (10,000), in
file order; ``n`` takes the first ``n``. No crop, no resize: the thesis trains on MNIST at
28x28 (§3.5: "the size is the smallest which is only 28x28"); a model that needs another
side gets it from a run's ``image_shape`` (``factorbench train --image-size 32``). Fields:
image, count (1); label ``digit`` (0-9).

:func:`read_mnist` and :func:`mnist_folder` are shared with the ``multi-mnist`` datasets
(:mod:`.multi_mnist`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource, data_root
from .idx import idx_file, read_idx

SUBDIR = "MNIST"  # torchvision's class name: it reads <root>/MNIST/raw
NAMES = tuple(f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
RAW = tuple(f"raw/{name}" for name in NAMES)
LEGACY = ("processed/training.pt", "processed/test.pt")
LAYOUT = "raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (the four idx files, each uncompressed or .gz)"
SOURCE_URL = "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
#: the copy shipped inside the package (a folder like <root>/MNIST: raw/*.gz, LICENSE)
SHIPPED = Path(__file__).resolve().parent / "mnist_files"
#: SHA-256 of the official files' uncompressed content
SHA256: Dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
#: their uncompressed lengths in bytes (header + data)
OFFICIAL_BYTES = {"train-images-idx3-ubyte": 16 + 60000 * 784, "train-labels-idx1-ubyte": 8 + 60000,
                  "t10k-images-idx3-ubyte": 16 + 10000 * 784, "t10k-labels-idx1-ubyte": 8 + 10000}


def mnist_missing(folder: Path) -> List[str]:
    """What ``folder`` (= <root>/MNIST) lacks to read either split: the raw files lacking both forms."""
    if all((folder / rel).is_file() for rel in LEGACY):
        return []
    return [f"raw/{name}" for name in NAMES if idx_file(folder / "raw", name) is None]


def mnist_folder() -> Path:
    """Where MNIST is read from: ``<data root>/MNIST`` when the data root has an MNIST folder
    (complete, or incomplete: then loading names what it lacks), else the shipped copy."""
    folder = data_root() / SUBDIR
    return folder if folder.is_dir() else SHIPPED


def _split_names(split: str) -> Tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _checked_read(folder: Path, name: str) -> Tuple[np.ndarray, Path]:
    path = idx_file(folder / "raw", name)
    if path is None:
        raise FactorbenchError(f"MNIST not found under {folder}: missing raw/{name}")
    shipped = folder.resolve() == SHIPPED
    # the published checksum: always for the shipped copy, for a data root's file of the official length
    if shipped:
        fix = "the MNIST shipped with factorbench is damaged: reinstall factorbench (pip install -e .)"
    else:
        fix = f"it is not the official MNIST file: download it again from {SOURCE_URL}"
    return read_idx(path, SHA256[name], fix, memoise=shipped,
                    sha_if_length=None if shipped else OFFICIAL_BYTES[name]), path


def _read_legacy(folder: Path, split: str) -> Tuple[np.ndarray, np.ndarray, Path]:
    """torchvision's legacy ``processed/{training,test}.pt``: a (uint8 images, labels) pair of tensors."""
    import torch

    path = folder / LEGACY[0 if split == "train" else 1]
    try:
        data, targets = torch.load(path, map_location="cpu", weights_only=True)
        return np.asarray(data.numpy(), dtype=np.uint8), targets.numpy(), path
    except Exception as exc:  # noqa: BLE001 - any failure to read the pair means this file is bad
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise FactorbenchError(f"{path}: not a valid torchvision MNIST file ({why})") from None


def read_mnist(folder: Path, split: str, n: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The first ``n`` digits of ``split``: (uint8 (N, 28, 28), int64 (N,) labels 0-9)."""
    image_name, label_name = _split_names(split)
    raw_complete = all(idx_file(folder / "raw", name) is not None for name in NAMES)
    if not raw_complete and all((folder / rel).is_file() for rel in LEGACY):
        data, targets, images = _read_legacy(folder, split)
        labels = images
    else:
        (data, images), (targets, labels) = _checked_read(folder, image_name), _checked_read(folder, label_name)
    if data.ndim != 3 or data.shape[1:] != (28, 28):
        raise FactorbenchError(f"{images}: expected 28x28 images, the idx header says {tuple(data.shape[1:])}")
    if targets.ndim != 1:
        raise FactorbenchError(f"{labels}: expected one label per image, the idx header says shape {targets.shape}")
    if len(data) != len(targets):
        raise FactorbenchError(f"{labels}: {len(targets)} labels for {len(data)} images in {images.name}")
    targets = targets.astype(np.int64)
    if len(targets) and (targets.min() < 0 or targets.max() > 9):
        raise FactorbenchError(f"{labels}: labels must be digits 0-9, found {targets.min()}..{targets.max()}")
    return data[:n].astype(np.uint8), targets[:n]


class MNISTFiles(RealSource):
    """What every dataset made from the MNIST files shares: where they are and what is missing."""

    subdir = SUBDIR
    layout = LAYOUT
    source_url = SOURCE_URL

    def required(self, split: str) -> List[str]:
        return list(RAW)  # like torchvision, all four files for either split

    def folder(self) -> Path:
        return mnist_folder()

    def missing(self, split: str) -> List[str]:
        return mnist_missing(self.folder())

    def describe(self):
        return {**super().describe(), "shipped": self.folder().resolve() == SHIPPED}

    def not_found_error(self, split: str, missing: List[str]) -> FactorbenchError:
        error = super().not_found_error(split, missing)
        return FactorbenchError(f"{error}, or remove {self.folder()} to use the MNIST shipped with factorbench")


@register_dataset("mnist")
class MNISTSource(MNISTFiles):
    version = 1
    image_shape = (1, 28, 28)
    description = "MNIST handwritten digits, 1x28x28 native size, label digit (thesis §3.5)"
    fields = ("image", "count", "labels")
    labels = ("digit",)
    label_values = {"digit": tuple(str(d) for d in range(10))}

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        images, digits = read_mnist(folder, split, n)
        return {"image": images[:, None], "count": np.ones(len(images), dtype=np.int64), "label_digit": digits}
