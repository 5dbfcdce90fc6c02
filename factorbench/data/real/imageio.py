"""Image helpers shared by the real-dataset loaders: decode, crop, resize, boxes <-> masks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from ...errors import FactorbenchError


#: what PIL raises for a file it cannot decode; DecompressionBombError (a header claiming
#: more than twice PIL's MAX_IMAGE_PIXELS) is an Exception of its own, not an OSError
READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)

#: 16-bit unsigned greyscale modes, in every byte order PIL reads
MODES_16BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def to_8bit(img: Image.Image, path: Path) -> Image.Image:
    """Greyscale that is not 8-bit, as 8-bit ``L``, never clipped (``convert`` clips).

    - ``I;16`` (all byte orders): the top 8 bits (v >> 8, so 65535 -> 255);
    - ``F`` (float): values must be in [0, 1] (a float image's convention); rounded to
      round(255 v); NaN/inf or values outside [0, 1] are refused;
    - ``I`` (32-bit integer): refused, since the file does not state its range (8-bit, 16-bit
      or other data all fit), and guessing is how a 16-bit image becomes white.
    Every other mode is returned unchanged.
    """
    if img.mode in MODES_16BIT:
        return Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8))
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise FactorbenchError(f"{path}: float (mode F) image holds NaN or inf values")
        low, high = float(arr.min()), float(arr.max())
        if low < 0 or high > 1:
            raise FactorbenchError(f"{path}: float (mode F) image has values in [{low:.4g}, {high:.4g}]; float images "
                                   "must be in [0, 1] (save 8-bit images as PNG instead)")
        return Image.fromarray(np.rint(arr * 255).astype(np.uint8))
    if img.mode == "I":
        arr = np.asarray(img)
        raise FactorbenchError(f"{path}: 32-bit integer (mode I) image, values {int(arr.min())}..{int(arr.max())}, "
                               "does not say its range; save it as 8-bit or 16-bit PNG")
    return img


def open_rgb(path: Path) -> Image.Image:
    """An image file as RGB; an unreadable file is a one-line error naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            return to_8bit(img, path).convert("RGB")
    except READ_ERRORS as exc:
        raise FactorbenchError(f"{path}: not a readable image ({exc})") from None


def open_mask(path: Path) -> np.ndarray:
    """A mask image as float (H, W) in [0, 1] (8-bit greyscale value / 255; see :func:`to_8bit`)."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(to_8bit(img, path).convert("L"), dtype=np.float32) / 255.0
    except READ_ERRORS as exc:
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
