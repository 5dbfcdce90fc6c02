"""``digits-rgb``: class-labelled colour digits for the classifier metrics of Chapter 3.

docs/protocols.md §2.1: scikit-learn digits upsampled to 32x32 and colourised with random foreground and
background colours, 10 classes. Each image also gets a small random shift and scale so
that the classes are not memorised pixel-for-pixel. Train and test use disjoint source
digits (:mod:`.digit_source`). Fields: image, mask (the stroke, thresholded at 0.5),
count (1), labels ``digit``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import register_dataset
from ..sample import ArrayDict
from .base import SyntheticSource
from .digit_source import digit_pool, upsample_digits

SIZE = 32
MIN_COLOUR_DISTANCE = 0.6  # Euclidean in RGB [0,1]^3: digit always readable on its background


def random_colour_pairs(rng: np.random.Generator, n: int, min_distance: float) -> tuple:
    """n (foreground, background) RGB pairs in [0,1]^3 at least ``min_distance`` apart."""
    fg = rng.random((n, 3), dtype=np.float32)
    bg = rng.random((n, 3), dtype=np.float32)
    bad = np.linalg.norm(fg - bg, axis=1) < min_distance
    while bad.any():
        fg[bad] = rng.random((int(bad.sum()), 3), dtype=np.float32)
        bg[bad] = rng.random((int(bad.sum()), 3), dtype=np.float32)
        bad = np.linalg.norm(fg - bg, axis=1) < min_distance
    return fg, bg


@register_dataset("digits-rgb")
class DigitsRGB(SyntheticSource):
    version = 1
    image_shape = (3, SIZE, SIZE)
    default_sizes = {"train": 8000, "test": 2000}
    description = "sklearn handwritten digits, 32x32, random fg/bg colours, 10 classes (Ch. 3 classifier metrics)"
    fields = ("image", "mask", "count", "labels")
    labels = ("digit",)

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        pool, pool_labels = digit_pool(split)
        pick = rng.integers(0, len(pool), size=n)
        strokes = torch.from_numpy(upsample_digits(pool[pick], SIZE))[:, None]  # (n,1,32,32)
        # Random scale in [0.8, 1.0] and shift of up to 3 px, as one affine warp.
        scale = rng.uniform(0.8, 1.0, size=n).astype(np.float32)
        shift = rng.uniform(-3, 3, size=(n, 2)).astype(np.float32) * (2.0 / SIZE)
        theta = np.zeros((n, 2, 3), dtype=np.float32)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(torch.from_numpy(theta), list(strokes.shape), align_corners=False)
        alpha = F.grid_sample(strokes, grid, align_corners=False, padding_mode="zeros")[:, 0].numpy()
        fg, bg = random_colour_pairs(rng, n, MIN_COLOUR_DISTANCE)
        a = alpha[:, None]  # (n,1,H,W)
        rgb = bg[:, :, None, None] * (1 - a) + fg[:, :, None, None] * a
        return {
            "image": np.round(rgb * 255).astype(np.uint8),
            "mask": (a > 0.5).astype(np.uint8),
            "count": np.ones(n, dtype=np.int64),
            "label_digit": pool_labels[pick],
        }
