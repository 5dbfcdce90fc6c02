"""Image helpers shared by the real-dataset loaders: decode, crop, resize, boxes <-> masks."""

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
