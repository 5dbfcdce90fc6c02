"""Configuration of SPACE (Lin et al. 2020; thesis §6.4; docs/protocols.md §3).

Sources of the defaults: "thesis" = thesis §6.4 (3x3 grid on 64x64; "For SPACE and our
model, we use the same architecture of the encoder, and the channel of the latent space is
10", i.e. SAID's glimpse VAE over 8x8 glimpses); "code" = the authors' released
configuration (``zhixuan-lin/SPACE``, ``src/model/space/arch.py`` and ``src/config.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import FactorbenchError


@dataclass
class SPACEConfig:
    #: G: a G x G grid of cells (thesis: 3x3 on 64x64; code: 8x8 on 128x128)
    grid_size: int = 3
    #: size of z_what (thesis: 10, as SAID; code: 32)
    latent_dim: int = 10
    #: glimpse side in pixels (thesis: 8, as SAID; code: 32)
    glimpse_size: int = 8
    #: image encoder channels and per-cell feature size (code: img_enc_dim_fg 128)
    backbone_channels: int = 64
    backbone_features: int = 128
    #: glimpse VAE: conv width and FC hidden size (thesis: SAID's 4 conv + 2 FC VAE)
    glimpse_channels: int = 32
    glimpse_hidden: int = 256
    #: likelihood std of the foreground and background components (code: 0.15 each)
    fg_sigma: float = 0.15
    bg_sigma: float = 0.15
    #: z_pres: relaxed-Bernoulli temperature (code: tau 2.5 throughout) and the Bernoulli
    #: prior's probability, linear from start to end between the two steps (code: 0.1 ->
    #: 0.01 over steps 4000..10000)
    pres_temperature: float = 2.5
    pres_prior_start: float = 0.1
    pres_prior_end: float = 0.01
    pres_prior_start_step: int = 4000
    pres_prior_end_step: int = 10000
    #: z_scale prior N(mean, std²) on the logit of the box half-size (σ(z_scale) is the
    #: box side as a fraction of the image); mean linear from start to end (code: -1 -> -2
    #: over steps 10000..20000, std 0.1). z_shift prior N(0, 1) (code)
    scale_prior_start: float = -1.0
    scale_prior_end: float = -2.0
    scale_prior_start_step: int = 10000
    scale_prior_end_step: int = 20000
    scale_prior_std: float = 0.1
    #: background: one component VAE (thesis §2.1.3 allows K = 1: "when the number of background
    #: components is one, the background network can be a vanilla VAE"); latent size (code:
    #: z_comp_dim 32) and the side of the decoded map, upsampled bilinearly to the image
    bg_latent_dim: int = 32
    bg_resolution: int = 8
    bg_channels: int = 32
    #: Adam for both parts with gradient norm clipping at 1.0 (code: clip_norm 1.0; the code
    #: trains the foreground with RMSprop lr 1e-5 and the background with Adam lr 1e-3)
    lr_fg: float = 1e-4
    lr_bg: float = 1e-3
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        name = "space"
        if self.grid_size < 1 or self.latent_dim < 1 or self.bg_latent_dim < 1:
            raise FactorbenchError(f"{name}: grid_size, latent_dim and bg_latent_dim must be positive")
        if self.glimpse_size < 4:
            raise FactorbenchError(f"{name}: glimpse_size must be at least 4 (the conv glimpse VAE halves it twice)")
        if min(self.backbone_channels, self.backbone_features, self.glimpse_channels, self.glimpse_hidden,
               self.bg_channels, self.bg_resolution) < 1:
            raise FactorbenchError(f"{name}: network widths and bg_resolution must be positive")
        if min(self.fg_sigma, self.bg_sigma, self.pres_temperature, self.scale_prior_std) <= 0:
            raise FactorbenchError(f"{name}: fg_sigma, bg_sigma, pres_temperature and scale_prior_std must be positive")
        for value in (self.pres_prior_start, self.pres_prior_end):
            if not 0 < value < 1:
                raise FactorbenchError(f"{name}: the z_pres prior probabilities must be in (0, 1), got {value}")
        if self.pres_prior_end_step < self.pres_prior_start_step or \
                self.scale_prior_end_step < self.scale_prior_start_step:
            raise FactorbenchError(f"{name}: an annealing schedule ends before it starts")
        if self.lr_fg <= 0 or self.lr_bg <= 0 or self.max_grad_norm < 0:
            raise FactorbenchError(f"{name}: learning rates must be positive and max_grad_norm >= 0 (0: no clipping)")
