"""VAE / β-VAE with the empirical-variance Gaussian likelihood (thesis §1.1, eq. 1.3).

Loss per image, averaged over the batch (the thesis's batch sum divided by B):

- ``empirical`` (default): with N = B·D values in the batch (D = C·H·W) and
  σ̂² = Σ(x−x̂)²/N, the negative log-likelihood of the batch is (N/2)(log 2πσ̂² + 1); per
  image that is (D/2)(log 2πσ̂² + 1). Its gradient equals that of Σ(x−x̂)²/(2σ̂²), so the
  decoder is trained as if the noise variance were known and equal to the residual's.
- ``constant``: Σ(x−x̂)² per image (σ² = 1/2), the common choice the thesis warns about.

plus β · KL(q(z|x) || N(0, I)).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch

from ..base import GenerativeModel, register_model
from ..backbones import build_decoder, build_encoder
from ..distributions import MIN_VARIANCE, empirical_variance_nll, gaussian_kl, reparameterise, sum_squared_error
from .config import VAEConfig

@register_model("vae")
class VAE(GenerativeModel):
    config_class = VAEConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        # §5.4.1 trains BFVAE (whose VAEs are this network) for 100 epochs
        "paper": {"epochs": 100, "batch_size": 64},
    }

    def __init__(self, config: VAEConfig, image_shape):
        super().__init__(config, image_shape)
        self.encoder = build_encoder(config.backbone, self.image_shape, 2 * config.latent_dim, config.base_channels)
        self.decoder = build_decoder(config.backbone, config.latent_dim, self.image_shape, config.base_channels)

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        betas = (self.config.adam_beta1, self.config.adam_beta2)
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=betas)}

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: the deterministic reconstruction used by the metrics."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def sample(self, n: int, generator: torch.Generator = None) -> torch.Tensor:
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.decode(z)

    def reconstruction_nll(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if self.config.likelihood == "empirical":
            return empirical_variance_nll(x, x_hat)
        return sum_squared_error(x, x_hat)

    def dataset_nll(self, sse_per_image: torch.Tensor, values_per_image: int) -> torch.Tensor:
        """Per-image reconstruction NLL over a whole evaluation set, from each image's
        Σ(x−x̂)² (``sse_per_image``, shape (N,)) and its number of values D = C·H·W.

        The same likelihood as training, with the batch replaced by the set: ``empirical``
        uses σ̂² = ΣSSE/(N·D) over the set, giving (D/2)(log 2πσ̂² + 1) for every image;
        ``constant`` is the SSE itself. Used for the test ELBO of §4.4.2 (Fig 4.5).
        """
        if self.config.likelihood == "empirical":
            variance = (sse_per_image.sum() / (sse_per_image.numel() * values_per_image)).clamp_min(MIN_VARIANCE)
            per_image = 0.5 * values_per_image * (torch.log(2 * math.pi * variance) + 1.0)
            return per_image.expand_as(sse_per_image)
        return sse_per_image

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        x = batch["image"]
        mu, logvar = self.encode(x)
        z = reparameterise(mu, logvar)
        x_hat = self.decode(z)
        rec = self.reconstruction_nll(x, x_hat)
        kl = gaussian_kl(mu, logvar).mean()
        loss = rec + self.config.beta * kl
        return {"loss": loss, "rec": rec.detach(), "kl": kl.detach(), "mse": (x - x_hat).pow(2).mean().detach()}
