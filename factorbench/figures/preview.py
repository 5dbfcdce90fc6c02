"""Preview grids of a dataset's samples (docs/protocols.md §1 ``factorbench datasets show NAME --out grid.png``).

:func:`preview_grid` draws the first ``n`` samples of a dataset in a grid: each cell is
the image upscaled (nearest neighbour) by an integer ``scale``, with per-object ``masks``
tinted in distinct translucent colours, edges stronger than interiors (or the single
foreground ``mask`` in one tint that stands out from the image),
``boxes`` drawn as rectangles in their object's colour, and a caption under it with the
object count and the labels (named through the source's ``label_values`` when it has them).
Greyscale images are shown as grey RGB.

Layout (exact, so callers and tests can predict it): cells of ``W*scale`` by
``H*scale + CAPTION_PX`` pixels, ``PAD`` pixels between and around them, ``cols`` columns.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..fileio import atomic_write_bytes
from .style import BACKGROUND, FONT_PX, PAD, PALETTE

TARGET_CELL_PX = 128  # default scale: the integer factor that brings the image side closest to this
LINE_PX = 12
CAPTION_LINES = 3
CAPTION_PX = CAPTION_LINES * LINE_PX + 2
MASK_ALPHA = 0.25  # tint of a mask's interior; its edge pixels get EDGE_ALPHA
EDGE_ALPHA = 0.8
FOREGROUND_TINTS = ((255, 0, 255), (255, 255, 0), (0, 255, 255))  # the one farthest from the image's mean colour
#: object k's mask tint and box colour: palette colour k
OBJECT_COLOURS = PALETTE


def default_scale(height: int, width: int) -> int:
    return max(1, int(round(TARGET_CELL_PX / max(height, width))))


def grid_size(image_hw: Tuple[int, int], n: int, cols: int, scale: int) -> Tuple[int, int]:
    """(width, height) in pixels of the grid for ``n`` images of size ``image_hw``."""
    h, w = image_hw
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    return cols * (w * scale + PAD) + PAD, rows * (h * scale + CAPTION_PX + PAD) + PAD


def _label_text(name: str, value: Any, names: Optional[Sequence[str]], short: bool) -> str:
    def one(v: int) -> str:
        return names[v] if names is not None and 0 <= v < len(names) else str(v)

    if isinstance(value, int):
        return f"{name}={one(value)}"
    values = [one(int(v)) for v in np.asarray(value).reshape(-1)]
    return f"{name}:" + ",".join(v[:3] if short else v for v in values)  # short: per-object names cut to 3 chars


def _wrap(words: Sequence[str], font: ImageFont.ImageFont, width: int) -> list:
    lines: list = []
    for word in words:
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def caption_lines(sample: Mapping[str, Any], label_values: Mapping[str, Sequence[str]], font, width: int) -> list:
    """At most CAPTION_LINES lines naming the count and labels; per-object names shortened if needed."""
    for short in (False, True):
        words = []
        if "masks" in sample or "boxes" in sample:
            words.append(f"n={sample['count']}")
        for name in sorted(sample.get("labels", {})):
            words.append(_label_text(name, sample["labels"][name], label_values.get(name), short))
        lines = _wrap(words, font, width)
        if len(lines) <= CAPTION_LINES and all(font.getlength(line) <= width for line in lines):
            return lines
    clipped = lines[:CAPTION_LINES]
    for j, line in enumerate(clipped):
        last = j == len(clipped) - 1 and len(lines) > CAPTION_LINES
        if last or font.getlength(line) > width:
            while line and font.getlength(line + "..") > width:
                line = line[:-1]
            clipped[j] = line + ".."
    return clipped


def _erode(m: np.ndarray) -> np.ndarray:
    """4-neighbour binary erosion (pixels outside the image count as background)."""
    p = np.pad(m, 1)
    return m & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def render_cell(sample: Mapping[str, Any], scale: int) -> Image.Image:
    """The sample's image upscaled by ``scale`` with masks tinted and boxes drawn."""
    img = np.asarray(sample["image"], dtype=np.float32)  # (C, H, W) in [0, 1]
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    rgb = img.transpose(1, 2, 0) * 255.0  # (H, W, 3)
    masks = sample.get("masks")
    if masks is not None and len(masks):
        tints = [(np.asarray(m) > 0.5, OBJECT_COLOURS[k % len(OBJECT_COLOURS)]) for k, m in enumerate(masks)]
    elif sample.get("mask") is not None:
        mean = rgb.reshape(-1, 3).mean(axis=0)
        tint = max(FOREGROUND_TINTS, key=lambda c: float(np.linalg.norm(np.asarray(c) - mean)))
        tints = [(np.asarray(sample["mask"])[0] > 0.5, tint)]
    else:
        tints = []
    for m, colour in tints:
        edge = m & ~_erode(m)
        for region, alpha in ((m & ~edge, MASK_ALPHA), (edge, EDGE_ALPHA)):
            rgb[region] = rgb[region] * (1 - alpha) + np.asarray(colour, dtype=np.float32) * alpha
    cell = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    cell = cell.resize((cell.width * scale, cell.height * scale), Image.NEAREST)
    boxes = sample.get("boxes")
    if boxes is not None:
        draw = ImageDraw.Draw(cell)
        for k, box in enumerate(np.asarray(boxes)):
            x0, y0, x1, y1 = (float(v) * scale for v in box)
            if x1 > x0 and y1 > y0:  # PIL rectangles include their far edge
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=OBJECT_COLOURS[k % len(OBJECT_COLOURS)])
    return cell


def preview_grid(dataset, n: int = 16, out_path: Optional[os.PathLike] = None, cols: int = 8,
                 scale: Optional[int] = None, label_values: Optional[Mapping[str, Sequence[str]]] = None):
    """Draw the first ``n`` samples of ``dataset`` as a PNG grid at ``out_path``; returns its Path.

    ``scale`` is the integer upscaling factor (default: side closest to 128 px);
    ``label_values`` maps a label to its value names (none by default;
    :func:`factorbench.data.preview.preview_grid` passes the registered source's).
    """
    if out_path is None:
        raise ValueError("preview_grid needs out_path")
    n = min(int(n), len(dataset))
    if n <= 0:
        raise ValueError("preview_grid needs at least one sample")
    first = dataset[0]
    _, h, w = tuple(first["image"].shape)
    scale = default_scale(h, w) if scale is None else int(scale)
    names = {} if label_values is None else dict(label_values)
    cols = max(1, min(int(cols), n))
    font = ImageFont.load_default(size=FONT_PX)
    grid = Image.new("RGB", grid_size((h, w), n, cols, scale), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for i in range(n):
        sample = first if i == 0 else dataset[i]
        x = PAD + (i % cols) * (w * scale + PAD)
        y = PAD + (i // cols) * (h * scale + CAPTION_PX + PAD)
        grid.paste(render_cell(sample, scale), (x, y))
        for j, line in enumerate(caption_lines(sample, names, font, w * scale)):
            draw.text((x, y + h * scale + 1 + j * LINE_PX), line, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return Path(atomic_write_bytes(out_path, buf.getvalue()))
