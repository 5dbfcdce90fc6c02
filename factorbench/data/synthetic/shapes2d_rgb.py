"""``shapes2d-rgb``: 2D multi-object scenes on a red, green or blue background.

docs/protocols.md §2.1: the embedded stand-in for the thesis's CLEVR re-rendered with red, green and
blue backgrounds (§5.4.1 "Multi-object datasets", Fig 5.8), where BFVAE swaps foregrounds
and backgrounds. A 64x64 image has a plain pure red, green or blue background and 1-4
objects (uniform): circles, squares and triangles (randomly rotated) in CLEVR's eight
colours (:data:`COLOUR_NAMES`), never the colour named like the background. Objects are
painted back to front and may occlude each other, with the same visibility rule as
``multi-dsprites`` (a redrawn object unless every object keeps at least
``max(MIN_VISIBLE_PX, MIN_VISIBLE_FRACTION * its area)`` visible pixels).

Fields: ``masks`` per-object visible masks (K = 4, disjoint), ``mask`` their union (the
foreground), tight ``boxes``, ``count``; labels ``bg_colour`` (image, :data:`BG_NAMES`) and
per-object ``shape`` (:data:`SHAPE_NAMES`) and ``colour`` (:data:`COLOUR_NAMES`), padded
with -1. Train and test are independent draws of one distribution.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..registry import register_dataset
from ..sample import ArrayDict
from .base import SyntheticSource
from .raster import boxes_from_masks, composite, render_coverage, sample_layers, shape_polygon, to_uint8

SIZE = 64
MAX_OBJECTS = 4
SHAPE_NAMES: Tuple[str, ...] = ("circle", "square", "triangle")
BG_NAMES: Tuple[str, ...] = ("red", "green", "blue")
BG_RGB = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.float32) / 255.0
COLOUR_NAMES: Tuple[str, ...] = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
COLOUR_RGB = np.array(  # CLEVR's material colours
    [[87, 87, 87], [173, 35, 35], [42, 75, 215], [29, 105, 20],
     [129, 74, 25], [129, 38, 192], [41, 208, 208], [255, 238, 51]], dtype=np.float32) / 255.0
OBJECT_EXTENT_PX = (10.0, 22.0)  # side / diameter / triangle circumdiameter, uniform
CENTRE_RANGE_PX = (6.0, 58.0)  # object centre, uniform on each axis
MIN_VISIBLE_PX = 12
MIN_VISIBLE_FRACTION = 0.25


def allowed_colours(bg: int) -> np.ndarray:
    """Object colour indices allowed on background ``bg``: all but the one named like it."""
    return np.array([c for c, name in enumerate(COLOUR_NAMES) if name != BG_NAMES[bg]])


def draw_object(rng: np.random.Generator, colours: np.ndarray):
    """One random object: (coverage (H, W), (shape index, colour index))."""
    shape = int(rng.integers(0, len(SHAPE_NAMES)))
    colour = int(colours[rng.integers(0, len(colours))])
    size = rng.uniform(*OBJECT_EXTENT_PX)
    cx, cy = rng.uniform(*CENTRE_RANGE_PX, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    return render_coverage(shape_polygon(SHAPE_NAMES[shape], cx, cy, size, angle), SIZE, SIZE), (shape, colour)


@register_dataset("shapes2d-rgb")
class Shapes2DRGB(SyntheticSource):
    version = 1
    image_shape = (3, SIZE, SIZE)
    default_sizes = {"train": 8000, "test": 2000}
    description = "1-4 circles/squares/triangles (CLEVR colours) on plain red/green/blue, 64x64 (Fig 5.8 stand-in)"
    fields = ("image", "mask", "masks", "boxes", "count", "labels")
    labels = ("bg_colour", "shape", "colour")
    label_values: Dict[str, Tuple[str, ...]] = {"bg_colour": BG_NAMES, "shape": SHAPE_NAMES, "colour": COLOUR_NAMES}

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        count = rng.integers(1, MAX_OBJECTS + 1, size=n)
        bg = rng.integers(0, len(BG_NAMES), size=n)
        images = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
        masks = np.zeros((n, MAX_OBJECTS, SIZE, SIZE), dtype=np.uint8)
        shapes = np.full((n, MAX_OBJECTS), -1, dtype=np.int64)
        colours = np.full((n, MAX_OBJECTS), -1, dtype=np.int64)
        for i in range(n):
            allowed = allowed_colours(int(bg[i]))
            scene = None
            while scene is None:
                scene = sample_layers(
                    rng, int(count[i]), lambda r: draw_object(r, allowed), MIN_VISIBLE_PX, MIN_VISIBLE_FRACTION
                )
            alphas, infos, visible = scene
            paint = [COLOUR_RGB[c] for _, c in infos]
            images[i] = to_uint8(composite(BG_RGB[bg[i]], alphas, paint, SIZE, SIZE))
            masks[i, : count[i]] = visible
            shapes[i, : count[i]] = [s for s, _ in infos]
            colours[i, : count[i]] = [c for _, c in infos]
        return {
            "image": images,
            "mask": masks.max(axis=1, keepdims=True),
            "masks": masks,
            "boxes": boxes_from_masks(masks),
            "count": count.astype(np.int64),
            "label_bg_colour": bg.astype(np.int64),
            "label_shape": shapes,
            "label_colour": colours,
        }
