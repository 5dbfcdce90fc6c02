"""Image-row figures: reconstruction grids, fine-tune comparisons, latent strips.

:func:`image_rows_png` lays out rows of same-sized images (one row per tensor), each row
optionally named by a label on its left, and writes the PNG atomically. It is the one
drawing routine behind the thesis's image figures that are "original row, reconstruction
row" (Figs 4.2, 4.4) or "a strip along a latent path" (Figs 4.7–4.9).

Layout (exact, so tests can predict it): every image is upscaled by the integer ``scale``
(nearest neighbour); ``PAD`` pixels between and around images; a left margin of
``LABEL_PX`` pixels when any row has a label. Greyscale images are shown as grey RGB.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import FactorbenchError
from ..fileio import atomic_write_bytes
from .style import BACKGROUND, FONT_PX, LABEL_PX, PAD


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float images in [0, 1] (values outside are clipped) -> (N, H, W, 3) uint8."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise FactorbenchError(f"expected (N, 1|3, H, W) images, got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def image_rows_png(rows: Sequence[torch.Tensor], path, labels: Optional[Sequence[str]] = None,
                   scale: int = 2) -> Path:
    """Write ``rows`` (each an (N_i, C, H, W) tensor in [0, 1], all with the same H, W) as
    one PNG, row i left-labelled by ``labels[i]``. Returns the path."""
    if not rows:
        raise FactorbenchError("image_rows_png needs at least one row")
    arrays = [to_uint8_hwc(r) for r in rows]
    h, w = arrays[0].shape[1:3]
    if any(a.shape[1:3] != (h, w) for a in arrays):
        raise FactorbenchError("every row of an image figure needs images of the same height and width")
    if labels is not None and len(labels) != len(rows):
        raise FactorbenchError(f"{len(labels)} labels for {len(rows)} rows")
    scale = max(1, int(scale))
    cols = max(len(a) for a in arrays)
    left = LABEL_PX if labels is not None and any(labels) else 0
    width = left + PAD + cols * (w * scale + PAD)
    height = PAD + len(arrays) * (h * scale + PAD)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_PX)
    for i, arr in enumerate(arrays):
        y = PAD + i * (h * scale + PAD)
        if left:
            draw.text((PAD, y + (h * scale - FONT_PX) // 2), str(labels[i]), fill=(0, 0, 0), font=font)
        for j, img in enumerate(arr):
            tile = Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST)
            canvas.paste(tile, (left + PAD + j * (w * scale + PAD), y))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return Path(atomic_write_bytes(path, buf.getvalue()))
