"""Configuration of the SNGAN baseline (thesis §5.4.2; Miyato et al., 2018; docs/protocols.md §3).

§5.4.2: "we use the same architecture of our LSR-GAN to train a SNGAN", i.e. the ResNet
generator of LSR-GAN and a discriminator of residual blocks with spectral norm.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..gan import check_gan_config


@dataclass
class SNGANConfig:
    #: size of z ~ N(0, I); 128 as in Miyato et al. (2018)
    latent_dim: int = 128
    #: channels at full resolution (×2 per stage, max 8×), generator and discriminator
    base_channels: int = 64
    #: Adam settings used throughout the thesis (§5.4.2: β1 0.5, β2 0.999)
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        check_gan_config("sngan", self)
