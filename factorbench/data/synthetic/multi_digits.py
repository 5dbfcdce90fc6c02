"""``multi-digits`` and ``multi-digits-5``: Multi-MNIST-like scenes (thesis §6.4, Table 6.1).

docs/protocols.md §2.1, following the thesis's geometry exactly: handwritten digits of 20x20 pixels are
placed on a black 84x84 canvas (composed by pixel-wise max), then the whole image is
resized to 64x64 (area averaging). ``multi-digits`` has 1-5 digits per image (uniform);
``multi-digits-5`` exactly 5 (the digit-sum task). Digits come from
:mod:`.digit_source` (scikit-learn's handwriting, upsampled to 20x20); train and test
draw from disjoint source pools. :func:`compose_scenes` composes from any pool of 20x20
strokes; the real-data ``multi-mnist`` datasets feed it MNIST digits.

Placement (SPAIR's rule, Crawford and Pineau 2019): each digit gets a uniform random
top-left corner on the 84x84 canvas; it is redrawn while the summed overlap area of its
20x20 box with the boxes of the digits already placed exceeds half a digit's area
(:data:`MAX_SUMMED_OVERLAP` = 200 px at 84-scale). :func:`place_digits` implements it,
vectorised over images.

Masks and boxes are computed at 64x64: each digit's own layer is resized like the image,
and its mask is where that layer is nonzero in 8 bits (>= 0.5/255), i.e. every pixel the
digit lights up on its own. Digits do not occlude each other, so two masks can overlap
where strokes cross. Labels: per-object ``digit`` (N, 5) padded with -1; image ``sum``.

Two ground-truth box conventions (pixel xyxy at 64x64, x1/y1 exclusive, zero past
``count``), chosen by the evaluators' ``gt_boxes`` option (:data:`BOX_CONVENTIONS`):

- ``boxes`` ("tight"): the tight box of each digit's mask, i.e. of its nonzero pixels;
- ``frame_boxes`` ("frame"): the digit's placed 20x20 frame on the 84x84 canvas, scaled to
  64x64 (15.24 px a side), which holds the whole digit and is larger than it: the
  thesis's convention ("the ground truth bounding box we are using for MNIST in the AP
  calculation is larger than the digits", §6.4.1).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import register_dataset
from ..sample import ArrayDict
from .base import SyntheticSource
from .digit_source import digit_pool, upsample_digits
from .raster import boxes_from_masks, to_uint8

CANVAS = 84  # composition canvas (thesis)
DIGIT = 20  # digit size on the canvas (thesis)
SIZE = 64  # final image size (thesis)
MAX_DIGITS = 5
MAX_SUMMED_OVERLAP = DIGIT * DIGIT / 2  # px at 84-scale
MAX_PLACEMENT_ROUNDS = 10_000
CHUNK = 500  # images composed at once (bounds memory: 500 x 5 x 84 x 84 float32 = 70 MB)
#: ground-truth box convention -> the array that holds it (module docstring)
BOX_CONVENTIONS = {"tight": "boxes", "frame": "frame_boxes"}


def overlap_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap area (px) of DIGIT x DIGIT boxes with top-left corners ``a`` and ``b`` (..., 2)."""
    d = np.clip(DIGIT - np.abs(np.asarray(a) - np.asarray(b)), 0, None)
    return d[..., 0] * d[..., 1]


def summed_overlaps(positions: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(N, K): summed overlap of each placed digit's box with the boxes of the digits before it."""
    n, k = positions.shape[:2]
    out = np.zeros((n, k), dtype=np.int64)
    for j in range(1, k):
        earlier = np.arange(j) < np.minimum(count, j)[:, None]  # (N, j)
        out[:, j] = (overlap_areas(positions[:, j : j + 1], positions[:, :j]) * earlier).sum(axis=1)
    out[np.arange(k)[None, :] >= count[:, None]] = 0
    return out


def place_digits(rng: np.random.Generator, count: np.ndarray) -> np.ndarray:
    """Top-left corners (N, MAX_DIGITS, 2) as (x, y) at 84-scale under SPAIR's overlap rule; -1 past ``count``."""
    n = len(count)
    pos = np.full((n, MAX_DIGITS, 2), -1, dtype=np.int64)
    for k in range(MAX_DIGITS):
        todo = np.flatnonzero(count > k)
        for _ in range(MAX_PLACEMENT_ROUNDS):
            if len(todo) == 0:
                break
            pos[todo, k] = rng.integers(0, CANVAS - DIGIT + 1, size=(len(todo), 2))
            summed = overlap_areas(pos[todo, k : k + 1], pos[todo, :k]).sum(axis=1)
            todo = todo[summed > MAX_SUMMED_OVERLAP]
        else:
            raise RuntimeError("multi-digits: could not place a digit under the overlap rule")
    return pos


def compose(strokes: np.ndarray, pos: np.ndarray, count: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Paste digits (N, K, DIGIT, DIGIT) at ``pos`` on 84x84, resize to 64x64.

    Returns (image (N, 1, 64, 64) float in [0,1], per-digit layers (N, K, 64, 64) float).
    """
    n, k = strokes.shape[:2]
    layers = np.zeros((n, k, CANVAS, CANVAS), dtype=np.float32)
    offs = np.arange(DIGIT)
    for j in range(k):
        idx = np.flatnonzero(count > j)
        rows = pos[idx, j, 1][:, None] + offs  # (m, DIGIT)
        cols = pos[idx, j, 0][:, None] + offs
        layers[idx[:, None, None], j, rows[:, :, None], cols[:, None, :]] = strokes[idx, j]
    canvas = torch.from_numpy(layers.max(axis=1, keepdims=True))
    image = F.interpolate(canvas, size=(SIZE, SIZE), mode="area")
    small = F.interpolate(torch.from_numpy(layers).reshape(n * k, 1, CANVAS, CANVAS), size=(SIZE, SIZE), mode="area")
    return image.numpy(), small.reshape(n, k, SIZE, SIZE).numpy()


def frame_boxes(pos: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(N, K, 4) float32 pixel xyxy at 64x64 of each digit's placed DIGIT x DIGIT frame
    (top-left corners ``pos`` (N, K, 2) as (x, y) at 84-scale); zero past ``count``."""
    lo = pos.astype(np.float64) * (SIZE / CANVAS)
    boxes = np.concatenate([lo, lo + DIGIT * SIZE / CANVAS], axis=-1).astype(np.float32)
    boxes[np.arange(pos.shape[1])[None, :] >= count[:, None]] = 0.0
    return boxes


def compose_scenes(
    rng: np.random.Generator, n: int, pool_strokes: np.ndarray, pool_labels: np.ndarray, min_digits: int = 1
) -> ArrayDict:
    """``n`` scenes of ``min_digits``-5 digits drawn from a pool of 20x20 strokes.

    ``pool_strokes`` (M, DIGIT, DIGIT) float in [0, 1], ``pool_labels`` (M,) int. The
    embedded datasets feed the scikit-learn pool; ``multi-mnist`` feeds real MNIST digits
    (:mod:`factorbench.data.real.multi_mnist`). Draw order from ``rng``: counts, digit
    picks, placements. Both box conventions of the module docstring are returned.
    """
    count = rng.integers(min_digits, MAX_DIGITS + 1, size=n)
    pick = rng.integers(0, len(pool_strokes), size=(n, MAX_DIGITS))
    present = np.arange(MAX_DIGITS)[None, :] < count[:, None]
    pos = place_digits(rng, count)
    images = np.empty((n, 1, SIZE, SIZE), dtype=np.uint8)
    masks = np.empty((n, MAX_DIGITS, SIZE, SIZE), dtype=np.uint8)
    for s in range(0, n, CHUNK):
        sl = slice(s, s + CHUNK)
        image, layers = compose(pool_strokes[pick[sl]], pos[sl], count[sl])
        images[sl] = to_uint8(image)
        masks[sl] = (to_uint8(layers) > 0) & present[sl, :, None, None]
    digits = np.where(present, pool_labels[pick], -1).astype(np.int64)
    return {
        "image": images,
        "masks": masks,
        "boxes": boxes_from_masks(masks),
        "frame_boxes": frame_boxes(pos, count),
        "count": count.astype(np.int64),
        "label_digit": digits,
        "label_sum": np.where(present, digits, 0).sum(axis=1).astype(np.int64),
    }


class MultiDigits(SyntheticSource):
    version = 2  # 2: frame_boxes
    image_shape = (1, SIZE, SIZE)
    default_sizes = {"train": 10000, "test": 2000}
    fields = ("image", "masks", "boxes", "count", "labels")
    labels = ("digit", "sum")
    label_values: Dict[str, Tuple[str, ...]] = {"digit": tuple(str(d) for d in range(10))}
    min_digits = 1

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        pool, pool_labels = digit_pool(split)
        return compose_scenes(rng, n, upsample_digits(pool, DIGIT), pool_labels, self.min_digits)


@register_dataset("multi-digits")
class MultiDigitsUpTo5(MultiDigits):
    description = "Multi-MNIST-like (§6.4): 1-5 handwritten 20x20 digits on 84x84 (SPAIR overlap rule), resized to 64"


@register_dataset("multi-digits-5")
class MultiDigitsExactly5(MultiDigits):
    description = "Multi-MNIST-like (§6.4) with exactly 5 digits per image, for the digit-sum task"
    min_digits = 5
