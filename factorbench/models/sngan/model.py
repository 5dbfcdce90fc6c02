"""SNGAN baseline (thesis §5.4.2, Tables 5.3-5.4, Fig 5.10; Miyato et al., 2018; docs/protocols.md §3).

"For a fair comparison, we use the same architecture of our LSR-GAN to train a SNGAN":
the ResNet generator of LSR-GAN (:class:`~factorbench.models.resnet.ResNetGenerator`),
the residual discriminator with spectral norm
(:class:`~factorbench.models.discriminators.SNResDiscriminator`) and the hinge loss.
"""

from __future__ import annotations

import torch

from ..base import register_model
from ..discriminators import SNResDiscriminator
from ..gan import GAN, hinge_discriminator_loss, hinge_generator_loss
from ..resnet import ResNetGenerator
from .config import SNGANConfig


@register_model("sngan")
class SNGAN(GAN):
    config_class = SNGANConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        # §5.4.2 trains LSR-GAN, whose architecture this SNGAN shares, for 600 epochs
        "paper": {"epochs": 600, "batch_size": 64},
    }

    def __init__(self, config: SNGANConfig, image_shape):
        super().__init__(config, image_shape)
        self.generator = ResNetGenerator(config.latent_dim, self.image_shape, config.base_channels)
        self.discriminator = SNResDiscriminator(self.image_shape, config.base_channels)

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return hinge_discriminator_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return hinge_generator_loss(fake_logits)
