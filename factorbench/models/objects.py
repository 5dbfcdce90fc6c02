"""What object models share (thesis Chapter 6; docs/protocols.md §3 SAID/SPAIR/SPACE, §4.4).

- :class:`Detections`, the one output form of every object model (SAID, SPAIR, SPACE) and
  of external predictions: per image K candidate boxes in pixels (x0, y0, x1, y1; x1/y1
  exclusive, as the datasets' ``boxes``), a confidence per box (higher = more confident),
  a latent code per box (for the digit-sum task), and ``keep``, which boxes the model
  itself counts as objects (SAID: glimpses before the stop rule; SPAIR/SPACE:
  z_pres > 0.5). ``count`` is ``keep.sum(1)``.
- The spatial transformer (Jaderberg et al. 2015) in the form the glimpse models use: a
  box is a centre ``(cx, cy)`` and a half-size ``(sx, sy)`` in normalised image
  coordinates ([-1, 1] spans the image, so ``sx = 1`` is the full width);
  :func:`crop_patches` resamples the box's content to an h x w patch and
  :func:`paste_patches` writes patches back into full-size canvases (zero outside the box).
  Both are differentiable in the box parameters (bilinear ``grid_sample``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F

from ..errors import FactorbenchError


@dataclass
class Detections:
    """Per-image candidate objects of a batch of B images with up to K candidates each.

    ``boxes`` (B, K, 4) float pixels xyxy; ``scores`` (B, K) float, higher = more confident;
    ``latents`` (B, K, D) float; ``keep`` (B, K) bool, the candidates the model counts.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    latents: torch.Tensor
    keep: torch.Tensor

    def __post_init__(self) -> None:
        b, k = self.scores.shape
        if self.boxes.shape != (b, k, 4) or self.keep.shape != (b, k) or self.latents.shape[:2] != (b, k):
            raise FactorbenchError(
                f"detections: boxes {tuple(self.boxes.shape)}, scores {tuple(self.scores.shape)}, latents "
                f"{tuple(self.latents.shape)} and keep {tuple(self.keep.shape)} disagree; expected (B,K,4), (B,K), "
                "(B,K,D), (B,K)")
        if not (torch.isfinite(self.boxes).all() and torch.isfinite(self.scores).all()):
            raise FactorbenchError("detections contain NaN or inf boxes or scores; the model has likely diverged")

    @property
    def count(self) -> torch.Tensor:
        """(B,) number of kept candidates per image."""
        return self.keep.sum(dim=1)


def check_trainable_on(model_name: str, x: torch.Tensor) -> None:
    """One clear error instead of torch's: ``grid_sample`` (the spatial transformer) has no
    deterministic CUDA backward, so object models train on a GPU only with the trainer's
    ``deterministic = false`` (their ``paper`` presets set it)."""
    if x.is_cuda and torch.are_deterministic_algorithms_enabled():
        raise FactorbenchError(f"{model_name} cannot train on CUDA in deterministic mode: torch's grid_sample (the "
                               "spatial transformer) has no deterministic CUDA backward; train with deterministic = "
                               "false (the paper preset, or a benchmark's train table) or on the CPU")


def box_theta(center: torch.Tensor, half_size: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) affine map from patch coordinates to image coordinates for boxes with
    normalised ``center`` (B, 2) = (cx, cy) and ``half_size`` (B, 2) = (sx, sy)."""
    zero = torch.zeros_like(center[:, 0])
    row_x = torch.stack([half_size[:, 0], zero, center[:, 0]], dim=1)
    row_y = torch.stack([zero, half_size[:, 1], center[:, 1]], dim=1)
    return torch.stack([row_x, row_y], dim=1)


def inverse_box_theta(center: torch.Tensor, half_size: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) affine map from image coordinates to patch coordinates (the inverse of
    :func:`box_theta`); used to paste a patch back into the box."""
    return box_theta(-center / half_size, 1.0 / half_size)


def crop_patches(images: torch.Tensor, center: torch.Tensor, half_size: torch.Tensor,
                 patch_size: Tuple[int, int]) -> torch.Tensor:
    """The content of each image's box resampled (bilinear) to ``patch_size`` = (h, w):
    (B, C, h, w). Outside the image reads as zero."""
    b, c = images.shape[:2]
    grid = F.affine_grid(box_theta(center, half_size), [b, c, *patch_size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def paste_patches(patches: torch.Tensor, center: torch.Tensor, half_size: torch.Tensor,
                  image_size: Tuple[int, int]) -> torch.Tensor:
    """Each patch (B, C, h, w) resampled into its box on a zero canvas of ``image_size`` =
    (H, W): (B, C, H, W), zero outside the box."""
    b, c = patches.shape[:2]
    grid = F.affine_grid(inverse_box_theta(center, half_size), [b, c, *image_size], align_corners=False)
    return F.grid_sample(patches, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def boxes_to_pixels(center: torch.Tensor, half_size: torch.Tensor, image_size: Tuple[int, int]) -> torch.Tensor:
    """Normalised boxes -> pixel xyxy (..., 4) for an image of ``image_size`` = (H, W)."""
    h, w = image_size
    x0 = (center[..., 0] - half_size[..., 0] + 1) / 2 * w
    x1 = (center[..., 0] + half_size[..., 0] + 1) / 2 * w
    y0 = (center[..., 1] - half_size[..., 1] + 1) / 2 * h
    y1 = (center[..., 1] + half_size[..., 1] + 1) / 2 * h
    return torch.stack([x0, y0, x1, y1], dim=-1)


def pixels_to_boxes(boxes: torch.Tensor, image_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pixel xyxy (..., 4) -> (center, half_size) in normalised coordinates (the inverse of
    :func:`boxes_to_pixels`); e.g. to crop ground-truth boxes for the GT row of Table 6.2."""
    h, w = image_size
    scale = boxes.new_tensor([w, h])
    lo, hi = boxes[..., :2] / scale * 2 - 1, boxes[..., 2:] / scale * 2 - 1
    return (lo + hi) / 2, (hi - lo) / 2
