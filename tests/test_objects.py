"""The spatial-transformer helpers and the Detections contract shared by object models."""

import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.models.objects import (Detections, boxes_to_pixels, crop_patches, paste_patches,
                                        pixels_to_boxes)


def test_crop_of_a_box_reads_its_content():
    img = torch.zeros(1, 1, 64, 64)
    img[:, :, 16:32, 32:48] = 1.0  # a 16x16 block: x 32..48, y 16..32
    center, half = pixels_to_boxes(torch.tensor([[32.0, 16.0, 48.0, 32.0]]), (64, 64))
    patch = crop_patches(img, center, half, (8, 8))
    assert torch.allclose(patch, torch.ones_like(patch), atol=1e-5)


def test_paste_inverts_crop_inside_the_box_and_is_zero_outside():
    center, half = pixels_to_boxes(torch.tensor([[8.0, 8.0, 40.0, 24.0]]), (64, 64))
    patch = torch.ones(1, 3, 8, 8)
    canvas = paste_patches(patch, center, half, (64, 64))
    assert canvas.shape == (1, 3, 64, 64)
    assert torch.allclose(canvas[:, :, 10:22, 10:38], torch.ones(1, 3, 12, 28), atol=1e-5)
    assert canvas[:, :, 30:, :].abs().max() == 0 and canvas[:, :, :, 44:].abs().max() == 0


def test_pixel_box_round_trip():
    boxes = torch.tensor([[3.0, 5.0, 20.0, 60.0], [0.0, 0.0, 64.0, 32.0]])
    center, half = pixels_to_boxes(boxes, (32, 64))
    assert torch.allclose(boxes_to_pixels(center, half, (32, 64)), boxes)


def test_detections_shapes_are_checked():
    ok = Detections(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.bool))
    assert ok.count.tolist() == [3, 3]
    with pytest.raises(FactorbenchError, match="disagree"):
        Detections(torch.zeros(2, 3, 4), torch.zeros(2, 2), torch.zeros(2, 3, 5), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(FactorbenchError, match="NaN"):
        Detections(torch.full((1, 1, 4), float("nan")), torch.zeros(1, 1), torch.zeros(1, 1, 2),
                   torch.ones(1, 1, dtype=torch.bool))


def test_cuda_determinism_check_is_one_clear_error(monkeypatch):
    from factorbench.models.objects import check_trainable_on

    check_trainable_on("said", torch.zeros(1))  # CPU: fine
    fake_cuda = type("T", (), {"is_cuda": True})()
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    with pytest.raises(FactorbenchError, match="deterministic = false"):
        check_trainable_on("spair", fake_cuda)
