"""``multi-mnist`` and ``multi-mnist-5``: Multi-MNIST from real MNIST digits (thesis §6.4).

The thesis's Multi-MNIST (§6.4, Tables 6.1-6.3): "we render MNIST digits of size 20x20 on
a 84x84 canvas", at most 5 digits, images resized to 64x64; the digit-sum task (Table 6.2)
uses exactly 5 digits per image. The scenes are composed by the ``multi-digits`` generator
(:func:`factorbench.data.synthetic.multi_digits.compose_scenes`: SPAIR's overlap rule,
pixel-wise max, area resize to 64, per-digit masks, tight boxes of each digit's nonzero
pixels (``boxes``) and the digits' placed 20x20 frames (``frame_boxes``, the thesis's
ground-truth convention, §6.4.1), labels ``digit`` (N, 5) padded with -1 and ``sum``) fed with real MNIST digits
instead of scikit-learn's. ``multi-mnist`` has 1-5 digits per image, ``multi-mnist-5``
exactly 5.

Source: the MNIST files, read through :func:`.mnist.read_mnist` from where
:func:`.mnist.mnist_folder` finds them: the copy shipped with factorbench, or a data root's
``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (each plain or ``.gz``) when it
has an ``MNIST`` folder.

Digits to 20x20: an MNIST digit is size-normalised into a 20x20 box and then centred by its
centre of mass in the 28x28 frame, so its box is not at the fixed centre [4:24]. Each digit
is cut as the 20x20 window centred on the tight box of its nonzero pixels (zeros beyond
the 28x28 frame), which holds the whole digit, centred, at its native scale with no
resize; in the rare case that the tight box is larger than 20 on a side, the square window
of that side is cut instead and area-resized to 20x20. Values are grey level / 255.

Split: ``train`` scenes use only MNIST train digits (60,000), ``test`` scenes only MNIST
test (t10k) digits. Determinism: the scenes are generated from the seed like the synthetic
datasets (``stage_seed(seed, "<name>/<split>")``), so (name, split, n, seed, version, data
root) fixes the bytes; the cache is keyed by all of them. Default sizes (``n=None``):
10,000 train and 2,000 test images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ...errors import FactorbenchError
from ...seeding import stage_seed
from ..cache import cache_root, read_npz, write_npz
from ..dataset import ArrayDataset
from ..registry import register_dataset
from ..sample import ArrayDict
from ..synthetic.multi_digits import DIGIT, MAX_DIGITS, SIZE, compose_scenes
from .mnist import MNISTFiles, read_mnist

FRAME = 28  # MNIST image side
PAD = FRAME // 2  # zeros around the frame: enough for any window centred on a box inside it


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) exact area-averaging weights: output bin i covers [i, i+1) * n_in / n_out."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return (overlap / (n_in / n_out)).astype(np.float32)


def mnist_strokes(images: np.ndarray) -> np.ndarray:
    """uint8 (M, 28, 28) MNIST digits -> float32 (M, 20, 20) in [0, 1], cut around each digit.

    The window is DIGIT x DIGIT centred on the tight box of the nonzero pixels (zeros beyond
    the frame); a digit whose box exceeds DIGIT on a side gets a square window of that side,
    area-resized to DIGIT. An empty image gives its centre.
    """
    m = len(images)
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)  # (M, 28) each
    empty = ~rows.any(axis=1)
    top, left = rows.argmax(axis=1), cols.argmax(axis=1)
    bottom, right = FRAME - rows[:, ::-1].argmax(axis=1), FRAME - cols[:, ::-1].argmax(axis=1)  # exclusive
    side = np.maximum(DIGIT, np.maximum(bottom - top, right - left))
    y0 = (top + bottom - side) // 2 + PAD  # in the frame padded by PAD on each side
    x0 = (left + right - side) // 2 + PAD
    y0[empty] = x0[empty] = PAD + (FRAME - DIGIT) // 2
    side[empty] = DIGIT
    padded = np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD)))  # uint8: 60,000 digits take 188 MB
    out = np.empty((m, DIGIT, DIGIT), dtype=np.float32)
    fits = np.flatnonzero(side == DIGIT)
    offs = np.arange(DIGIT)
    rr = (y0[fits, None] + offs)[:, :, None]
    cc = (x0[fits, None] + offs)[:, None, :]
    out[fits] = padded[fits[:, None, None], rr, cc] / np.float32(255)
    for i in np.flatnonzero(side > DIGIT):
        s, y, x = int(side[i]), int(y0[i]), int(x0[i])
        a = area_matrix(s, DIGIT)
        out[i] = a @ (padded[i, y : y + s, x : x + s] / np.float32(255)) @ a.T
    return out


class MultiMNIST(MNISTFiles):
    version = 2  # 2: frame_boxes
    image_shape = (1, SIZE, SIZE)
    default_sizes = {"train": 10000, "test": 2000}
    fields = ("image", "masks", "boxes", "count", "labels")
    labels = ("digit", "sum")
    label_values = {"digit": tuple(str(d) for d in range(10))}
    min_digits = 1

    def read(self, folder: Path, split: str, n: Optional[int], seed: int = 0) -> ArrayDict:
        """``n`` scenes (default size if None) of ``split`` generated from ``seed``."""
        n = self.default_sizes[split] if n is None else n
        digits, labels = read_mnist(folder, split)
        if len(digits) == 0:
            raise FactorbenchError(f"dataset {self.name} ({split}): the MNIST {split} files in {folder} hold no digits")
        rng = np.random.default_rng(stage_seed(seed, f"{self.name}/{split}"))
        return compose_scenes(rng, n, mnist_strokes(digits), labels, self.min_digits)

    def describe(self) -> Dict[str, Any]:
        return {**super().describe(), "sizes": dict(self.default_sizes)}

    def cache_path(self, split: str, n: Optional[int], seed: int = 0) -> Path:
        n = self.default_sizes[split] if n is None else n
        where = hashlib.sha1(str(self.folder().resolve()).encode()).hexdigest()[:10]
        return cache_root() / "datasets" / self.name / f"{split}-n{n}-seed{seed}-v{self.version}-{where}.npz"

    def is_cached(self, split: str, n: Optional[int] = None, seed: int = 0) -> bool:
        return self.cache_path(split, n, seed).exists()

    def load(self, split: str = "train", n: Optional[int] = None, seed: int = 0) -> ArrayDataset:
        """Like :meth:`RealSource.load`, but the generated split depends on ``seed`` (read and cache)."""
        if split not in self.splits:
            raise FactorbenchError(f"dataset {self.name}: unknown split {split!r}; splits: {', '.join(self.splits)}")
        n = self.default_sizes[split] if n is None else int(n)
        if n <= 0:
            raise FactorbenchError(f"dataset {self.name}: size must be positive, got {n}")
        missing = self.missing(split)
        if missing:
            raise self.not_found_error(split, missing)
        path = self.cache_path(split, n, seed)
        arrays = read_npz(path)
        if arrays is None:
            arrays = self.read(self.folder(), split, n, seed)
            write_npz(path, arrays)
        info = {"source": "real", "root": str(self.folder()), "seed": seed, "version": self.version, "cache": str(path)}
        return ArrayDataset(self.name, split, arrays, info)


@register_dataset("multi-mnist")
class MultiMNISTUpTo5(MultiMNIST):
    description = "Multi-MNIST (§6.4): 1-5 real MNIST digits (20x20) on 84x84, SPAIR overlap rule, resized to 64"


@register_dataset("multi-mnist-5")
class MultiMNISTExactly5(MultiMNIST):
    description = "Multi-MNIST (§6.4) with exactly 5 real MNIST digits per image, for the digit-sum task"
    min_digits = MAX_DIGITS
