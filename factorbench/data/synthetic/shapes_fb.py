"""``shapes-fb`` and ``shapes-fb-black``: the foreground/background toy set of §5.4.1.

docs/protocols.md §2.1 / thesis §5.4.1 (Fig 5.4, Table 5.2): one shape from {square, star, circle,
triangle} near the centre of a 64x64 image, object and background colours from {red,
green, blue, dark green}, never the same colour. Each shape has a small random size,
rotation and offset from the centre. Shapes are drawn anti-aliased; ``mask`` is the binary
coverage >= 0.5 and ``boxes`` holds its one tight box.

Split ("three quarters of the colours of each shape in train, the rest held out for test"):
shape ``i`` holds out foreground colour ``i`` (:data:`HELD_OUT_FG`), so every colour is seen
in training on three shapes but never on the shape that holds it out. Train images of shape
``i`` use the other three foreground colours; test images of shape ``i`` use only colour
``i``. Backgrounds are uniform over the colours different from the object's. Shapes are
balanced: ``n // 4`` images each (train 8000 = 2000 per shape, as in the thesis).

``shapes-fb-black`` is the "mask channel" case of Fig 5.4c: the same generator with object
colour 3 (dark green) replaced by black; backgrounds keep all four colours. There, triangles
hold out black.

Labels (ints): ``shape`` indexes :data:`SHAPE_NAMES`, ``fg_colour`` the dataset's object
palette (:data:`FG_COLOUR_NAMES` or :data:`FG_COLOUR_NAMES_BLACK`), ``bg_colour``
:data:`BG_COLOUR_NAMES`.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..registry import register_dataset
from ..sample import ArrayDict
from .base import SyntheticSource
from .raster import MASK_THRESHOLD, boxes_from_masks, composite, render_coverage, shape_polygon, to_uint8

SIZE = 64
SHAPE_NAMES: Tuple[str, ...] = ("square", "star", "circle", "triangle")
COLOURS_RGB: Dict[str, Tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "dark green": (0, 100, 0),
    "black": (0, 0, 0),
}
BG_COLOUR_NAMES: Tuple[str, ...] = ("red", "green", "blue", "dark green")
FG_COLOUR_NAMES: Tuple[str, ...] = ("red", "green", "blue", "dark green")
FG_COLOUR_NAMES_BLACK: Tuple[str, ...] = ("red", "green", "blue", "black")  # Fig 5.4c
HELD_OUT_FG: Tuple[int, ...] = (0, 1, 2, 3)  # shape i's test-only foreground colour index

OBJECT_SIZE_PX = (28.0, 38.0)  # extent (side / diameter / star and triangle circumdiameter)
CENTRE_JITTER_PX = 4.0  # centre offset, uniform in [-4, 4] px on each axis


class ShapesFB(SyntheticSource):
    version = 1
    image_shape = (3, SIZE, SIZE)
    default_sizes = {"train": 8000, "test": 2000}
    fields = ("image", "mask", "boxes", "count", "labels")
    labels = ("shape", "fg_colour", "bg_colour")
    fg_colour_names: Tuple[str, ...] = FG_COLOUR_NAMES

    @property
    def label_values(self) -> Dict[str, Tuple[str, ...]]:
        return {"shape": SHAPE_NAMES, "fg_colour": self.fg_colour_names, "bg_colour": BG_COLOUR_NAMES}

    def sample_labels(self, split: str, n: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shape, fg_colour, bg_colour) index arrays (n,) following the held-out-colour split."""
        shape = rng.permutation(np.arange(n) % len(SHAPE_NAMES))
        held = np.asarray(HELD_OUT_FG)[shape]
        if split == "train":  # uniform over the three colours the shape does not hold out
            fg = (held + 1 + rng.integers(0, len(self.fg_colour_names) - 1, size=n)) % len(self.fg_colour_names)
        else:
            fg = held
        fg_rgb = [COLOURS_RGB[self.fg_colour_names[f]] for f in fg]
        bg = np.empty(n, dtype=np.int64)
        for i, rgb in enumerate(fg_rgb):
            allowed = [b for b, name in enumerate(BG_COLOUR_NAMES) if COLOURS_RGB[name] != rgb]
            bg[i] = allowed[rng.integers(0, len(allowed))]
        return shape.astype(np.int64), fg.astype(np.int64), bg

    def generate(self, split: str, n: int, rng: np.random.Generator) -> ArrayDict:
        shape, fg, bg = self.sample_labels(split, n, rng)
        size = rng.uniform(*OBJECT_SIZE_PX, size=n)
        centre = SIZE / 2 + rng.uniform(-CENTRE_JITTER_PX, CENTRE_JITTER_PX, size=(n, 2))
        angle = rng.uniform(0, 2 * np.pi, size=n)
        images = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
        masks = np.empty((n, 1, SIZE, SIZE), dtype=np.uint8)
        for i in range(n):
            poly = shape_polygon(SHAPE_NAMES[shape[i]], centre[i, 0], centre[i, 1], size[i], angle[i])
            alpha = render_coverage(poly, SIZE, SIZE)
            fg_rgb = np.array(COLOURS_RGB[self.fg_colour_names[fg[i]]]) / 255.0
            bg_rgb = np.array(COLOURS_RGB[BG_COLOUR_NAMES[bg[i]]]) / 255.0
            images[i] = to_uint8(composite(bg_rgb, [alpha], [fg_rgb], SIZE, SIZE))
            masks[i, 0] = alpha >= MASK_THRESHOLD
        return {
            "image": images,
            "mask": masks,
            "boxes": boxes_from_masks(masks),  # (n, 1, 4): the mask's one tight box
            "count": np.ones(n, dtype=np.int64),
            "label_shape": shape,
            "label_fg_colour": fg,
            "label_bg_colour": bg,
        }


@register_dataset("shapes-fb")
class ShapesFBColour(ShapesFB):
    description = "§5.4.1 toy set: 4 shapes x 4 fg/bg colours, 64x64; one fg colour per shape held out for test"


@register_dataset("shapes-fb-black")
class ShapesFBBlack(ShapesFB):
    description = "§5.4.1 toy set, Fig 5.4c variant: object colour dark green replaced by black (mask-channel case)"
    fg_colour_names = FG_COLOUR_NAMES_BLACK
