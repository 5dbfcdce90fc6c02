"""Orthogonal initialisation (Saxe et al. 2014), used by BFVAE + LSR-GAN (thesis §5.4.2)."""

from __future__ import annotations

from torch import nn


def orthogonal_init_(module: nn.Module) -> nn.Module:
    """Orthogonal weights for every conv and linear layer of ``module`` (spectral-normalised
    layers included: their underlying weight), zero biases; other layers unchanged."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            nn.init.orthogonal_(weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
