"""Box figures: images with their glimpses / detections drawn on (thesis §6.4, Figs 6.3,
6.5, 6.7–6.10; docs/protocols.md §4.4).

:func:`boxes_png` draws each image with its predicted boxes, box k in ``PALETTE[k %
len(PALETTE)]`` (so colour = glimpse order, the same in every image), optionally its
ground-truth boxes as thin white rectangles under them, a score beside each box and a
caption under each image. :func:`glimpse_steps_png` draws the per-iteration figures: row n
is image n, column t shows its boxes 0..t.

Layout (exact, so tests can predict it; as :mod:`factorbench.figures.grids`): every image is
upscaled by the integer ``scale`` (nearest neighbour); ``PAD`` pixels between and around
tiles; with captions, each tile row gains ``CAPTION_PX`` pixels below the images. A pixel
box [x0, x1) x [y0, y1) (x1/y1 exclusive) covers tile pixels [x0·s, x1·s) x [y0·s, y1·s);
its rectangle is drawn ``PRED_LINE_PX`` wide along the inside of that area (ground truth
``GT_LINE_PX``), clipped to the image it belongs to.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import FactorbenchError
from ..fileio import atomic_write_bytes
from .grids import to_uint8_hwc
from .style import BACKGROUND, FONT_PX, PAD, PALETTE
GT_COLOUR = (255, 255, 255)
PRED_LINE_PX = 2
GT_LINE_PX = 1
CAPTION_PX = FONT_PX + 4


def box_colour(index: int) -> Tuple[int, int, int]:
    """The colour of box ``index`` (0 = first glimpse) in every box figure: palette colour
    ``index`` (:mod:`factorbench.figures.style`)."""
    return PALETTE[index % len(PALETTE)]


def _as_box_array(boxes: Any, what: str) -> np.ndarray:
    if hasattr(boxes, "detach"):
        boxes = boxes.detach().cpu().numpy()
    a = np.asarray(boxes, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, 4)
    if a.ndim != 2 or a.shape[1] != 4 or not np.isfinite(a).all():
        raise FactorbenchError(f"{what} must be finite (K, 4) xyxy pixel boxes, got shape {a.shape}")
    return a


def _draw_rect(draw: ImageDraw.ImageDraw, box: np.ndarray, scale: int, colour, width: int) -> Tuple[int, int]:
    x0, y0 = int(round(box[0] * scale)), int(round(box[1] * scale))
    x1, y1 = max(x0, int(round(box[2] * scale)) - 1), max(y0, int(round(box[3] * scale)) - 1)
    draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
    return x0, y0


def _tile(image: np.ndarray, boxes: np.ndarray, scale: int, scores: Optional[np.ndarray],
          gt_boxes: Optional[np.ndarray], font) -> Image.Image:
    """One upscaled image (H, W, 3 uint8) with its ground-truth, then predicted, boxes."""
    h, w = image.shape[:2]
    tile = Image.fromarray(image).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(tile)
    for box in gt_boxes if gt_boxes is not None else ():
        _draw_rect(draw, box, scale, GT_COLOUR, GT_LINE_PX)
    for k, box in enumerate(boxes):
        x0, y0 = _draw_rect(draw, box, scale, box_colour(k), PRED_LINE_PX)
        if scores is not None:
            draw.text((x0 + PRED_LINE_PX + 1, y0 + PRED_LINE_PX), f"{scores[k]:.2f}", fill=box_colour(k), font=font)
    return tile


def _grid_png(tiles: List[Image.Image], columns: int, path, captions: Optional[Sequence[str]], font) -> Path:
    tw, th = tiles[0].size
    rows = math.ceil(len(tiles) / columns)
    caption_px = CAPTION_PX if captions is not None else 0
    canvas = Image.new("RGB", (PAD + columns * (tw + PAD), PAD + rows * (th + caption_px + PAD)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, tile in enumerate(tiles):
        x, y = PAD + (i % columns) * (tw + PAD), PAD + (i // columns) * (th + caption_px + PAD)
        canvas.paste(tile, (x, y))
        if captions is not None:
            draw.text((x, y + th + 2), str(captions[i]), fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return Path(atomic_write_bytes(path, buf.getvalue()))


def boxes_png(images: torch.Tensor, boxes: Sequence[Any], path, scores: Optional[Sequence[Any]] = None,
              gt_boxes: Optional[Sequence[Any]] = None, scale: int = 2, labels: Optional[Sequence[str]] = None,
              columns: Optional[int] = None) -> Path:
    """Write ``images`` (N, C, H, W) float in [0, 1] with their predicted pixel xyxy boxes
    (``boxes[i]`` (K_i, 4), box k coloured :func:`box_colour` (k)) as one PNG (thesis Figs
    6.5, 6.7–6.10). ``scores[i]`` (K_i,) are printed at each box's top-left corner;
    ``gt_boxes[i]`` (G_i, 4) are drawn thin white beneath; ``labels[i]`` is a caption under
    image i. ``columns`` tiles per row (default: all in one row). Returns the path."""
    arrays = to_uint8_hwc(images)
    n = len(arrays)
    if n == 0:
        raise FactorbenchError("boxes_png needs at least one image")
    for name, seq in (("boxes", boxes), ("scores", scores), ("gt_boxes", gt_boxes), ("labels", labels)):
        if seq is not None and len(seq) != n:
            raise FactorbenchError(f"boxes_png: {len(seq)} entries in {name} for {n} images")
    scale, columns = max(1, int(scale)), n if columns is None else max(1, int(columns))
    font = ImageFont.load_default(size=FONT_PX)
    tiles = []
    for i in range(n):
        b = _as_box_array(boxes[i], f"boxes[{i}]")
        s = None
        if scores is not None:
            s_i = scores[i].detach().cpu().numpy() if hasattr(scores[i], "detach") else scores[i]
            s = np.asarray(s_i, dtype=np.float64).reshape(-1)
            if len(s) != len(b):
                raise FactorbenchError(f"boxes_png: image {i} has {len(b)} boxes but {len(s)} scores")
        g = _as_box_array(gt_boxes[i], f"gt_boxes[{i}]") if gt_boxes is not None else None
        tiles.append(_tile(arrays[i], b, scale, s, g, font))
    return _grid_png(tiles, columns, path, labels, font)


def glimpse_steps_png(images: torch.Tensor, boxes_per_step: Any, path, scale: int = 2) -> Path:
    """The per-iteration glimpse figure (thesis Figs 6.3, 6.7): ``images`` (N, C, H, W) in
    [0, 1] and ``boxes_per_step`` (N, T, 4) pixel xyxy; row n, column t shows image n with
    its boxes 0..t (box k in :func:`box_colour` (k)). Returns the path."""
    arrays = to_uint8_hwc(images)
    if hasattr(boxes_per_step, "detach"):
        boxes_per_step = boxes_per_step.detach().cpu().numpy()
    steps = np.asarray(boxes_per_step, dtype=np.float64)
    n = len(arrays)
    if steps.ndim != 3 or steps.shape[0] != n or steps.shape[1] == 0 or steps.shape[2] != 4:
        raise FactorbenchError(f"glimpse_steps_png: boxes_per_step must be (N, T, 4) with N = {n} images and "
                               f"T >= 1, got shape {steps.shape}")
    if not np.isfinite(steps).all():
        raise FactorbenchError("glimpse_steps_png: boxes_per_step contain NaN or inf")
    t_steps = steps.shape[1]
    scale = max(1, int(scale))
    font = ImageFont.load_default(size=FONT_PX)
    tiles = [_tile(arrays[i], steps[i, :t + 1], scale, None, None, font) for i in range(n) for t in range(t_steps)]
    return _grid_png(tiles, t_steps, path, None, font)
