"""Box figures (thesis Figs 6.3, 6.5, 6.7–6.10; docs/protocols.md §4.4): exact layout and box colours."""

import numpy as np
import pytest
import torch
from PIL import Image

from factorbench.figures.boxes import (CAPTION_PX, GT_COLOUR, PAD, PRED_LINE_PX, box_colour, boxes_png,
                                     glimpse_steps_png)
from factorbench.errors import FactorbenchError

BLACK = (0, 0, 0)


def pixel(img, x, y):
    return tuple(img.getpixel((x, y)))


def test_boxes_png_size_and_box_edge_colours(tmp_path):
    images = torch.zeros(3, 1, 16, 16)
    boxes = [np.array([[2, 2, 10, 10], [8, 1, 14, 6]], float), np.zeros((0, 4)), torch.tensor([[0.0, 0, 16, 16]])]
    gt = [np.array([[4, 12, 12, 15]], float), [], []]
    path = boxes_png(images, boxes, tmp_path / "boxes.png", gt_boxes=gt, scale=2, columns=2)
    img = Image.open(path).convert("RGB")
    tile = 16 * 2
    assert img.size == (PAD + 2 * (tile + PAD), PAD + 2 * (tile + PAD))  # 2 columns, 2 rows
    ox, oy = PAD, PAD  # image 0's tile
    # box 0 covers tile pixels [4, 20) x [4, 20): its left edge is in colour 0, the inside stays black
    assert pixel(img, ox + 4, oy + 12) == box_colour(0)
    assert pixel(img, ox + 4 + PRED_LINE_PX - 1, oy + 12) == box_colour(0)
    assert pixel(img, ox + 19, oy + 12) == box_colour(0)  # right edge: last pixel of x1 = 10 (exclusive)
    assert pixel(img, ox + 20, oy + 12) == BLACK
    assert pixel(img, ox + 12, oy + 12) == BLACK
    # box 1, top edge at y = 1 * 2, in colour 1; ground truth bottom edge at y = 15 * 2 - 1 in white
    assert pixel(img, ox + 24, oy + 2) == box_colour(1) != box_colour(0)
    assert pixel(img, ox + 10, oy + 29) == GT_COLOUR
    # image 1 has no boxes; image 2 (second row) has a full-image box clipped to its own tile
    assert pixel(img, PAD + tile + PAD + 5, oy) == BLACK
    oy2 = PAD + tile + PAD
    assert pixel(img, ox, oy2 + 10) == box_colour(0) and pixel(img, ox + tile - 1, oy2 + 10) == box_colour(0)
    assert pixel(img, ox + tile, oy2 + 10) == (255, 255, 255)  # the white padding is untouched


def test_boxes_png_with_scores_and_captions(tmp_path):
    images = torch.rand(2, 3, 8, 8)
    path = boxes_png(images, [[[0, 0, 4, 4]], [[1, 1, 7, 7]]], tmp_path / "b.png", scores=[[0.9], [0.25]],
                     labels=["7", "3"], scale=3)
    img = Image.open(path)
    assert img.size == (PAD + 2 * (24 + PAD), PAD + 24 + CAPTION_PX + PAD)
    with pytest.raises(FactorbenchError, match="1 entries in boxes for 2 images"):
        boxes_png(images, [[[0, 0, 4, 4]]], tmp_path / "c.png")
    with pytest.raises(FactorbenchError, match="1 boxes but 2 scores"):
        boxes_png(images, [[[0, 0, 4, 4]], []], tmp_path / "c.png", scores=[[0.1, 0.2], []])


def test_glimpse_steps_png_column_t_shows_boxes_up_to_t(tmp_path):
    images = torch.zeros(2, 1, 10, 10)
    steps = torch.tensor([[[0, 0, 5, 5], [5, 5, 10, 10], [0, 5, 5, 10]]] * 2, dtype=torch.float32)
    img = Image.open(glimpse_steps_png(images, steps, tmp_path / "steps.png", scale=2)).convert("RGB")
    tile = 20
    assert img.size == (PAD + 3 * (tile + PAD), PAD + 2 * (tile + PAD))
    for row in range(2):
        y = PAD + row * (tile + PAD)
        for t in range(3):
            x = PAD + t * (tile + PAD)
            assert pixel(img, x, y + 4) == box_colour(0)  # box 0's left edge, in every column
            shown_1 = pixel(img, x + 10, y + 14) == box_colour(1)  # box 1's left edge at x = 5 * 2
            assert shown_1 == (t >= 1)
            shown_2 = pixel(img, x + 4, y + 10) == box_colour(2)  # box 2's top edge at y = 5 * 2
            assert shown_2 == (t >= 2)
    with pytest.raises(FactorbenchError, match=r"\(N, T, 4\)"):
        glimpse_steps_png(images, steps[:1], tmp_path / "bad.png")
