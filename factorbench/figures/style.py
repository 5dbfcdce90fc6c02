"""The one look of every figure factorbench draws: one palette, one padding, one font size.

``PALETTE`` holds 20 distinct colours (Trubetskoy's list of distinct colours, white and
black left out), ordered so that the first ones tell apart for red-green colour-blind
readers (blue, orange, purple, then the rest) and read on black digit images and white plot
backgrounds alike; the pale ones late in the list (beige, apricot, mint, lavender) read
poorly on white, so plots with many series should not rely on them. Colour k always means
the same k-th thing in a figure: glimpse k, object k, series k.
Image grids put ``PAD`` pixels between and around tiles.
"""

from __future__ import annotations

from typing import Tuple

RGB = Tuple[int, int, int]

PALETTE: Tuple[RGB, ...] = (
    (0, 130, 200), (245, 130, 48), (145, 30, 180), (230, 25, 75), (60, 180, 75),
    (255, 225, 25), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128))
BACKGROUND: RGB = (255, 255, 255)
#: pixels between and around the tiles of every image grid
PAD = 2
#: the default bitmap font's size in image grids (labels, captions)
FONT_PX = 10
#: left margin of an image-row figure whose rows are labelled
LABEL_PX = 96


def colour(index: int) -> RGB:
    """Colour ``index`` of the palette (cycled)."""
    return PALETTE[index % len(PALETTE)]


def colour_hex(index: int) -> str:
    """Colour ``index`` as ``#rrggbb`` (matplotlib)."""
    return "#%02x%02x%02x" % colour(index)
