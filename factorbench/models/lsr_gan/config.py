"""Configuration of LSR-GAN (thesis §3.2.1, eq. 3.3; §3.5; docs/protocols.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import FactorbenchError
from ..backbone_names import BACKBONE_NAMES
from ...config import check_at_least_one
from ..gan import check_gan_config


@dataclass
class LSRGANConfig:
    #: size of z; must equal the stage-1 VAE's latent_dim
    latent_dim: int = 128
    #: width of the ResNet generator and of the DCGAN discriminator (§3.5)
    base_channels: int = 64
    #: λ of eq. 3.3: weight of −log q_φ(z | G(z)) in the generator loss
    lsr_lambda: float = 1.0
    #: the stage-1 VAE's architecture (checked when its weights are loaded)
    vae_backbone: str = "resnet"
    vae_base_channels: int = 64
    #: start the generator from the VAE decoder (needs vae_backbone "resnet" and
    #: vae_base_channels == base_channels: the decoder is then a ResNetGenerator too)
    init_generator: bool = False
    #: Adam settings used throughout the thesis: lr 2e-4, β1 0.5, β2 0.999
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        check_gan_config("lsr_gan", self)
        check_at_least_one("lsr_gan", self, "vae_base_channels")
        if self.lsr_lambda < 0:
            raise FactorbenchError("lsr_gan: lsr_lambda must be non-negative")
        if self.vae_backbone not in BACKBONE_NAMES:
            raise FactorbenchError(f"lsr_gan: vae_backbone must be one of {', '.join(BACKBONE_NAMES)}, "
                                   f"got {self.vae_backbone!r}")
        if self.init_generator and (self.vae_backbone != "resnet" or self.vae_base_channels != self.base_channels):
            raise FactorbenchError("lsr_gan: init_generator needs vae_backbone = 'resnet' and "
                                   "vae_base_channels = base_channels (the decoder must be the generator's shape)")
