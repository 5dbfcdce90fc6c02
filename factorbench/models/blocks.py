"""Shared layers: the small convolutional encoders/decoders of the thesis.

With ``depth`` stride-2 stages (channels c, 2c, ... doubling):

- encoder: ``depth`` conv layers (kernel 4, stride 2) with batch norm, then 2 fully
  connected layers;
- decoder: 1 fully connected layer to a (c·2^(depth−1), s, s) map, ``depth`` transposed
  convs (kernel 4, stride 2) with batch norm, and a final 3x3 conv.

``depth=4`` is §5.4.1's network (encoder 4 conv + BN + 2 FC, decoder 5 conv); ``depth=3``
is §4.4's (encoder 3 conv + BN + 2 FC, decoder 4 conv). Image sides must be multiples of
2^depth (e.g. 64 -> 4x4 at depth 4, 8x8 at depth 3).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import FactorbenchError


def convert_hint(side: int) -> str:
    """How to bring a dataset to image side ``side`` (resize, :mod:`factorbench.data.convert`)."""
    return (f"convert the images first: `factorbench train ... --image-size {side}`, image_shape = [C, {side}, {side}] "
            f"in a benchmark's dataset, or TrainRun(..., image_shape=(C, {side}, {side}))")


def bottleneck_side(image_size: int, downsamplings: int = 4) -> int:
    factor = 2**downsamplings
    if image_size % factor:
        fits = -(-image_size // factor) * factor
        raise FactorbenchError(f"image side {image_size} is not a multiple of {factor}, required by the conv backbone; "
                               f"{convert_hint(fits)}")
    return image_size // factor


class ConvEncoder(nn.Module):
    """x (B,C,H,W) -> features (B, out_features); ``depth`` conv+BN layers and 2 FC layers."""

    def __init__(self, image_shape: Sequence[int], out_features: int, base_channels: int = 32, hidden: int = 256,
                 depth: int = 4):
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise FactorbenchError(f"conv backbone expects square images, got {h}x{w}")
        side = bottleneck_side(h, depth)
        chans = [c] + [base_channels * 2**i for i in range(depth)]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(chans[-1] * side * side, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_features)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x))


class ConvDecoder(nn.Module):
    """z (B, latent) -> image (B,C,H,W) in [0,1]; FC, ``depth`` transposed conv+BN, final conv."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], base_channels: int = 32, depth: int = 4):
        super().__init__()
        c, h, _ = image_shape
        self.side = bottleneck_side(h, depth)
        self.top = base_channels * 2 ** (depth - 1)
        self.fc = nn.Sequential(nn.Linear(latent_dim, self.top * self.side * self.side), nn.ReLU())
        chans = [base_channels * 2 ** (depth - 1 - i) for i in range(depth)] + [base_channels]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.Conv2d(base_channels, c, 3, 1, 1), nn.Sigmoid()]
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.fc(z).view(-1, self.top, self.side, self.side))
