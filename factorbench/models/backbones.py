"""Encoder/decoder pairs by backbone name, shared by the VAE and BFVAE (docs/protocols.md §3).

- ``conv`` / ``conv3``: the small conv networks of :mod:`.blocks` (§5.4.1; §4.4), 4 or 3
  stride-2 stages;
- ``resnet``: the residual networks of :mod:`.resnet` (§3.5, Fig 3.8; §5.4.2 "4 residual
  blocks in both encoder and decoder ... one extra linear layer" at 64x64).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .backbone_names import BACKBONES, RESNET
from .blocks import ConvDecoder, ConvEncoder
from .resnet import ResNetEncoder, ResNetGenerator


def build_encoder(backbone: str, image_shape: Sequence[int], out_features: int, base_channels: int) -> nn.Module:
    """x (B,C,H,W) -> (B, out_features)."""
    if backbone == RESNET:
        return ResNetEncoder(image_shape, out_features, base_channels)
    return ConvEncoder(image_shape, out_features, base_channels, depth=BACKBONES[backbone])


def build_decoder(backbone: str, latent_dim: int, image_shape: Sequence[int], base_channels: int) -> nn.Module:
    """z (B, latent_dim) -> image (B,C,H,W) in [0,1]."""
    if backbone == RESNET:
        return ResNetGenerator(latent_dim, image_shape, base_channels)
    return ConvDecoder(latent_dim, image_shape, base_channels, depth=BACKBONES[backbone])
