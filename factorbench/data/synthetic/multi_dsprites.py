"""``multi-dsprites``: coloured sprites on a coloured background (thesis §6.4, §6.4.5).

docs/protocols.md §2.1: like DeepMind's ``colored_on_colored`` Multi-dSprites. A 64x64 image holds 1-4
sprites (uniform), each a square, ellipse or heart at a random position, scale and
rotation; the background and every sprite take a colour from {0, 63, 127, 191, 255}^3, a
sprite never the background's colour (two sprites may share one, as in the original).
Sprites are painted back to front, so later ones occlude earlier ones; sprites may run off
the image edge.

``masks`` are the *visible* masks after occlusion (pixels where the sprite's coverage is
>= 0.5 and no later sprite covers), disjoint, padded with zeros to K = 4; ``boxes`` are
tight around them. Visibility rule: a sprite is redrawn if, with the sprites drawn so far,
any of them would show fewer than ``max(MIN_VISIBLE_PX, MIN_VISIBLE_FRACTION * its own
in-image area)`` pixels, so every counted object can be seen. Per-object label ``shape``
(:data:`SHAPE_NAMES`), padded with -1. Train and test are independent draws of the same
distribution (as in the original, which has no held-out factor).
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
SHAPE_NAMES: Tuple[str, ...] = ("square", "ellipse", "heart")
CHANNEL_LEVELS = np.array([0, 63, 127, 191, 255], dtype=np.float32) / 255.0
PALETTE = np.stack(np.meshgrid(CHANNEL_LEVELS, CHANNEL_LEVELS, CHANNEL_LEVELS, indexing="ij"), -1).reshape(-1, 3)
SPRITE_EXTENT_PX = 24.0  # extent at scale 1 (square side, ellipse major axis, heart width)
SCALE_RANGE = (0.5, 1.0)  # dSprites' scale range
CENTRE_RANGE_PX = (4.0, 60.0)  # sprite centre, uniform on each axis
MIN_VISIBLE_PX = 12
MIN_VISIBLE_FRACTION = 0.25


def draw_sprite(rng: np.random.Generator, bg_index: int):
    """One random sprite: (coverage (H, W), (shape index, colour index))."""
    shape = int(rng.integers(0, len(SHAPE_NAMES)))
    colour = int(rng.integers(0, len(PALETTE) - 1))
    colour += colour >= bg_index  # uniform over the palette minus the background colour
    size = SPRITE_EXTENT_PX * rng.uniform(*SCALE_RANGE)
    cx, cy = rng.uniform(*CENTRE_RANGE_PX, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    return render_coverage(shape_polygon(SHAPE_NAMES[shape], cx, cy, size, angle), SIZE, SIZE), (shape, colour)


@register_dataset("multi-dsprites")
class MultiDSprites(SyntheticSource):
    version = 1
    image_shape = (3, SIZE, SIZE)
    default_sizes = {"train": 10000, "test": 2000}
    description = "Multi-dSprites (colored_on_colored): 1-4 squares/ellipses/hearts, 64x64, occlusion, visible masks"
    fields = ("image", "masks", "boxes", "count", "labels")
    labels = ("shape",)
    label_values: Dict[str, Tuple[str, ...]] = {"shape": SHAPE_NAMES}

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        count = rng.integers(1, MAX_OBJECTS + 1, size=n)
        images = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
        masks = np.zeros((n, MAX_OBJECTS, SIZE, SIZE), dtype=np.uint8)
        shapes = np.full((n, MAX_OBJECTS), -1, dtype=np.int64)
        for i in range(n):
            bg = int(rng.integers(0, len(PALETTE)))
            scene = None
            while scene is None:
                scene = sample_layers(
                    rng, int(count[i]), lambda r: draw_sprite(r, bg), MIN_VISIBLE_PX, MIN_VISIBLE_FRACTION
                )
            alphas, infos, visible = scene
            colours = [PALETTE[c] for _, c in infos]
            images[i] = to_uint8(composite(PALETTE[bg], alphas, colours, SIZE, SIZE))
            masks[i, : count[i]] = visible
            shapes[i, : count[i]] = [s for s, _ in infos]
        return {
            "image": images,
            "masks": masks,
            "boxes": boxes_from_masks(masks),
            "count": count.astype(np.int64),
            "label_shape": shapes,
        }
