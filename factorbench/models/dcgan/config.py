"""Configuration of the DCGAN baseline (thesis §3.5.3; Radford et al., 2015; docs/protocols.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..gan import check_gan_config


@dataclass
class DCGANConfig:
    #: size of z ~ N(0, I); 100 as in Radford et al. (2015)
    latent_dim: int = 100
    #: channels of the generator's last / discriminator's first stage (×2 per stage, max 8×)
    base_channels: int = 64
    #: Adam as in Radford et al. and throughout the thesis: lr 2e-4, β1 0.5
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        check_gan_config("dcgan", self)

