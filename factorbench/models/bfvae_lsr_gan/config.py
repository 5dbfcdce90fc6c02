"""Configurations of the two later stages of BFVAE + LSR-GAN (thesis §5.3.1, eq. 5.5; §5.4.2).

Stage 1 is a ``bfvae`` (models/bfvae). Stage 2, ``bfvae_ef``, trains the new whole-image
encoder E'_f; stage 3, ``bfvae_lsr_gan``, the generator. The architecture fields keep the
BFVAE's names (``zf_dim``, ``zb_dim``, ``backbone``, ``base_channels``, ``mask_channel``),
so one ``model = {...}`` table of a benchmark configures all three stages alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import FactorbenchError
from ..backbone_names import BACKBONE_NAMES
from ..bfvae.config import BFVAEConfig
from ..gan import check_gan_config


@dataclass
class BFVAEImageEncoderConfig(BFVAEConfig):
    """The BFVAE's own fields (its architecture must match the stage-1 checkpoint; ``beta_f``
    weighs E'_f's KL, ``likelihood`` both reconstruction terms) plus:"""

    #: "We apply orthogonal initialization to both LSR-GAN and the new Encoder E'_f" (§5.4.2)
    orthogonal_init: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attribute_mode:
            raise FactorbenchError("bfvae_ef: the whole-image encoder E'_f is for foreground/background "
                                   "BFVAEs (§5.3.1); attribute_mode is not supported")


@dataclass
class BFVAELSRGANConfig:
    #: sizes of z_b and z_f; z = [z_b, z_f] has zb_dim + zf_dim values (must match stage 1)
    zf_dim: int = 32
    zb_dim: int = 32
    #: the BFVAE's architecture (checked when stage 2 is loaded): its ``backbone``,
    #: ``base_channels`` and ``mask_channel``
    backbone: str = "resnet"
    base_channels: int = 64
    mask_channel: bool = True
    #: width of the generator (a ResNet like D_b, §5.4.2) and of the SN-ResNet discriminator
    gan_base_channels: int = 64
    #: λ of eq. 5.5: weight of −log q(z | E_b(G(z)), E'_f(G(z)))
    lsr_lambda: float = 1.0
    #: start G from the trained D_b ("the generator G can either be a new network or a
    #: pre-trained decoder of BFVAE", §5.3.1); needs backbone "resnet" and
    #: gan_base_channels == base_channels
    init_generator: bool = False
    #: §5.4.2's "new training scheme": half of every batch shares one z_f (random z_b), the
    #: other half one z_b (random z_f); cleaner pure backgrounds, worse FID, less stable
    new_training_scheme: bool = False
    #: orthogonal initialisation of G and D (§5.4.2)
    orthogonal_init: bool = True
    #: Adam: lr 2e-4, β1 0.5, β2 0.999 (§5.4.2)
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    @property
    def latent_dim(self) -> int:
        return self.zb_dim + self.zf_dim

    def __post_init__(self) -> None:
        if self.zf_dim <= 0 or self.zb_dim <= 0 or self.base_channels <= 0 or self.gan_base_channels <= 0:
            raise FactorbenchError("bfvae_lsr_gan: zf_dim, zb_dim, base_channels and gan_base_channels must be positive")
        check_gan_config("bfvae_lsr_gan", self)
        if self.lsr_lambda < 0:
            raise FactorbenchError("bfvae_lsr_gan: lsr_lambda must be non-negative")
        if self.backbone not in BACKBONE_NAMES:
            raise FactorbenchError(f"bfvae_lsr_gan: backbone must be one of {', '.join(BACKBONE_NAMES)}, "
                                   f"got {self.backbone!r}")
        if self.init_generator and (self.backbone != "resnet" or self.gan_base_channels != self.base_channels):
            raise FactorbenchError("bfvae_lsr_gan: init_generator needs backbone = 'resnet' and gan_base_channels = "
                                   "base_channels (D_b must have the generator's shape)")
