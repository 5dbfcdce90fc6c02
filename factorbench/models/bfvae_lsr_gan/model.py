"""Stage 3 of BFVAE + LSR-GAN: the generator (thesis §5.3.1, eq. 5.5; §5.4.2).

A GAN whose generator G maps z = [z_b, z_f] ~ N(0, I) to an image and is tied to the frozen
encoders of stage 2 (E_b of the BFVAE and the whole-image E'_f of ``bfvae_ef``)::

    L_G = −log D(G(z)) − λ · log q(z | E_b(G(z)), E'_f(G(z)))      (eq. 5.5)

with q the product of the two encoders' diagonal Gaussians (the log-density of z_b under
E_b's posterior plus that of z_f under E'_f's), the non-saturating BCE adversarial loss of
:mod:`..gan`, the SN-ResNet discriminator ("4 residual blocks with spectral norm") and a
ResNet generator like D_b, orthogonally initialised, or started from D_b
(``init_generator``). The encoders stay in eval mode; gradients reach G through them.

``new_training_scheme`` (§5.4.2, Fig 5.12): each batch's z is drawn as two halves, one
with a single z_f shared by its images (random z_b), the other with a single z_b (random
z_f). "Fixed" is read as fixed within the batch: a fresh shared code every iteration.

For the metrics the model is a two-code model (:mod:`..bfvae.two_codes`): E_b and E'_f
encode, G decodes — ``swap`` is Fig 5.11, ``background`` Fig 5.12, ``interpolate`` Fig 5.13;
``sample`` draws G(z) for the FID tables 5.3/5.4.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from ...errors import FactorbenchError
from ..base import register_model
from ..bfvae.two_codes import TwoCodeModel
from ..discriminators import SNResDiscriminator
from ..gan import GAN
from ..lsr_gan.model import gaussian_log_density
from ..resnet import ResNetGenerator
from .config import BFVAEImageEncoderConfig, BFVAELSRGANConfig
from .image_encoder import ARCHITECTURE, BFVAEImageEncoder, check_architecture
from .init import orthogonal_init_


@register_model("bfvae_lsr_gan")
class BFVAELSRGAN(TwoCodeModel, GAN):
    config_class = BFVAELSRGANConfig
    stage1_model = "bfvae_ef"
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 20, "batch_size": 64},
        "paper": {"epochs": 600, "batch_size": 64},  # §5.4.2: "train the LSR-GAN for 600 epochs"
    }

    def __init__(self, config: BFVAELSRGANConfig, image_shape):
        super().__init__(config, image_shape)
        self.generator = ResNetGenerator(config.latent_dim, self.image_shape, config.gan_base_channels)
        self.discriminator = SNResDiscriminator(self.image_shape, config.gan_base_channels)
        if config.orthogonal_init:
            orthogonal_init_(self.generator)
            orthogonal_init_(self.discriminator)
        ef_config = BFVAEImageEncoderConfig(**{k: getattr(config, k) for k in ARCHITECTURE})
        self.encoders = BFVAEImageEncoder(ef_config, self.image_shape).requires_grad_(False).eval()
        self.register_buffer("stage1_loaded", torch.zeros((), dtype=torch.uint8))

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoders.eval()  # frozen: BatchNorm keeps the trained statistics
        return self

    def init_from_pretrained(self, source) -> None:
        """Load stage 2, a trained ``bfvae_ef`` (with ``init_generator`` its D_b also starts G)."""
        if getattr(source, "name", None) != "bfvae_ef":
            raise FactorbenchError("bfvae_lsr_gan's stage 1 must be a bfvae_ef (the BFVAE with its whole-image "
                                   f"encoder E'_f), got a {getattr(source, 'name', type(source))}")
        check_architecture(self.name, self.config, source.config)
        if not bool(source.stage1_loaded):
            raise FactorbenchError("bfvae_lsr_gan: the bfvae_ef checkpoint was never started from a BFVAE")
        self.encoders.load_state_dict(source.state_dict())
        if self.config.init_generator:
            self.generator.load_state_dict(source.decoder_b.state_dict())
        self.stage1_loaded.fill_(1)

    # -- training ------------------------------------------------------------------------------
    def sample_latents(self, n: int, device) -> torch.Tensor:
        """z = [z_b, z_f] for one training batch (the new scheme's halves when enabled)."""
        zb = torch.randn(n, self.config.zb_dim, device=device)
        zf = torch.randn(n, self.config.zf_dim, device=device)
        if self.config.new_training_scheme and self.training:
            half = n // 2
            zf[:half] = zf[:1]  # first half: one z_f, random z_b
            zb[half:] = zb[half:half + 1]  # second half: one z_b, random z_f
        return torch.cat([zb, zf], dim=1)

    def extra_generator_losses(self, z: torch.Tensor, fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """λ · (−log q(z | E_b(G(z)), E'_f(G(z)))), mean over the batch (eq. 5.5)."""
        parts = self.encode_parts(fake)
        mu = torch.cat([parts["zb_mu"], parts["zf_mu"]], dim=1)
        logvar = torch.cat([parts["zb_logvar"], parts["zf_logvar"]], dim=1)
        return {"lsr": self.config.lsr_lambda * (-gaussian_log_density(z, mu, logvar)).mean()}

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        if not bool(self.stage1_loaded):
            raise FactorbenchError("bfvae_lsr_gan has no trained encoders: train bfvae, then bfvae_ef from it, and "
                                   "start from that (factorbench train bfvae_lsr_gan --init-from <bfvae_ef checkpoint>)")
        return super().training_step(batch, phase)

    # -- the two codes -------------------------------------------------------------------------
    def foreground_code(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                        labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) from E'_f on the whole image."""
        return self.encoders.foreground_code(x)

    def encode_background(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.encoders.encode_background(x)

    def blank_foreground_code(self) -> torch.Tensor:
        return self.encoders.blank_foreground_code()

    def decode_parts(self, z_b: torch.Tensor, z_f: torch.Tensor) -> torch.Tensor:
        """G(concat(z_b, z_f))."""
        return self.generator(torch.cat([z_b, z_f], dim=1))
