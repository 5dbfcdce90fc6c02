"""The canvas the glimpses write on (thesis §6.2.1, §6.2.3, §6.4.4): the lossy image
x̂(0) = up(down(x)), the 8x8 bottleneck of §6.2.1 (Fig 6.2) that §6.4.4 names as the first
input, and compositing a decoded patch back into its box, x̂(t+1) = (1 − m(t))⊙x̂(t) +
m(t)⊙ε̂(t) (§6.2.3). Shared by SAID (:mod:`.model`) and the error-map network of §6.2.2
(:mod:`.error_map`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..objects import paste_patches


def downsample(x: torch.Tensor, side: int) -> torch.Tensor:
    """x resized to side x side, bilinear with antialiasing (the 8x8 bottleneck of §6.2.1)."""
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def upsample(small: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(small, size=tuple(size), mode="bilinear", align_corners=False)


def lossy_image(x: torch.Tensor, side: int) -> torch.Tensor:
    """x down-sampled to side x side and bilinearly up-sampled back (§6.2.1 Fig 6.2, §6.4.4)."""
    return upsample(downsample(x, side), x.shape[-2:])


def write_back(canvas: torch.Tensor, patch: torch.Tensor, alpha: Optional[torch.Tensor], center: torch.Tensor,
               half_size: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Composite a decoded patch into its box (§6.2.3): (x̂(t+1), box mask m_box).

    x̂(t+1) = (1 − m)⊙x̂(t) + m⊙ε̂ with m = paste(alpha) (or the box mask when ``alpha`` is
    None); the colour is pasted premultiplied, paste(alpha⊙ε̂), so the half-pixel
    anti-aliased border of the box blends consistently. Outside the box (beyond that
    border) m = 0 and x̂ is unchanged. One resampling for all channels.
    """
    ones = torch.ones_like(patch[:, :1])
    if alpha is None:
        stack = torch.cat([patch, ones], dim=1)
    else:
        stack = torch.cat([alpha * patch, alpha, ones], dim=1)
    pasted = paste_patches(stack, center, half_size, tuple(canvas.shape[-2:]))
    c = patch.shape[1]
    colour, box = pasted[:, :c], pasted[:, -1:]
    mask = box if alpha is None else pasted[:, c:c + 1]
    return (1 - mask) * canvas + colour, box
