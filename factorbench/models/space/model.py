"""SPACE (Lin et al. 2020), a comparison model of thesis Chapter 6 (§6.4, Tables 6.1 and 6.2),
re-implemented from the paper and the authors' released code.

Foreground (the paper's foreground module). An image encoder gives one feature vector per
cell of a G x G grid and every cell is inferred *in parallel* from its own feature vector
only (SPACE's difference from SPAIR, which conditions on earlier cells):

- z_pres: log-odds 8.8·tanh(·) (the code's bound), a relaxed-Bernoulli sample with
  temperature ``pres_temperature`` during training;
- z_where = (z_scale, z_shift): Gaussian; the box half-size is σ(z_scale) (a fraction of
  the image side) and the centre is the cell centre plus tanh(z_shift) cell half-widths
  (code: centre = (2/G)·(cell + 0.5 + tanh z_shift) − 1);
- z_depth: Gaussian, N(0, 1) prior;
- z_what: the box's glimpse (``glimpse_size`` pixels) is encoded by the glimpse VAE,
  whose decoder gives the object's appearance o and alpha α; α̂ = α·z_pres.

Objects are composited by depth (:func:`..object_cells.composite`): premultiplied
foreground Σ w·α̂·o and the foreground mask α = Σ w·α̂, so the foreground colour is
fg = Σ w·α̂·o / α.

Background (the paper's background module). One component VAE (K = 1): an encoder from
the image to a Gaussian z_bg and a decoder to a ``bg_resolution``² map upsampled
bilinearly to the image.

Likelihood (the paper's fg/bg mixture), per pixel and channel:
p(x) = α·N(x; fg, σ_fg²) + (1 − α)·N(x; bg, σ_bg²), and the loss is the negative ELBO
−log p(x|z) + KL(z_pres) + KL(z_where) + KL(z_what) + KL(z_depth) + KL(z_bg) per image,
averaged over the batch. As in the code, the foreground KLs are summed over all cells
(not weighted by z_pres), the z_pres KL is between Bernoulli probabilities, and the z_pres
prior and the z_scale prior mean are annealed linearly (the config's schedules).
``reconstruct`` is the mixture mean α·fg + (1 − α)·bg = Σ w·α̂·o + (1 − α)·bg.

Outputs (the shared object-model form, :class:`..objects.Detections`): ``glimpse(x)`` is
deterministic (posterior means; z_pres probabilities as scores, kept when > 0.5; z_what
means as latents), one candidate per cell in raster order; ``glimpse_patches(x)`` returns
the glimpses of those boxes and ``encode_patches`` runs the glimpse encoder on any glimpses
(e.g. crops of ground-truth boxes at ``patch_size``) for the digit-sum task.

Where this differs from the paper / code (simplifications, stated plainly):

- The background uses one component VAE, as the thesis allows (thesis §2.1.3: "when
  the number of background components is one, the background network can be a vanilla
  VAE"), not the GENESIS-like K = 5 mixture of masks and components; its decoder produces
  a low-resolution map (``bg_resolution``) upsampled to the image, so it models smooth
  backgrounds and can hardly absorb the objects.
- The foreground component's mean is the alpha-normalised colour fg = Σ w·α̂·o / α; the
  code uses the premultiplied Σ w·α̂·o, which is darker wherever α < 1, so on black
  backgrounds a faint foreground "explains" dark pixels and every z_pres saturates at 1
  early in training (we saw exactly this in the planted-object test of
  ``tests/test_spair_space.py``; with the normalised colour it does not happen).
- No boundary loss and no "fix alpha" warm-up (the code's default fixes alpha for 0
  steps): the boundary loss keeps objects from being split across cells on the code's
  8x8 grids; on the 3x3 grid of §6.4 a cell (~21 px) is larger than a digit (~15 px).
- The image encoder is :class:`..object_cells.GridBackbone` (no lateral/residual branch;
  the code's own comments call it "not important"), and the glimpse VAE is the thesis's
  small conv VAE (8x8 glimpses, 10-d z_what) instead of the code's 32x32 one.
- One Adam optimiser with two parameter groups (foreground ``lr_fg`` 1e-4, background
  ``lr_bg`` 1e-3) instead of the code's RMSprop 1e-5 for the foreground, which is far too
  slow for this project's presets.

The step count (for the annealing) is a buffer, so it travels with checkpoints.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
from torch import nn

from ...errors import FactorbenchError
from ..base import GenerativeModel, register_model
from ..object_cells import (MIN_HALF_SIZE, CellObjectModel, GlimpseVAE, GridBackbone, bernoulli_kl, bilinear_resize,
                            cell_indices, clipped_adam, composite, concrete_sample, finite_or_raise, grid_pool,
                            linear_anneal, normal_kl)
from ..distributions import gaussian_kl, reparameterise
from ..objects import check_trainable_on, crop_patches
from .config import SPACEConfig

#: bound on the z_pres log-odds (code: 8.8·tanh)
PRES_LOGIT_BOUND = 8.8
HALF_LOG_2PI = 0.5 * float(torch.log(torch.tensor(2 * torch.pi)))


class BackgroundVAE(nn.Module):
    """The K = 1 background: image -> Gaussian z_bg -> a smooth map, upsampled."""

    def __init__(self, image_shape, latent_dim: int, channels: int, resolution: int):
        super().__init__()
        c = image_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(c, channels, 4, 2, 1), nn.CELU(),
            nn.Conv2d(channels, channels, 4, 2, 1), nn.CELU(),
        )
        self.head = nn.Linear(channels * 16, 2 * latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 4 * channels), nn.CELU(),
                                     nn.Linear(4 * channels, c * resolution * resolution))
        self.channels, self.resolution = c, resolution

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(grid_pool(self.encoder(x), 4).flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor, image_size) -> torch.Tensor:
        r = self.resolution
        small = torch.sigmoid(self.decoder(z)).view(-1, self.channels, r, r)
        return bilinear_resize(small, tuple(image_size))


@register_model("space")
class SPACE(CellObjectModel, GenerativeModel):
    config_class = SPACEConfig
    train_schedules = {
        "ci": {"epochs": 1, "batch_size": 16},
        "quick": {"epochs": 10, "batch_size": 16},
        # the thesis gives no schedule; the code trains with batch 16 for up to 1e6 steps;
        # 100 epochs of multi-digits (10k images) is ~62k steps, past all annealing (20k)
        "paper": {"epochs": 100, "batch_size": 16, "deterministic": False},  # grid_sample: see objects.py
    }

    def __init__(self, config: SPACEConfig, image_shape):
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        if h != w:
            raise FactorbenchError(f"space expects square images, got {h}x{w}")
        if h < config.grid_size:
            raise FactorbenchError(f"space: image side {h} is smaller than grid_size {config.grid_size}")
        f = config.backbone_features
        self.backbone = GridBackbone(c, h, config.grid_size, config.backbone_channels, f)
        # per-cell heads (1x1 convs in the code): z_pres (1), z_depth (2), z_scale (4), z_shift (4)
        self.heads = nn.Linear(f, 1 + 2 + 4 + 4)
        self.glimpse_vae = GlimpseVAE(c, config.glimpse_size, config.latent_dim, "conv", config.glimpse_hidden,
                                      config.glimpse_channels)
        self.bg_vae = BackgroundVAE(self.image_shape, config.bg_latent_dim, config.bg_channels, config.bg_resolution)
        self.register_buffer("cells", cell_indices(config.grid_size), persistent=False)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    # -- shapes and schedules -------------------------------------------------------------
    @property
    def num_cells(self) -> int:
        return self.config.grid_size ** 2

    @property
    def patch_size(self) -> Tuple[int, int]:
        """(g, g): the glimpse size the glimpse encoder reads."""
        return (self.config.glimpse_size, self.config.glimpse_size)

    def pres_prior(self) -> float:
        cfg = self.config
        return linear_anneal(float(self.steps_done), cfg.pres_prior_start_step, cfg.pres_prior_end_step,
                             cfg.pres_prior_start, cfg.pres_prior_end)

    def scale_prior_mean(self) -> float:
        cfg = self.config
        return linear_anneal(float(self.steps_done), cfg.scale_prior_start_step, cfg.scale_prior_end_step,
                             cfg.scale_prior_start, cfg.scale_prior_end)

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        bg = list(self.bg_vae.parameters())
        bg_ids = {id(p) for p in bg}
        fg = [p for p in self.parameters() if id(p) not in bg_ids]
        groups = [{"params": fg, "lr": self.config.lr_fg}, {"params": bg, "lr": self.config.lr_bg}]
        return {"main": clipped_adam(groups, self.config.lr_fg, self.config.max_grad_norm)}

    # -- inference ------------------------------------------------------------------------
    def infer(self, x: torch.Tensor, sample: bool) -> Dict[str, torch.Tensor]:
        """All per-cell foreground latents of images ``x``: sampled (``sample``) or means."""
        self._check_images(x)
        return self.infer_cells(x, self.backbone(x), sample)

    def infer_cells(self, x: torch.Tensor, features: torch.Tensor, sample: bool) -> Dict[str, torch.Tensor]:
        """Every cell from its own feature vector in ``features`` (B, F, G, G), in parallel.

        Returns tensors (B, K, ...) in raster order: ``pres_logits``, ``pres`` (sample or
        probability), ``scale_mu``/``scale_logvar``, ``shift_mu``/``shift_logvar``,
        ``center``/``half_size``, ``depth``/``depth_mu``/``depth_logvar``,
        ``what``/``what_mu``/``what_logvar``, ``patches``."""
        cfg = self.config
        b, g = x.shape[0], cfg.grid_size
        k = g * g
        feats = features.permute(0, 2, 3, 1).reshape(b, k, -1)
        raw = self.heads(feats)
        pres_logits = PRES_LOGIT_BOUND * torch.tanh(raw[..., 0])
        depth_mu, depth_logvar = raw[..., 1], raw[..., 2].clamp(-12.0, 6.0)
        scale_mu, scale_logvar = raw[..., 3:5], raw[..., 5:7].clamp(-12.0, 6.0)
        shift_mu, shift_logvar = raw[..., 7:9], raw[..., 9:11].clamp(-12.0, 6.0)
        if sample:
            pres = concrete_sample(pres_logits, cfg.pres_temperature)
            depth = reparameterise(depth_mu, depth_logvar)
            scale = reparameterise(scale_mu, scale_logvar)
            shift = reparameterise(shift_mu, shift_logvar)
        else:
            pres, depth, scale, shift = torch.sigmoid(pres_logits), depth_mu, scale_mu, shift_mu
        half = torch.sigmoid(scale).clamp_min(MIN_HALF_SIZE)
        center = (2.0 / g) * (self.cells + 0.5 + torch.tanh(shift)) - 1.0
        patches = crop_patches(x.repeat_interleave(k, dim=0), center.reshape(b * k, 2), half.reshape(b * k, 2),
                               self.patch_size)
        what_mu, what_logvar = self.glimpse_vae.encode(patches)
        what = reparameterise(what_mu, what_logvar) if sample else what_mu
        patches = patches.view(b, k, *patches.shape[1:])
        return {"pres_logits": pres_logits, "pres": pres, "depth": depth, "depth_mu": depth_mu,
                "depth_logvar": depth_logvar, "scale_mu": scale_mu, "scale_logvar": scale_logvar,
                "shift_mu": shift_mu, "shift_logvar": shift_logvar, "center": center, "half_size": half,
                "what": what.view(b, k, -1), "what_mu": what_mu.view(b, k, -1),
                "what_logvar": what_logvar.view(b, k, -1), "patches": patches}

    # -- generation -----------------------------------------------------------------------
    def render_foreground(self, latents: Dict[str, torch.Tensor], image_size) -> Tuple[torch.Tensor, torch.Tensor]:
        """(premultiplied foreground Σ w·α̂·o, alpha_map α = Σ w·α̂) of the objects in ``latents``."""
        b, k = latents["pres"].shape
        c, g = self.image_shape[0], self.config.glimpse_size
        logits = self.glimpse_vae.decode(latents["what"].flatten(0, 1)).view(b, k, c + 1, g, g)
        colour, alpha = torch.sigmoid(logits[:, :, :c]), torch.sigmoid(logits[:, :, c:])
        alpha = alpha * latents["pres"].view(b, k, 1, 1, 1)
        return composite(colour, alpha, latents["center"], latents["half_size"], latents["depth"], image_size)

    def background(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic background of ``x`` (decoded posterior mean)."""
        mu, _ = self.bg_vae.encode(x)
        return self.bg_vae.decode(mu, x.shape[-2:])

    # -- what metrics use -----------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic reconstruction α·fg + (1 − α)·bg (means, z_pres probabilities)."""
        fg, alpha = self.render_foreground(self.infer(x, sample=False), x.shape[-2:])
        return fg + (1.0 - alpha) * self.background(x)

    # -- training -------------------------------------------------------------------------
    def mixture_nll(self, x: torch.Tensor, fg: torch.Tensor, alpha: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
        """−log[α·N(x; fg/α, σ_fg²) + (1 − α)·N(x; bg, σ_bg²)] summed per image (B,), for the
        premultiplied foreground ``fg`` and its mask ``alpha``."""
        cfg = self.config

        def log_normal(mean, sigma):
            return -0.5 * ((x - mean) / sigma) ** 2 - torch.log(torch.tensor(sigma)) - HALF_LOG_2PI

        fg_term = log_normal(fg / (alpha + 1e-5), cfg.fg_sigma) + torch.log(alpha + 1e-5)
        bg_term = log_normal(bg, cfg.bg_sigma) + torch.log(1.0 - alpha + 1e-5)
        return -torch.logsumexp(torch.stack([fg_term, bg_term]), dim=0).flatten(1).sum(1)

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        cfg = self.config
        x = batch["image"]
        check_trainable_on(self.name, x)
        lat = self.infer(x, sample=True)
        fg, alpha = self.render_foreground(lat, x.shape[-2:])
        bg_mu, bg_logvar = self.bg_vae.encode(x)
        bg = self.bg_vae.decode(reparameterise(bg_mu, bg_logvar), x.shape[-2:])
        rec = self.mixture_nll(x, fg, alpha, bg)
        kl_pres = bernoulli_kl(lat["pres_logits"], self.pres_prior()).sum(1)
        kl_where = (normal_kl(lat["scale_mu"], lat["scale_logvar"], self.scale_prior_mean(), cfg.scale_prior_std)
                    + normal_kl(lat["shift_mu"], lat["shift_logvar"], 0.0, 1.0)).flatten(1).sum(1)
        b, k, a = lat["what_mu"].shape
        kl_what = gaussian_kl(lat["what_mu"].reshape(b * k, a), lat["what_logvar"].reshape(b * k, a)).view(b, k).sum(1)
        kl_depth = normal_kl(lat["depth_mu"], lat["depth_logvar"], 0.0, 1.0).sum(1)
        kl_bg = gaussian_kl(bg_mu, bg_logvar)
        loss = (rec + kl_pres + kl_where + kl_what + kl_depth + kl_bg).mean()
        parts = {"rec": rec.mean(), "kl_pres": kl_pres.mean(), "kl_where": kl_where.mean(),
                 "kl_what": kl_what.mean(), "kl_depth": kl_depth.mean(), "kl_bg": kl_bg.mean()}
        finite_or_raise(loss, "space", parts)
        if self.training:
            self.steps_done += 1
        x_hat = fg + (1.0 - alpha) * bg
        stats = {"count": (lat["pres"] > 0.5).float().sum(1).mean(), "mse": (x - x_hat).pow(2).mean()}
        return {"loss": loss, **{key: v.detach() for key, v in {**parts, **stats}.items()}}

    def _check_images(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise FactorbenchError(f"space was built for images of shape {self.image_shape}, got {tuple(x.shape)}")
