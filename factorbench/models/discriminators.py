"""GAN discriminators: image (B,C,H,W) in [0,1] -> one logit per image, shape (B,).

- :class:`DCGANDiscriminator`: the discriminator of LSR-GAN ("the same as the one used in
  DCGAN", thesis §3.2.1, §3.5) and of the DCGAN baseline (§3.5.3), following the rules of
  Radford et al. (2015): strided 4x4 convolutions instead of pooling, batch norm on every
  layer but the first, LeakyReLU(0.2), no fully connected hidden layers; a final 4x4 conv
  on the 4x4 map gives the logit.
- :class:`SNResDiscriminator`: the SNGAN discriminator (Miyato et al., 2018) of §5.4.2
  ("the discriminator consists of 4 residual blocks with spectral norm" at 64x64):
  residual blocks with spectral-normalised convolutions, ReLU, 2x2 average pooling down to
  4x4, ReLU, global sum pooling and a spectral-normalised linear layer.

Both take square images of side 4·2^k (k >= 1) and double the channels per stage from
``base_channels``, capped at 8·base.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .resnet import pyramid_depth, stage_channels


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], base_channels: int = 64):
        super().__init__()
        depth = pyramid_depth(image_shape, "DCGAN discriminator")
        chans = [int(image_shape[0])] + stage_channels(depth, base_channels)
        layers = []
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=i == 0))
            if i > 0:  # Radford et al.: no batch norm on the discriminator's input layer
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(chans[-1], 1, 4, 1, 0))  # 4x4 -> 1x1 logit
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class SNResBlock(nn.Module):
    """SNGAN discriminator block, halving the side.

    ``first``: the "optimised" input block, conv-ReLU-conv-pool with shortcut pool-conv1x1;
    otherwise the pre-activation block ReLU-conv-ReLU-conv-pool with shortcut conv1x1-pool.
    """

    def __init__(self, cin: int, cout: int, first: bool = False):
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, 1, 1))
        self.shortcut = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        skip = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        return h + skip


class SNResDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], base_channels: int = 64):
        super().__init__()
        depth = pyramid_depth(image_shape, "SNGAN discriminator")
        chans = [int(image_shape[0])] + stage_channels(depth, base_channels)
        self.blocks = nn.Sequential(*[SNResBlock(a, b, first=i == 0) for i, (a, b) in enumerate(zip(chans[:-1], chans[1:]))])
        self.linear = spectral_norm(nn.Linear(chans[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.linear(h).flatten()
