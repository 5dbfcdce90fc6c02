"""Configuration of BFVAE (thesis §5.3, eq. 5.3; §5.4.1; §5.4.3; docs/protocols.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import check_adam
from ...errors import FactorbenchError
from ..backbone_names import BACKBONE_NAMES
from ..vae.config import LIKELIHOODS


@dataclass
class BFVAEConfig:
    #: size of z_f (VAE-F's code) and of z_b (VAE-B's code); both 32 on the toy set (§5.4.1)
    zf_dim: int = 32
    zb_dim: int = 32
    #: β of eq. 5.3, on KL(q(z_b|x)) only: 1 on the toy set, 5 on CLEVR/COCO (§5.4.1)
    beta: float = 1.0
    #: weight of VAE-F's KL(q(z_f|f)). §5.3 calls VAE-F "a vanilla VAE" (weight 1, the
    #: default); §5.4.2 found "the same β for VAE-B and VAE-F" better before LSR-GAN, which
    #: is this knob set equal to ``beta``
    beta_f: float = 1.0
    #: reconstruction likelihood of both decoders, as the VAE's (models/vae):
    #: "empirical" (default, §1.1) or "constant" (sum of squared errors)
    likelihood: str = "empirical"
    #: encoders/decoders: "conv" is §5.4.1's (encoder 4 conv + BN + 2 FC, decoder 5 conv),
    #: "conv3" the 3-stage variant (models/blocks.py ``depth``), "resnet" §5.4.2's for
    #: BFVAE + LSR-GAN ("4 residual blocks in both encoder and decoder ... one extra linear
    #: layer" at 64x64; models/resnet.py)
    backbone: str = "conv"
    base_channels: int = 32
    #: append the mask m as a 4th input channel of E_f (§5.3, §5.4.1 "black objects"): a
    #: black object on a black background has f = x⊙m = 0 whatever its shape; only the mask
    #: channel lets E_f see the shape
    mask_channel: bool = True
    #: §5.4.3 "substitute attribute for foreground": f is a fixed exemplar image per class of
    #: label ``attribute_label`` (``attribute_classes`` classes, values 0..K-1) instead of x⊙m
    attribute_mode: bool = False
    attribute_label: str = ""
    attribute_classes: int = 0
    #: Adam settings of §5.4.1: lr 2e-4, β1 0.5, β2 0.999
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise FactorbenchError(f"bfvae: likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.backbone not in BACKBONE_NAMES:
            raise FactorbenchError(f"bfvae: backbone must be one of {', '.join(BACKBONE_NAMES)}, got {self.backbone!r}")
        if self.zf_dim <= 0 or self.zb_dim <= 0 or self.base_channels <= 0:
            raise FactorbenchError("bfvae: zf_dim, zb_dim and base_channels must be positive")
        if self.beta < 0 or self.beta_f < 0:
            raise FactorbenchError("bfvae: beta and beta_f must be non-negative")
        check_adam("bfvae", self)
        if self.attribute_mode and (not self.attribute_label or self.attribute_classes < 2):
            raise FactorbenchError("bfvae: attribute_mode needs attribute_label (a label name) and "
                                   "attribute_classes (its number of classes, at least 2)")
