"""Configuration of SPAIR (Crawford & Pineau 2019; thesis §6.4; docs/protocols.md §3).

Sources of the defaults: "thesis" = thesis §6.4 ("For SPACE and SPAIR, we set the grid
size as 3x3"; for SPAIR "we maintain the original architecture of the encoder, but
increase the channel of the latent space to 50 and the input size of the encoder is
15x15"); "code" = the authors' released configuration (``auto_yolo``, ``yolo_air_config``),
which the paper's appendix refers to for hyper-parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import FactorbenchError

LIKELIHOODS = ("bernoulli", "gaussian")
BACKGROUNDS = ("constant", "zero")


@dataclass
class SPAIRConfig:
    #: G: a G x G grid of cells, one candidate object each (thesis: 3x3 on 64x64)
    grid_size: int = 3
    #: size of z_what (thesis: 50; the code's A = 50 too)
    latent_dim: int = 50
    #: glimpse side in pixels read by the object encoder (thesis: 15; the code: 14)
    glimpse_size: int = 15
    #: backbone conv channels (code: 128) and features per cell (code: n_backbone_features 100)
    backbone_channels: int = 128
    backbone_features: int = 100
    #: hidden width of the per-cell box / depth / presence MLPs (code: MLP [100, 100]) and
    #: the passthrough features handed from one of them to the next (code: 100)
    hidden: int = 100
    passthrough_features: int = 100
    #: object encoder MLP [h, h/2], decoder MLP [h/2, h] (code: [256, 128] / [128, 256])
    glimpse_hidden: int = 256
    #: box centre offset range in cell units, relative to the cell's top-left (code: -0.5..1.5)
    min_offset: float = -0.5
    max_offset: float = 1.5
    #: box side = σ(logit)·max_box_size of the image side (code: the anchor box is the image)
    max_box_size: float = 1.0
    #: Gaussian priors on the box logits (code: offset N(0, 1); size N(logit 0.1, 0.5²))
    offset_prior_mean: float = 0.0
    offset_prior_std: float = 1.0
    size_prior_mean: float = math.log(0.1 / 0.9)
    size_prior_std: float = 0.5
    #: temperature of the relaxed-Bernoulli z_pres (code: obj_concrete_temp 1.0)
    pres_temperature: float = 1.0
    #: count prior P(C = n) ∝ ρ^n with ρ = σ(log_odds); log_odds decays exponentially from
    #: start to end with rate 0.1 per decay_steps, in log space (code: Exp(start=1e6,
    #: end=0.0125, decay_rate=0.1, decay_steps=1000, log=True): ρ goes from 1, every count
    #: equally likely, to σ(0.0125) ≈ 0.503). An end <= 0 (ρ < 1/2, a stronger push to few
    #: objects) cannot be reached in log space: then the decay is on the value itself
    count_prior_log_odds_start: float = 1e6
    count_prior_log_odds_end: float = 0.0125
    count_prior_decay_steps: int = 1000
    #: "training wheels" (code): for the first N steps no gradient reaches the box, depth and
    #: presence parameters, so the object VAE learns first (code: 1000 steps)
    training_wheels_steps: int = 1000
    #: decoder logit scales (code: colour ×2.0; alpha ×0.1 + 5.0, i.e. objects start opaque)
    colour_logit_scale: float = 2.0
    alpha_logit_scale: float = 0.1
    alpha_logit_bias: float = 5.0
    #: "bernoulli" (the code's default ``xent_loss``) or "gaussian" with std ``pixel_std``
    likelihood: str = "bernoulli"
    pixel_std: float = 0.1
    #: "constant": one learned colour, starting black; "zero": a fixed black background
    background: str = "constant"
    #: Adam (code: lr 1e-4, gradient norm clipped at 1.0)
    lr: float = 1e-4
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        name = "spair"
        if self.grid_size < 1 or self.latent_dim < 1 or self.glimpse_size < 2:
            raise FactorbenchError(f"{name}: grid_size and latent_dim must be positive, glimpse_size at least 2")
        if min(self.backbone_channels, self.backbone_features, self.hidden, self.glimpse_hidden) < 2 \
                or self.passthrough_features < 0:
            raise FactorbenchError(f"{name}: network widths must be positive")
        if not self.min_offset < self.max_offset:
            raise FactorbenchError(f"{name}: min_offset must be below max_offset")
        if not 0 < self.max_box_size <= 2:
            raise FactorbenchError(f"{name}: max_box_size is a fraction of the image side in (0, 2]")
        if min(self.offset_prior_std, self.size_prior_std, self.pres_temperature, self.pixel_std) <= 0:
            raise FactorbenchError(f"{name}: prior stds, pres_temperature and pixel_std must be positive")
        if self.count_prior_log_odds_start <= max(self.count_prior_log_odds_end, 0.0):
            raise FactorbenchError(f"{name}: count_prior_log_odds_start must be positive and above "
                                   "count_prior_log_odds_end (the prior is annealed towards fewer objects)")
        if self.count_prior_decay_steps < 0 or self.training_wheels_steps < 0:
            raise FactorbenchError(f"{name}: count_prior_decay_steps and training_wheels_steps must be >= 0")
        if self.likelihood not in LIKELIHOODS:
            raise FactorbenchError(f"{name}: likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.background not in BACKGROUNDS:
            raise FactorbenchError(f"{name}: background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if self.lr < 0:
            raise FactorbenchError(f"{name}: lr must not be negative, got {self.lr!r}")
        if self.max_grad_norm < 0:
            raise FactorbenchError(f"{name}: max_grad_norm must be >= 0 (0: no clipping), got {self.max_grad_norm!r}")
