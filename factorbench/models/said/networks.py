"""SAID's networks (thesis §6.2.3, "Model Architecture and Training"): the glimpsing
network (3 conv + 2 FC) that gives q(z_where) over the 4-d box code, and the patch VAE
(encoder and decoder each 4 conv with ReLU + 2 FC) that encodes the 8x8 patches ε(t) and
decodes ε̂(t), plus an alpha channel when asked. The error-map network of §6.2.2
(:mod:`.error_map`) uses the same glimpsing network.

No batch norm (§6.2.3 lists conv layers with ReLU only), so train and eval modes compute
the same thing; the width of the hidden fully connected layers (:data:`HIDDEN`) is not in
the thesis.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from ...errors import FactorbenchError
from ..blocks import convert_hint

#: width of the hidden fully connected layer of every network here (thesis silent; the
#: project's other small nets use 256)
HIDDEN = 256


class GlimpseNet(nn.Module):
    """The glimpsing network (§6.2.3): 3 conv (kernel 4, stride 2, ReLU) + 2 FC ->
    (mean, logvar) of the 4-d box code z_where (centre x, centre y, size x, size y)."""

    def __init__(self, in_channels: int, image_hw: Tuple[int, int], width: int, prior_mean: torch.Tensor,
                 prior_logvar: torch.Tensor):
        super().__init__()
        h, w = image_hw
        if h % 8 or w % 8:
            fits = -(-max(h, w) // 8) * 8
            raise FactorbenchError(f"glimpse network: image sides must be multiples of 8, got {h}x{w}; "
                                   f"{convert_hint(fits)}")
        chans = [in_channels, width, 2 * width, 4 * width]
        layers: List[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * (h // 8) * (w // 8), HIDDEN), nn.ReLU(),
                                nn.Linear(HIDDEN, 8))
        last = self.fc[-1]
        with torch.no_grad():  # start near the prior: small weights, bias at the prior's parameters
            last.weight.mul_(0.1)
            last.bias.copy_(torch.cat([prior_mean, prior_logvar]))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.fc(self.convs(x)).chunk(2, dim=1)
        return mean, logvar


class PatchVAE(nn.Module):
    """The glimpse VAE (§6.2.3): "Both encoder and decoder contain 4 layers of CNN with ReLU
    and 2 layers of MLP". Encoder: conv3 s1, conv4 s2, conv3 s1, conv4 s2 (8 -> 2), FC, FC ->
    (μ, logvar). Decoder: FC, FC, convT4 s2, conv3, convT4 s2, conv3 -> sigmoid patch
    (+ one alpha channel when ``alpha``)."""

    def __init__(self, channels: int, side: int, latent_dim: int, width: int, alpha: bool,
                 initial_alpha: float = 0.5):
        super().__init__()
        self.channels, self.side, self.alpha = channels, side, alpha
        self.inner = side // 4
        flat = 2 * width * self.inner * self.inner
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * latent_dim),
        )
        self.decoder_fc = nn.Sequential(nn.Linear(latent_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, flat), nn.ReLU())
        self.decoder_convs = nn.Sequential(
            nn.ConvTranspose2d(2 * width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, width, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, channels + int(alpha), 3, 1, 1), nn.Sigmoid(),
        )
        if alpha:  # the alpha channel's bias sets the initial opacity (config ``initial_alpha``)
            with torch.no_grad():
                self.decoder_convs[-2].bias[channels:] = math.log(initial_alpha / (1 - initial_alpha))

    def encode(self, patch: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(patch).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(patch (B,C,s,s), alpha (B,1,s,s) or None)."""
        out = self.decoder_convs(self.decoder_fc(z).view(z.shape[0], -1, self.inner, self.inner))
        if self.alpha:
            return out[:, :self.channels], out[:, self.channels:]
        return out, None
