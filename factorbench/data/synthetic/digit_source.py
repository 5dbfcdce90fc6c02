"""Real handwritten digits without a download: scikit-learn's bundled ``load_digits``.

1,797 digits of 8x8 pixels (UCI optical recognition set). They are split once, with a
fixed permutation, into disjoint train and test *source* pools (80/20), so no test image
is built from a handwriting sample seen in training.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

SOURCE_SPLIT_SEED = 20230101  # fixed: the train/test source pools never change
TRAIN_FRACTION = 0.8


@lru_cache(maxsize=None)
def _all_digits() -> Tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    return images, bunch.target.astype(np.int64)


def digit_pool(split: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images (M,8,8) float32 in [0,1], labels (M,)) of the split's source pool."""
    images, labels = _all_digits()
    order = np.random.default_rng(SOURCE_SPLIT_SEED).permutation(len(images))
    cut = int(TRAIN_FRACTION * len(images))
    idx = order[:cut] if split == "train" else order[cut:]
    return images[idx], labels[idx]


def upsample_digits(images: np.ndarray, size: int) -> np.ndarray:
    """Upsample (M,8,8) digits to (M,size,size) strokes in [0,1].

    Bicubic upsampling of an 8x8 digit gives a soft blob; a contrast stretch around the
    stroke level turns it back into a pen stroke with anti-aliased edges.
    """
    t = torch.from_numpy(images)[:, None]
    up = F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False)[:, 0]
    up = ((up - 0.25) / 0.5).clamp(0.0, 1.0)
    return up.numpy().astype(np.float32)
