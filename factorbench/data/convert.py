"""Bring images of one dataset to another model's input shape (thesis §4.4).

§4.4 feeds every dataset to a 64x64 RGB VAE: "we resize all the images to 64x64 ... convert
MNIST to RGB images". :func:`convert_images` does that to a float batch;
:func:`convert_dataset` to a whole :class:`~factorbench.data.dataset.ArrayDataset` (so a
trainer can fine-tune on it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FactorbenchError
from .dataset import ArrayDataset
from .sample import LABEL_PREFIX

#: ITU-R BT.601 luma weights, used to turn an RGB image into a one-channel one
LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)
#: images converted per chunk by :func:`convert_dataset` (bounds the float32 copy)
CHUNK = 1024


def convert_images(images: torch.Tensor, image_shape: Sequence[int]) -> torch.Tensor:
    """Bring float images (N, C, H, W) in [0, 1] to ``image_shape`` = (C', H', W').

    Channels first: 1 -> 3 repeats the grey channel (the thesis's "convert MNIST to RGB");
    3 -> 1 takes the luminance 0.299 R + 0.587 G + 0.114 B; other pairs are an error.
    Then size: bilinear resize with antialiasing (a triangle filter widened by the scale
    factor when shrinking, plain bilinear when enlarging; ``align_corners=False``). Both
    steps are convex combinations of pixels, so values stay in [0, 1].
    """
    if images.ndim != 4:
        raise FactorbenchError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    channels, height, width = (int(s) for s in image_shape)
    have = images.shape[1]
    if have != channels:
        if have == 1 and channels == 3:
            images = images.repeat(1, 3, 1, 1)
        elif have == 3 and channels == 1:
            weights = torch.tensor(LUMINANCE_WEIGHTS, dtype=images.dtype, device=images.device)
            images = (images * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        else:
            raise FactorbenchError(f"cannot convert {have}-channel images to the model's {channels} channels")
    if tuple(images.shape[2:]) != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return images


PIXEL_ALIGNED = ("mask", "masks", "boxes", "frame_boxes")


def convert_dataset(ds: ArrayDataset, image_shape: Sequence[int]) -> ArrayDataset:
    """``ds`` with its images converted by :func:`convert_images` and stored as uint8 again.

    Returns ``ds`` itself when the shape already matches. Otherwise the labels and counts
    are kept; the pixel-aligned arrays (``mask``, ``masks``, ``boxes``) are kept when only
    the channels change and dropped when the size changes (they describe the old geometry). ``info["converted_from"]`` records the original shape.
    """
    shape = tuple(int(s) for s in image_shape)
    if tuple(ds.image_shape) == shape:
        return ds
    chunks = []
    for start in range(0, len(ds), CHUNK):
        x = convert_images(ds.images(np.arange(start, min(start + CHUNK, len(ds)))), shape)
        chunks.append((x * 255.0).round().clamp(0, 255).to(torch.uint8).numpy())
    arrays = {"image": np.concatenate(chunks) if chunks else np.zeros((0, *shape), np.uint8),
              "count": ds.arrays["count"]}
    arrays.update({k: v for k, v in ds.arrays.items() if k.startswith(LABEL_PREFIX)})
    if tuple(ds.image_shape[1:]) == shape[1:]:  # only the channels changed: the geometry still holds
        arrays.update({k: ds.arrays[k] for k in PIXEL_ALIGNED if k in ds.arrays})
    return ArrayDataset(ds.name, ds.split, arrays, {**ds.info, "converted_from": list(ds.image_shape)})
