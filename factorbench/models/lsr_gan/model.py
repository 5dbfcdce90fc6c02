"""LSR-GAN: a GAN whose generator is tied to a frozen VAE encoder (thesis §3.2.1, eq. 3.3).

Two stages. Stage 1 trains a VAE (any backbone; §3.5 uses the ResNet one). Stage 2 freezes
it and trains a GAN: the discriminator as usual (eq. 3.2, DCGAN architecture), the
generator with the extra *latent space regulariser*

    L_G = −log D(G(z)) − λ · log q_φ(z | G(z)),   z ~ N(0, I)   (eq. 3.3)

where log q_φ(z | x) = Σ_d log N(z_d; μ_d(x), exp(logvar_d(x))) under the frozen encoder
(kept in eval mode: its BatchNorm uses the stage-1 statistics). The generator learns to
produce images that the encoder maps back to the z they came from. The gradient of the
term flows through the encoder into G; the encoder's own weights never change.

Stage 1 is loaded by :meth:`LSRGAN.init_from_pretrained`, which the trainer calls when a run
starts from a VAE checkpoint (``factorbench train lsr_gan --init-from <vae run>``, or a
benchmark's ``pretrain = { lsr_gan = "vae" }``). Training without it is an error.

For the metrics: ``encode`` is the VAE's encoder, ``decode`` the generator, and
``reconstruct(x) = G(μ(x))`` ("the generator of the LSR-GAN seeded with a latent vector
encoding of the input image", Fig 3.4).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch

from ...errors import FactorbenchError
from ..base import register_model
from ..discriminators import DCGANDiscriminator
from ..gan import GAN
from ..resnet import ResNetGenerator
from ..vae.config import VAEConfig
from ..vae.model import VAE
from .config import LSRGANConfig


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag(exp(logvar))) summed over dimensions, one value per row (nats)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=1)


@register_model("lsr_gan")
class LSRGAN(GAN):
    config_class = LSRGANConfig
    #: the model whose trained checkpoint is stage 1 (the trainer refuses to start without it)
    stage1_model = "vae"
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        "paper": {"epochs": 100, "batch_size": 64},
    }

    def __init__(self, config: LSRGANConfig, image_shape):
        super().__init__(config, image_shape)
        self.generator = ResNetGenerator(config.latent_dim, self.image_shape, config.base_channels)
        self.discriminator = DCGANDiscriminator(self.image_shape, config.base_channels)
        vae_config = VAEConfig(latent_dim=config.latent_dim, backbone=config.vae_backbone,
                               base_channels=config.vae_base_channels)
        self.vae = VAE(vae_config, self.image_shape).requires_grad_(False).eval()
        # 1 once stage 1 is loaded; saved with the weights, so a checkpoint knows
        self.register_buffer("stage1_loaded", torch.zeros((), dtype=torch.uint8))

    def train(self, mode: bool = True):
        super().train(mode)
        self.vae.eval()  # frozen stage 1: BatchNorm keeps the VAE's statistics
        return self

    def init_from_pretrained(self, source) -> None:
        """Load stage 1: the trained VAE ``source`` (its encoder is frozen; with
        ``init_generator`` its decoder also initialises the generator)."""
        if not isinstance(source, VAE):
            raise FactorbenchError(f"lsr_gan's stage 1 must be a vae, got a {getattr(source, 'name', type(source))}")
        mine, theirs = self.vae.config, source.config
        for key in ("latent_dim", "backbone", "base_channels"):
            if getattr(mine, key) != getattr(theirs, key):
                raise FactorbenchError(f"lsr_gan expects a VAE with {key} = {getattr(mine, key)!r}, the stage-1 VAE "
                                       f"has {getattr(theirs, key)!r} (set lsr_gan's latent_dim / vae_backbone / "
                                       f"vae_base_channels to match)")
        self.vae.load_state_dict(source.state_dict())
        if self.config.init_generator:
            self.generator.load_state_dict(source.decoder.state_dict())
        self.stage1_loaded.fill_(1)


    def extra_generator_losses(self, z: torch.Tensor, fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """λ · (−log q_φ(z | G(z))), mean over the batch (eq. 3.3)."""
        mu, logvar = self.vae.encode(fake)
        return {"lsr": self.config.lsr_lambda * (-gaussian_log_density(z, mu, logvar)).mean()}

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        if not bool(self.stage1_loaded):
            raise FactorbenchError("lsr_gan has no stage-1 VAE: train a vae first and start from it "
                                   "(factorbench train lsr_gan --init-from <vae checkpoint>)")
        return super().training_step(batch, phase)

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.vae.encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.vae.encode(x)
        return self.generator(mu)
