"""ResNet encoder and generator of the VAE and LSR-GAN (thesis §3.5, Fig 3.8; §5.4.2).

"The encoder and decoder/generator are based on ResNet" (He et al., 2016): residual blocks
that halve the side with 2x2 average pooling in the encoder and double it with nearest
upsampling in the generator, plus one fully connected layer between the 4x4 feature map
and the latent ("one extra linear layer at the end of the encoder and the beginning of the
decoder", §5.4.2; "the additional fully connected layer at the beginning of the generator
... transforms z into feature maps", §3.5).

Image sides must be 4·2^k with k >= 1 (8, 16, 32, 64, 128, ...): k blocks between the image
and the 4x4 map; channels double per block from ``base_channels``, capped at 8·base.
``ResNetGenerator`` is both the VAE's ResNet decoder and the generator of SNGAN / LSR-GAN,
so a generator can start from a VAE decoder with
``generator.load_state_dict(vae.decoder.state_dict())`` when latent_dim, base_channels and
image_shape agree.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FactorbenchError
from .blocks import convert_hint

BOTTOM_SIDE = 4  # side of the feature map next to the fully connected layer


def pyramid_depth(image_shape: Sequence[int], what: str = "ResNet backbone") -> int:
    """k for a square image of side 4·2^k (k >= 1); a clear error otherwise."""
    _, h, w = image_shape
    side, k = h, 0
    while side > BOTTOM_SIDE and side % 2 == 0:
        side, k = side // 2, k + 1
    if h != w or side != BOTTOM_SIDE or k < 1:
        fits = 2 * BOTTOM_SIDE
        while fits < max(h, w):
            fits *= 2
        raise FactorbenchError(
            f"{what} needs square images whose side is 4·2^k (8, 16, 32, 64, 128, ...), got {h}x{w}; "
            f"{convert_hint(fits)}"
        )
    return k


def stage_channels(depth: int, base_channels: int) -> List[int]:
    """Channels after each of ``depth`` downsampling stages: base·2^i capped at 8·base."""
    return [base_channels * min(2**i, 8) for i in range(depth)]


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=False)  # followed by batch norm


def residual_paths(cin: int, cout: int):
    """The two paths of a residual block: conv3x3-BN-ReLU-conv3x3-BN and a 1x1 conv shortcut."""
    body = nn.Sequential(conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(), conv3x3(cout, cout), nn.BatchNorm2d(cout))
    return body, nn.Conv2d(cin, cout, 1, bias=False)


class ResBlockDown(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a 1x1 conv shortcut, 2x2 average pooling, ReLU.

    Pooling is applied once to the sum, which equals pooling both paths (average pooling is
    linear); the ReLU comes after the pooled sum, as in He et al.'s post-activation block.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body, self.shortcut = residual_paths(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.avg_pool2d(self.body(x) + self.shortcut(x), 2))


class ResBlockUp(nn.Module):
    """Nearest 2x upsampling, then conv3x3-BN-ReLU-conv3x3-BN plus a 1x1 conv shortcut of the
    upsampled input, ReLU after the sum (the mirror of :class:`ResBlockDown`)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body, self.shortcut = residual_paths(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.body(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """x (B,C,H,W) -> (B, out_features): k :class:`ResBlockDown` to 4x4, flatten, one FC."""

    def __init__(self, image_shape: Sequence[int], out_features: int, base_channels: int = 64):
        super().__init__()
        depth = pyramid_depth(image_shape)
        chans = [int(image_shape[0])] + stage_channels(depth, base_channels)
        self.blocks = nn.Sequential(*[ResBlockDown(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.fc = nn.Linear(chans[-1] * BOTTOM_SIDE * BOTTOM_SIDE, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(x).flatten(1))


class ResNetGenerator(nn.Module):
    """z (B, latent) -> image (B,C,H,W) in [0,1]: FC to a 4x4 map (BN, ReLU), k
    :class:`ResBlockUp` to the image side, BN-ReLU-conv3x3 to C channels, Sigmoid.

    Channels mirror :class:`ResNetEncoder` (4x4 map with the encoder's deepest width, halving
    on the way up, ``base_channels`` at full resolution).
    """

    def __init__(self, latent_dim: int, image_shape: Sequence[int], base_channels: int = 64):
        super().__init__()
        depth = pyramid_depth(image_shape)
        chans = stage_channels(depth, base_channels)[::-1] + [base_channels]
        self.top = chans[0]
        self.fc = nn.Linear(latent_dim, self.top * BOTTOM_SIDE * BOTTOM_SIDE)
        self.stem = nn.Sequential(nn.BatchNorm2d(self.top), nn.ReLU())
        self.blocks = nn.Sequential(*[ResBlockUp(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.out = nn.Sequential(nn.BatchNorm2d(base_channels), nn.ReLU(),
                                 nn.Conv2d(base_channels, int(image_shape[0]), 3, 1, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.top, BOTTOM_SIDE, BOTTOM_SIDE)
        return self.out(self.blocks(self.stem(h)))
