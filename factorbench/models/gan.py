"""Shared GAN machinery (thesis §3.2.1, eq. 3.2; DCGAN, SNGAN, LSR-GAN; docs/protocols.md §3).

Two phases per batch, "trained in the usual tick-tock fashion": the discriminator on real
images and detached fakes, then the generator on fresh fakes of the same z. Subclasses set
``generator`` and ``discriminator`` and choose the losses; LSR-GAN adds its latent term
(eq. 3.3) through :meth:`GAN.extra_generator_losses`.

Losses work on logits (D's output before any sigmoid). Eq. 3.2 is written as the quantity
D maximises; :func:`bce_discriminator_loss` is its negation, the binary cross-entropy that
is minimised. The generator uses the non-saturating −log D(G(z)) of Goodfellow et al.
(2014) rather than log(1 − D(G(z))). SNGAN uses the hinge loss (Miyato et al., 2018).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_adam
from ..errors import FactorbenchError
from .base import GenerativeModel, Phase


def bce_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−mean log D(x) − mean log(1 − D(G(z))), with D = sigmoid(logit)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def bce_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss −mean log D(G(z))."""
    return F.softplus(-fake_logits).mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean relu(1 − D(x)) + mean relu(1 + D(G(z)))."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """−mean D(G(z))."""
    return -fake_logits.mean()


def check_gan_config(name: str, config: Any) -> None:
    """Validation shared by the GAN configs (``latent_dim``, ``base_channels``, Adam)."""
    if config.latent_dim <= 0 or config.base_channels <= 0:
        raise FactorbenchError(f"{name}: latent_dim and base_channels must be positive")
    check_adam(name, config)


@contextmanager
def frozen(module: nn.Module):
    """Build the graph without gradients for ``module``'s parameters (they are not stepped)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """Subclasses build ``self.generator`` (z -> image in [0,1]) and ``self.discriminator``
    (image -> logits (B,)) and implement the two losses. ``config`` needs ``latent_dim``,
    ``lr``, ``adam_beta1``, ``adam_beta2``."""

    generator: nn.Module
    discriminator: nn.Module

    def phases(self) -> List[Phase]:
        return [Phase("discriminator", "d"), Phase("generator", "g")]

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.lr, (self.config.adam_beta1, self.config.adam_beta2)
        return {"d": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas),
                "g": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas)}

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Eq. 3.2 as a binary cross-entropy (DCGAN, LSR-GAN); SNGAN overrides with the hinge."""
        return bce_discriminator_loss(real_logits, fake_logits)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return bce_generator_loss(fake_logits)

    def sample_latents(self, n: int, device) -> torch.Tensor:
        """The z of one training batch: N(0, I) (BFVAE + LSR-GAN's "new training scheme"
        overrides it)."""
        return torch.randn(n, self.config.latent_dim, device=device)

    def extra_generator_losses(self, z: torch.Tensor, fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Extra generator terms (name -> scalar), added to the loss; LSR-GAN's latent term."""
        return {}

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        x = batch["image"]
        z = self.sample_latents(x.shape[0], x.device)
        if phase == "discriminator":
            with torch.no_grad():  # same as G(z).detach(): no gradient reaches the generator
                fake = self.generator(z)
            real_logits, fake_logits = self.discriminator(x), self.discriminator(fake)
            loss = self.discriminator_loss(real_logits, fake_logits)
            return {"loss": loss, "d_real": real_logits.mean().detach(), "d_fake": fake_logits.mean().detach()}
        if phase != "generator":
            raise ValueError(f"unknown GAN phase {phase!r}")
        fake = self.generator(z)
        with frozen(self.discriminator):
            fake_logits = self.discriminator(fake)
        adv = self.generator_loss(fake_logits)
        extra = self.extra_generator_losses(z, fake)
        loss = adv + sum(extra.values())
        parts = {"g_adv": adv.detach(), "d_fake": fake_logits.mean().detach()}
        return {"loss": loss, **parts, **{k: v.detach() for k, v in extra.items()}}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def sample(self, n: int, generator: torch.Generator = None) -> torch.Tensor:
        """G(z) for z ~ N(0, I) drawn with ``generator`` on the model's device (as the VAE does,
        so one generator serves every model in a metric)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.generator(z)
