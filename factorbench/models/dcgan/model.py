"""DCGAN baseline (thesis §3.5.3, Figs 3.11-3.12; Radford et al., 2015; docs/protocols.md §3).

Generator: z is projected by a 4x4 transposed convolution to a 4x4 map, then 4x4 stride-2
transposed convolutions with batch norm and ReLU double the side up to the image. Radford
et al. end with tanh for images in [-1, 1]; factorbench images are in [0, 1], so the last
layer is a sigmoid, and sigmoid(2a) = (tanh(a) + 1)/2: the same network up to the affine
map x -> 2x − 1 of its output and a rescaling of the last layer's weights.
Discriminator: :class:`~factorbench.models.discriminators.DCGANDiscriminator`. Loss: binary
cross-entropy, non-saturating for the generator.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..base import register_model
from ..discriminators import DCGANDiscriminator
from ..gan import GAN
from ..resnet import pyramid_depth, stage_channels
from .config import DCGANConfig


class DCGANGenerator(nn.Module):
    """z (B, latent) -> image (B,C,H,W) in [0,1]; mirrors :class:`DCGANDiscriminator`."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], base_channels: int = 64):
        super().__init__()
        depth = pyramid_depth(image_shape, "DCGAN generator")
        chans = stage_channels(depth, base_channels)[::-1]
        layers = [nn.ConvTranspose2d(latent_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU()]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.ConvTranspose2d(chans[-1], int(image_shape[0]), 4, 2, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


@register_model("dcgan")
class DCGAN(GAN):
    config_class = DCGANConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        # the thesis gives no DCGAN schedule; batch 128 is Radford et al.'s
        "paper": {"epochs": 100, "batch_size": 128},
    }

    def __init__(self, config: DCGANConfig, image_shape):
        super().__init__(config, image_shape)
        self.generator = DCGANGenerator(config.latent_dim, self.image_shape, config.base_channels)
        self.discriminator = DCGANDiscriminator(self.image_shape, config.base_channels)

