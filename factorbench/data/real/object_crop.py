"""One-object datasets (CUB, Stanford Cars, Stanford Dogs): FineGAN's box-centred crop and
the contract arrays for one object per image (thesis §5.4.2; docs/protocols.md §2.2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ...errors import FactorbenchError
from .imageio import box_mask, clip_box, open_rgb, resize, to_chw, transform_box


def object_crop(box: Sequence[float], width: int, height: int, scale: float = 1.5) -> Tuple[int, int, int, int]:
    """The integer square crop (xyxy, exclusive x1/y1) around an object box, FineGAN's rule.

    FineGAN (Singh et al., 2019, ``code/datasets.py`` ``get_imgs``; MixNMatch uses the same)
    takes the box as (x, y, w, h) (truncated to integers; the official CUB, Cars and Dogs
    boxes are whole pixels), the half side ``r = int(scale/2 * max(w, h))`` (``scale`` 1.5)
    and the centre ``(int(x + w/2), int(y + h/2))``, and clamps each side of ``[c - r,
    c + r]`` to the image independently: the crop *shrinks* where it would leave the image
    (it is never shifted), so next to a border it is no longer square.
    FineGAN then takes a random square of the crop's shorter side (a training augmentation);
    here the centred square of the shorter side is taken instead, so the result is
    deterministic and square. ``box`` must lie inside the image and be non-empty.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    r = max(1, int(max(w, h) * scale / 2))
    cx, cy = int(x0 + w / 2), int(y0 + h / 2)
    left, top, right, bottom = max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)
    side = min(right - left, bottom - top)
    left += (right - left - side) // 2
    top += (bottom - top - side) // 2
    return left, top, left + side, top + side


def object_box(box: Sequence[float], width: int, height: int, where: str) -> Tuple[float, float, float, float]:
    """An annotated box (xyxy, exclusive x1/y1) clipped to the image; empty after clipping is
    a one-line error naming ``where`` (the annotation)."""
    clipped = clip_box(box, width, height)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise FactorbenchError(f"{where}: box {tuple(box)} is empty inside the {width}x{height} image")
    return clipped


def crop_to_object(img: Image.Image, box: Sequence[float], size: int) -> Tuple[np.ndarray, tuple, tuple]:
    """Crop ``img`` to :func:`object_crop` around ``box`` (inside the image) and resize it to
    ``size`` x ``size`` (bicubic). Returns the uint8 (3, size, size) image, the box in output
    pixels (clipped) and the crop in input pixels."""
    crop = object_crop(box, img.width, img.height)
    return to_chw(resize(img.crop(crop), size)), transform_box(box, crop, size), crop


def box_masked_object(path: Path, box: Sequence[float], size: int, where: str) -> Tuple[np.ndarray, np.ndarray, tuple]:
    """One image of a dataset that has boxes but no masks (Stanford Cars, Stanford Dogs;
    §5.4.2 "we use bounding box instead of masks"): read ``path``, clip ``box`` to it (an
    empty box is an error naming ``where``), crop and resize around it. Returns the uint8
    (3, size, size) image, its box mask (size, size) and the box in output pixels."""
    img = open_rgb(path)
    clipped = object_box(box, img.width, img.height, where)
    image, out_box, _ = crop_to_object(img, clipped, size)
    return image, box_mask(out_box, size), out_box


def single_object_arrays(images: list, masks: list, boxes: list, classes: list, size: int) -> dict:
    """The contract arrays of a one-object-per-image dataset: image, mask (binary (size,
    size) uint8 each), boxes (K = 1), count (1) and ``label_class``; empty lists give N = 0."""
    n = len(images)
    return {
        "image": np.stack(images) if n else np.zeros((0, 3, size, size), np.uint8),
        "mask": (np.stack(masks) if n else np.zeros((0, size, size), np.uint8))[:, None].astype(np.uint8),
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(n, 1, 4),
        "count": np.ones(n, dtype=np.int64),
        "label_class": np.asarray(classes, dtype=np.int64).reshape(n),
    }


# ----------------------------------------------------------------------------- unrounded crops
#: the rounding steps of the stored images of a one-object dataset (FID protocols, docs/protocols.md §4.1)
def stored_steps(size: int) -> list:
    return ["source JPEG decoded to uint8",
            f"FineGAN crop resized to {size}x{size} by PIL bicubic on uint8, rounded after each of its two "
            "separable passes (the stored dataset images)"]


#: the same images for FID's direct mode: decoded source pixels, resized in float
FLOAT_STEPS = ["source JPEG decoded to uint8"]
FLOAT_RESIZE = ("FineGAN crop of the decoded source image resized to {size}x{size} by PIL bicubic in float "
                "(per channel, 'F' mode), clipped to [0, 255], not rounded")


@dataclass(frozen=True)
class ObjectItem:
    """Where one image of a one-object dataset comes from: its file and annotated box
    (xyxy, exclusive x1/y1, source pixels, not yet clipped); ``where`` names the annotation."""

    path: Path
    box: Tuple[float, float, float, float]
    where: str


def float_crop(img: Image.Image, crop: Sequence[int], size: int) -> np.ndarray:
    """float32 (3, size, size) in [0, 255]: ``crop`` of ``img`` resized to ``size`` with PIL
    bicubic in float, one channel at a time ('F' mode), then clipped -- the stored image's
    filter without its two roundings (see :func:`stored_steps`)."""
    patch = np.asarray(img.crop(tuple(crop)), dtype=np.float32)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(patch[..., c]), mode="F").resize((size, size), Image.BICUBIC))
                for c in range(patch.shape[-1])]
    return np.clip(np.stack(channels), 0.0, 255.0)


def float_object(item: ObjectItem, size: int) -> np.ndarray:
    """The image of ``item`` as the loader crops it (:func:`crop_to_object`), resized to
    ``size`` in float from the decoded source pixels (:func:`float_crop`)."""
    if not item.path.is_file():
        raise FactorbenchError(f"{item.path}: missing (FID's direct mode reads the source images)")
    img = open_rgb(item.path)
    box = object_box(item.box, img.width, img.height, item.where)
    return float_crop(img, object_crop(box, img.width, img.height), size)


class FloatObjects:
    """Batches of a one-object dataset's images before rounding, for FID's direct mode
    (thesis §5.4.2: "for the direct FID results, we interpolate the image in the range
    0-1"). Nothing is cached but the list of items: the source images are decoded once per
    FID protocol, whose features the FID statistics cache keeps."""

    source_steps = FLOAT_STEPS
    resize = FLOAT_RESIZE

    def __init__(self, items: Callable[[], List[ObjectItem]]):
        self._items = items
        self._cached: Optional[List[ObjectItem]] = None

    def items(self) -> List[ObjectItem]:
        if self._cached is None:
            self._cached = self._items()
        return self._cached

    def __len__(self) -> int:
        return len(self.items())

    def batch(self, start: int, stop: int, size: int) -> np.ndarray:
        """float32 (B, 3, size, size) in [0, 255] for items ``start:stop``."""
        return np.stack([float_object(item, size) for item in self.items()[start:stop]])


class OneObjectSource:
    """Mixin of the one-object loaders (CUB, Cars, Dogs): their images before rounding and
    the rounding steps of the stored ones, for the FID protocols. Needs ``object_items``."""

    def object_items(self, folder: Path, split: str, n: Optional[int]) -> List[ObjectItem]:
        raise NotImplementedError  # abstract

    def float_images(self, split: str, n: Optional[int] = None) -> FloatObjects:
        """The first ``n`` images of ``split`` (the order of the stored ones) before rounding."""
        return FloatObjects(lambda: self.object_items(self.folder(), split, n))

    def stored_steps(self) -> list:
        return stored_steps(self.image_shape[-1])
