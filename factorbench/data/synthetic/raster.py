"""Shared drawing helpers of the synthetic scene generators (docs/protocols.md §2.1).

Shapes are polygons in continuous pixel coordinates (pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)``). :func:`render_coverage` rasterises one at ``SUPERSAMPLE`` times the
resolution with PIL and box-averages it back down, which gives an anti-aliased coverage map
(alpha) in [0, 1]; a binary mask is ``alpha >= 0.5``. :func:`sample_layers` stacks objects
back to front (later ones occlude earlier ones) and redraws any object that would be left
(almost) invisible; :func:`boxes_from_masks` gives the tight xyxy boxes of the contract
(x1/y1 exclusive).
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4  # polygons are drawn at 4x and box-averaged: 17 coverage levels per pixel
MASK_THRESHOLD = 0.5  # a pixel belongs to an object's mask when its coverage is >= this

Polygon = List[Tuple[float, float]]


# --------------------------------------------------------------------------- shapes


def _place(unit: np.ndarray, cx: float, cy: float, size: float, angle: float) -> Polygon:
    """Scale a unit outline (extent ~[-0.5, 0.5]) by ``size`` px, rotate by ``angle`` rad, move to (cx, cy)."""
    c, s = math.cos(angle), math.sin(angle)
    x = unit[:, 0] * size
    y = unit[:, 1] * size
    return list(zip((cx + c * x - s * y).tolist(), (cy + s * x + c * y).tolist()))


def unit_square() -> np.ndarray:
    return np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])


def unit_ellipse(aspect: float = 1.0, n: int = 64) -> np.ndarray:
    """Ellipse of width 1 and height ``aspect`` (a circle for aspect 1)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([0.5 * np.cos(t), 0.5 * aspect * np.sin(t)], axis=1)


def unit_triangle() -> np.ndarray:
    """Equilateral triangle, circumradius 0.5 (so it spans a circle of diameter ``size``), apex up."""
    t = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
    return np.stack([0.5 * np.cos(t), 0.5 * np.sin(t)], axis=1)


def unit_star(points: int = 5, inner_ratio: float = 0.45) -> np.ndarray:
    """``points``-pointed star, outer radius 0.5, one tip up."""
    t = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 0.5, 0.5 * inner_ratio)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def unit_heart(n: int = 64) -> np.ndarray:
    """The classic parametric heart, point down, about 1 wide and 0.95 tall."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    x, y = x / 32.0, (y - (y.max() + y.min()) / 2) / 32.0
    return np.stack([x, y], axis=1)


UNIT_SHAPES = {
    "square": unit_square(),
    "circle": unit_ellipse(1.0),
    "ellipse": unit_ellipse(0.5),
    "triangle": unit_triangle(),
    "star": unit_star(),
    "heart": unit_heart(),
}


def shape_polygon(shape: str, cx: float, cy: float, size: float, angle: float = 0.0) -> Polygon:
    """Outline of ``shape`` (a key of :data:`UNIT_SHAPES`) of extent ``size`` px centred at (cx, cy)."""
    return _place(UNIT_SHAPES[shape], cx, cy, size, angle)


# --------------------------------------------------------------------------- rasterising


def render_coverage(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """Anti-aliased coverage (H, W) float32 in [0, 1] of a filled polygon.

    Only the polygon's bounding window is drawn (at ``SUPERSAMPLE``x with PIL, then
    box-averaged), so small shapes are cheap; parts outside the image are clipped.
    """
    ss = SUPERSAMPLE
    pts = np.asarray(polygon, dtype=np.float64)
    x0 = max(int(math.floor(pts[:, 0].min())) - 1, 0)
    y0 = max(int(math.floor(pts[:, 1].min())) - 1, 0)
    x1 = min(int(math.ceil(pts[:, 0].max())) + 1, width)
    y1 = min(int(math.ceil(pts[:, 1].max())) + 1, height)
    out = np.zeros((height, width), dtype=np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    canvas = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
    # Sub-pixel (u, v) of the supersampled window has its centre at (x0 + (u+0.5)/ss, ...).
    local = [((x - x0) * ss - 0.5, (y - y0) * ss - 0.5) for x, y in pts.tolist()]
    ImageDraw.Draw(canvas).polygon(local, fill=255)
    small = canvas.reduce(ss)  # box average over ss x ss blocks
    out[y0:y1, x0:x1] = np.asarray(small, dtype=np.float32) / 255.0
    return out


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (..., 4) float32 of binary masks (..., H, W); x1/y1 exclusive; 0 if empty."""
    masks = np.asarray(masks, dtype=bool)
    rows = masks.any(axis=-1)  # (..., H)
    cols = masks.any(axis=-2)  # (..., W)
    h, w = masks.shape[-2:]
    y0 = rows.argmax(axis=-1)
    y1 = h - rows[..., ::-1].argmax(axis=-1)
    x0 = cols.argmax(axis=-1)
    x1 = w - cols[..., ::-1].argmax(axis=-1)
    boxes = np.stack([x0, y0, x1, y1], axis=-1).astype(np.float32)
    boxes[~rows.any(axis=-1)] = 0.0
    return boxes


def visible_masks(masks: np.ndarray) -> np.ndarray:
    """Per-object visible masks (K, H, W) of binary masks stacked back to front (later on top)."""
    masks = np.asarray(masks, dtype=bool)
    covered = np.zeros(masks.shape[1:], dtype=bool)
    vis = np.zeros_like(masks)
    for k in range(masks.shape[0] - 1, -1, -1):
        vis[k] = masks[k] & ~covered
        covered |= masks[k]
    return vis


# --------------------------------------------------------------------------- scenes


def sample_layers(
    rng: np.random.Generator,
    count: int,
    draw: Callable[[np.random.Generator], Tuple[np.ndarray, object]],
    min_visible_px: int,
    min_visible_fraction: float,
    max_tries: int = 100,
) -> Optional[Tuple[List[np.ndarray], List[object], np.ndarray]]:
    """Stack ``count`` objects back to front, each drawn by ``draw(rng) -> (alpha, info)``.

    An object is kept only if, with it on top, every object so far (itself included) still
    shows at least ``max(min_visible_px, min_visible_fraction * its own mask area)`` visible
    pixels; otherwise it is redrawn. Returns (alphas, infos, visible masks (count, H, W)),
    or None after ``max_tries`` failed draws for one object (the caller redraws the scene).
    """
    alphas: List[np.ndarray] = []
    infos: List[object] = []
    vis = None
    for _ in range(count):
        for _ in range(max_tries):
            alpha, info = draw(rng)
            masks = np.stack([a >= MASK_THRESHOLD for a in alphas + [alpha]])
            area = masks.reshape(len(masks), -1).sum(axis=1)
            cand = visible_masks(masks)
            shown = cand.reshape(len(cand), -1).sum(axis=1)
            if np.all(shown >= np.maximum(min_visible_px, min_visible_fraction * area)):
                alphas.append(alpha)
                infos.append(info)
                vis = cand
                break
        else:
            return None
    return alphas, infos, vis


def composite(
    background: np.ndarray, alphas: Sequence[np.ndarray], colours: Sequence[np.ndarray], height: int, width: int
) -> np.ndarray:
    """Paint RGB ``colours`` (3,) with coverages ``alphas`` (H, W) back to front on a (3,) background -> (3, H, W)."""
    h, w = height, width
    img = np.broadcast_to(np.asarray(background, dtype=np.float32)[:, None, None], (3, h, w)).copy()
    for a, c in zip(alphas, colours):
        img = img * (1.0 - a) + np.asarray(c, dtype=np.float32)[:, None, None] * a
    return img


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(img) * 255.0), 0, 255).astype(np.uint8)
