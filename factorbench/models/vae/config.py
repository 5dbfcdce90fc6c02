"""Configuration of the VAE / β-VAE (thesis §1.1, §3.2.2; docs/protocols.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import check_adam, check_at_least_one
from ...errors import FactorbenchError
from ..backbone_names import BACKBONE_NAMES

LIKELIHOODS = ("empirical", "constant")


@dataclass
class VAEConfig:
    #: size of the latent code z (32 for the toy set of §5.4.1)
    latent_dim: int = 32
    #: weight of the KL term (eq. 1.3); 1 is the plain VAE
    beta: float = 1.0
    #: "empirical": Gaussian likelihood with the empirical variance of the batch residuals,
    #: minimise (N/2)·log σ̂² (§1.1, the default); "constant": sum of squared errors, i.e. a
    #: fixed σ² = 1/2, "a β-VAE with unknown β"
    likelihood: str = "empirical"
    #: encoder/decoder: "conv" is §5.4.1 (encoder 4 conv + BN + 2 FC, decoder 5 conv);
    #: "conv3" is §4.4's transfer-learning VAE (encoder 3 conv + BN + 2 FC, decoder 4 conv);
    #: "resnet" is §3.5's (Fig 3.8): residual blocks with average-pool down / nearest-upsample
    #: up and one FC layer to/from the latent, the decoder being LSR-GAN's generator
    backbone: str = "conv"
    base_channels: int = 32
    #: Adam settings used throughout the thesis: lr 2e-4, β1 0.5, β2 0.999
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise FactorbenchError(f"vae: likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.backbone not in BACKBONE_NAMES:
            raise FactorbenchError(f"vae: backbone must be one of {', '.join(BACKBONE_NAMES)}, got {self.backbone!r}")
        if self.latent_dim <= 0 or self.beta < 0:
            raise FactorbenchError("vae: latent_dim must be positive and beta non-negative")
        check_at_least_one("vae", self, "base_channels")
        check_adam("vae", self)
