"""The simple object-discovery network of §6.2.2 ("Object Discovery Based on Error Maps").

No VAE: K iterations of the glimpse network (3 conv + 2 FC) of :mod:`.networks`. Iteration
i reads the error map |x − x'_i|, where x'_0 is x down-sampled to 8x8 and bilinearly
up-sampled back; it proposes a box from z_where_i, whose content is cropped and
down-sampled to 8x8 and up-sampled back into the box by the spatial transformer ("this
ensures the glimpse to be lossy"), and stitched onto x'_i with the box mask to give
x'_{i+1}. Loss of iteration i: L_i = ||x − x'_{i+1}||² (per image, summed over values),
learned after every iteration ("The network is updated for each iteration"), as SAID's
phases (:class:`~.model.GlimpseModel`).

Choices where §6.2.2 is silent or terse:

- "z_where ~ N(μ^where, σ^where), where the Normal parameters are hyper-parameters" is
  read as SAID's: a reparameterised posterior over the box code with that Normal as its
  prior, regularised by ``pos_weight``·KL(q || prior) beside the squared error (SAID's
  L_pos, eq. 6.4). ``pos_weight = 0`` is the bare squared error of §6.2.2.
- The box is squashed as SAID's (inside the image, half-size in (min, max)).
- ``glimpse`` returns the boxes with scores K − i, empty latents (B,K,0) and every glimpse
  kept: there is no code to pay for, so no stop rule.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch

from ..base import register_model
from ..objects import crop_patches
from .config import ErrorMapConfig
from .canvas import lossy_image, write_back
from .model import GlimpseModel, GlimpseState, GlimpseStep


@register_model("error_map")
class ErrorMapNetwork(GlimpseModel):
    config_class = ErrorMapConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        # the thesis trains its Chapter 6 models for 200 epochs (§6.4); GPU: see model.py
        "paper": {"epochs": 200, "batch_size": 64, "deterministic": False},
    }

    def __init__(self, config: ErrorMapConfig, image_shape):
        super().__init__(config, image_shape, extra_input_channels=0)

    def initial_state(self, x: torch.Tensor, sample: bool) -> Tuple[GlimpseState, Dict[str, torch.Tensor]]:
        return GlimpseState(lossy_image(x, self.config.patch_size)), {}

    def glimpse_input(self, x: torch.Tensor, state: GlimpseState) -> torch.Tensor:
        return (x - state.recon).abs()  # "the error of the absolute value" (§6.2.2)

    def step(self, x: torch.Tensor, state: GlimpseState, sample: bool) -> GlimpseStep:
        z_where, where_mu, where_logvar = self.where(x, state, sample)
        center, half = self.box(z_where)
        side = self.config.patch_size
        patch = crop_patches(x, center, half, (side, side))  # the lossy glimpse, down-sampled ...
        recon, _ = write_back(state.recon, patch, None, center, half)  # ... and stitched back up-sampled
        squared = (x - recon).pow(2).flatten(1).sum(dim=1).mean()  # L_i = ||x − x'_{i+1}||²
        pos = self.where_kl(where_mu, where_logvar).mean()
        losses = {"loss": squared + self.config.pos_weight * pos, "sq_error": squared, "pos": pos}
        empty = x.new_zeros(x.shape[0], 0)
        return GlimpseStep(center, half, patch, empty, GlimpseState(recon), losses)
