"""Helpers shared by the real-dataset loaders: decode, crop, resize, boxes <-> masks, .mat files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from ...errors import FactorbenchError


def open_rgb(path: Path) -> Image.Image:
    """An image file as RGB; an unreadable file is a one-line error naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FactorbenchError(f"{path}: not a readable image ({exc})") from None


def open_mask(path: Path) -> np.ndarray:
    """A mask image as float (H, W) in [0, 1] (greyscale value / 255)."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FactorbenchError(f"{path}: not a readable mask image ({exc})") from None


def to_chw(img: Image.Image) -> np.ndarray:
    """PIL RGB/L image -> uint8 (C, H, W)."""
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def resize(img: Image.Image, size: int, resample=Image.BICUBIC) -> Image.Image:
    return img.resize((size, size), resample)


def center_square(img: Image.Image, side: int = 0) -> Image.Image:
    """The centred square crop of side ``side`` (default: the shorter image side)."""
    w, h = img.size
    s = side or min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def clip_box(box: Sequence[float], width: int, height: int) -> Tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width), min(max(y1, 0.0), height))


def transform_box(box: Sequence[float], crop: Sequence[float], size: int) -> Tuple[float, float, float, float]:
    """A box (xyxy pixels, exclusive x1/y1) in the original image -> after cropping to ``crop``
    (xyxy) and resizing the crop to ``size`` x ``size``; clipped to the output image."""
    cx0, cy0, cx1, cy1 = crop
    sx, sy = size / (cx1 - cx0), size / (cy1 - cy0)
    x0, y0, x1, y1 = box
    return clip_box(((x0 - cx0) * sx, (y0 - cy0) * sy, (x1 - cx0) * sx, (y1 - cy0) * sy), size, size)


def box_mask(box: Sequence[float], size: int) -> np.ndarray:
    """A binary (size, size) uint8 mask that is 1 inside the box (pixel centres inside)."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return ((xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)).astype(np.uint8)


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


def read_mat(path: Path, *keys: str) -> dict:
    """Variables ``keys`` of a MATLAB .mat file (``scipy.io.loadmat``, no squeezing: a struct
    array comes back as a structured array, a cell array as an object array); an unreadable
    file or a missing variable is a one-line error naming the file."""
    import scipy.io  # imported here: every loader module is imported when the package is

    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several unrelated types on corrupt input
        raise FactorbenchError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in keys if k not in data]
    if missing:
        have = ", ".join(k for k in data if not k.startswith("__"))
        raise FactorbenchError(f"{path}: no variable {', '.join(missing)} (has: {have})")
    return {k: data[k] for k in keys}


def mat_value(value):
    """The one value inside a loadmat leaf (a 1x1 array, a 1-element char array, a cell)."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected one value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


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
