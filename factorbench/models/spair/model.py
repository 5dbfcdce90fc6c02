"""SPAIR, Spatially Invariant Attend, Infer, Repeat (Crawford & Pineau 2019), a comparison
model of thesis Chapter 6 (§6.4, Tables 6.1 and 6.2), re-implemented from the paper and the
authors' released configuration (``auto_yolo``). The thesis's settings are the defaults: a
3x3 grid on 64x64 images, SPAIR's own object encoder, but a 50-d z_what read from 15x15
glimpses ("the model tended to collapse at an early stage" with SAID's 10-d/8x8 one).

Inference (the paper's backbone and object network). A convolutional backbone gives one
feature vector per cell of a G x G grid. Cells are processed in raster order; cell (i, j)
reads its own features and the sampled latents (the "program") of the already-processed
neighbours (i−1, j−1), (i−1, j), (i−1, j+1) and (i, j−1) — SPAIR's lookback of 1; a learned
edge vector stands in for neighbours outside the grid. For each cell, in the paper's order:

1. z_where: a box network (MLP) gives Gaussian logits of the centre offset (in cell units,
   in [min_offset, max_offset] after a sigmoid) and the size (a fraction of the image side,
   ≤ max_box_size), plus passthrough features;
2. z_what: the box's glimpse (``glimpse_size`` pixels, :func:`..objects.crop_patches`) is
   encoded by the object encoder into a Gaussian z_what;
3. z_depth: a depth network gives a Gaussian depth;
4. z_pres: a presence network gives log-odds (clipped to ±10); z_pres is a relaxed
   Bernoulli sample (temperature ``pres_temperature``) during training.

Generation (the paper's rendering). z_what is decoded to an appearance and an alpha
(logits scaled as in the code: colour ×2, alpha ×0.1 + 5, so objects start opaque);
α̂ = α·z_pres; objects are pasted into their boxes and composited by depth
(:func:`..object_cells.composite`) over the background: x̂ = Σ w·α̂·o + (1 − Σ w·α̂)·bg.

Loss, the negative ELBO per image averaged over the batch (the paper's objective): the
reconstruction NLL (Bernoulli cross-entropy, the code's default, or a fixed-std Gaussian)
plus the KL terms. The KLs of z_where, z_what and z_depth are weighted by the cell's z_pres
sample (the code's ``obj * kl``). z_pres has the paper's count prior: the number of
objects C has P(C = n) ∝ ρ^n; going through the cells in raster order, the prior
probability that cell i is on is E[(C − c_i)/(K − i)] under the count distribution
conditioned on the c_i objects (rounded samples) before it; the KL is between Bernoulli
probabilities. ρ = σ(log_odds) with log_odds annealed as in the code (see the config).

Outputs (the shared object-model form, :class:`..objects.Detections`): ``glimpse(x)`` is
deterministic (posterior means; z_pres probabilities as scores, kept when > 0.5; z_what
means as latents), one candidate per cell in raster order; ``glimpse_patches(x)`` returns
the glimpses of those boxes and ``encode_patches`` runs the object encoder on any glimpses
(e.g. crops of ground-truth boxes at ``patch_size``) for the digit-sum task.

Where this differs from the paper / code (simplifications, stated plainly):

- The backbone is :class:`..object_cells.GridBackbone` (stride-2 convs, average pool to
  the grid, 1x1 convs) instead of the code's grid-aligned strided conv stack; it gives the
  same one-feature-vector-per-cell layout and is just as local.
- Compositing uses SPACE's depth softmax (shared with SPACE) instead of the code's
  ``render_sprites`` kernel; z_depth has a N(0, 1) prior as in the code.
- The background is a learned constant colour (or fixed black); the code takes the
  background as given by the data set (black for Multi-MNIST).
- The per-cell standard deviations are exp(logvar/2) (the code's ``exp(log_std)``); no
  noise schedule on the inputs.
- Deterministic outputs (``glimpse``, ``reconstruct``) feed the neighbours the posterior
  means and the z_pres probability instead of samples.

The step count (for the prior and training-wheel schedules) is a buffer, so it travels with
checkpoints and a resumed run anneals exactly as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import FactorbenchError
from ..base import GenerativeModel, register_model
from ..object_cells import (MIN_HALF_SIZE, CellObjectModel, GlimpseVAE, GridBackbone, bernoulli_kl, clipped_adam,
                            composite, concrete_sample, finite_or_raise, log_exponential_anneal, mlp, normal_kl)
from ..distributions import gaussian_kl, reparameterise
from ..objects import check_trainable_on, crop_patches
from .config import SPAIRConfig

#: (row, column) offsets of the neighbours a cell conditions on: all earlier in raster order
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1))


def count_prior_probs(pres_sample: torch.Tensor, log_rho: float) -> torch.Tensor:
    """SPAIR's count prior as per-cell Bernoulli probabilities (B, K) (the paper's count
    prior; code ``obj_kl``).

    P(C = n) ∝ ρ^n for n = 0..K. Cell i's prior probability of being on is
    Σ_n P(n | earlier cells)·clip((n − c_i)/(K − i), 0, 1), with c_i the number of earlier
    cells whose sample exceeds 0.5; the count distribution is then conditioned on cell i's
    rounded sample. The product of these conditionals over any on/off pattern is
    P(C = n)/binom(K, n) for its count n. No gradient flows through the prior."""
    b, k = pres_sample.shape
    dtype, device = pres_sample.dtype, pres_sample.device
    support = torch.arange(k + 1, dtype=dtype, device=device)
    dist = torch.softmax(support * log_rho, dim=0).expand(b, -1)
    so_far = torch.zeros(b, 1, dtype=dtype, device=device)
    on = (pres_sample.detach() > 0.5).to(dtype)
    priors = []
    for i in range(k):
        p_given = ((support - so_far) / (k - i)).clamp(0.0, 1.0)
        priors.append((dist * p_given).sum(dim=1))
        s = on[:, i:i + 1]
        dist = dist * (s * p_given + (1 - s) * (1 - p_given))
        dist = dist / dist.sum(dim=1, keepdim=True).clamp_min(1e-12)
        so_far = so_far + s
    return torch.stack(priors, dim=1)


def count_prior_kl(pres_logits: torch.Tensor, pres_sample: torch.Tensor, log_rho: float) -> torch.Tensor:
    """KL(Bernoulli(σ(pres_logits)) || count prior) per cell (B, K), the prior from
    :func:`count_prior_probs` of the samples ``pres_sample``."""
    return bernoulli_kl(pres_logits, count_prior_probs(pres_sample, log_rho))


@register_model("spair")
class SPAIR(CellObjectModel, GenerativeModel):
    config_class = SPAIRConfig
    train_schedules = {
        "ci": {"epochs": 1, "batch_size": 32},
        "quick": {"epochs": 10, "batch_size": 32},
        # the thesis gives no schedule; the code trains with batch 32 for up to 3e5 steps
        # with early stopping; 100 epochs of multi-digits (10k images) is ~31k steps, far
        # past the count-prior annealing (~4k steps)
        "paper": {"epochs": 100, "batch_size": 32, "deterministic": False},  # grid_sample: see objects.py
    }

    def __init__(self, config: SPAIRConfig, image_shape):
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        if h != w:
            raise FactorbenchError(f"spair expects square images, got {h}x{w}")
        if h < config.grid_size:
            raise FactorbenchError(f"spair: image side {h} is smaller than grid_size {config.grid_size}")
        a, p, hid = config.latent_dim, config.passthrough_features, config.hidden
        self.program_size = 4 + a + 1 + 1  # box (x, y, w, h), z_what, z_depth, z_pres
        ctx = len(NEIGHBOURS) * self.program_size
        f = config.backbone_features
        self.backbone = GridBackbone(c, h, config.grid_size, config.backbone_channels, f)
        self.box_net = mlp([f + ctx, hid, hid, 8 + p])
        self.depth_net = mlp([f + ctx + p + 4 + a, hid, hid, 2 + p])
        self.pres_net = mlp([f + ctx + p + 4 + a + 1, hid, hid, 1])
        self.glimpse_vae = GlimpseVAE(c, config.glimpse_size, a, "mlp", config.glimpse_hidden)
        self.edge = nn.Parameter(torch.zeros(self.program_size))
        if config.background == "constant":
            self.bg_colour = nn.Parameter(torch.zeros(c))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    # -- shapes and schedules -------------------------------------------------------------
    @property
    def num_cells(self) -> int:
        return self.config.grid_size ** 2

    @property
    def patch_size(self) -> Tuple[int, int]:
        """(g, g): the glimpse size the object encoder reads."""
        return (self.config.glimpse_size, self.config.glimpse_size)

    def count_prior_log_rho(self) -> float:
        """log ρ of the count prior at the current step (see the config's schedule)."""
        cfg = self.config
        start, end, step = cfg.count_prior_log_odds_start, cfg.count_prior_log_odds_end, float(self.steps_done)
        if end > 0:
            log_odds = log_exponential_anneal(step, start, end, cfg.count_prior_decay_steps)
        elif cfg.count_prior_decay_steps == 0:
            log_odds = end
        else:
            log_odds = end + (start - end) * 0.1 ** (step / cfg.count_prior_decay_steps)
        return float(F.logsigmoid(torch.tensor(log_odds, dtype=torch.float64)))

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        return {"main": clipped_adam(list(self.parameters()), self.config.lr, self.config.max_grad_norm)}

    # -- inference ------------------------------------------------------------------------
    def infer(self, x: torch.Tensor, sample: bool) -> Dict[str, torch.Tensor]:
        """All per-cell latents of images ``x``: sampled (``sample``) or their means."""
        self._check_images(x)
        return self.infer_cells(x, self.backbone(x), sample)

    def infer_cells(self, x: torch.Tensor, features: torch.Tensor, sample: bool) -> Dict[str, torch.Tensor]:
        """The raster-order pass over the cells given the backbone ``features`` (B, F, G, G).

        Returns tensors (B, K, ...) in raster order: ``box`` (x, y offsets in cells; w, h
        fractions), ``box_mu``/``box_logvar`` (logits), ``center``/``half_size``,
        ``what``/``what_mu``/``what_logvar``, ``depth``/``depth_mu``/``depth_logvar``,
        ``pres_logits``, ``pres`` (sample, or probability when not sampling), ``patches``."""
        cfg = self.config
        b, g = x.shape[0], cfg.grid_size
        feats = features.permute(0, 2, 3, 1).reshape(b, g * g, -1)
        wheels = self.training and int(self.steps_done) < cfg.training_wheels_steps
        edge = self.edge.expand(b, -1)
        programs: List[torch.Tensor] = []
        out: Dict[str, List[torch.Tensor]] = {}

        def keep(**tensors):
            for key, value in tensors.items():
                out.setdefault(key, []).append(value)

        for k in range(g * g):
            row, col = divmod(k, g)
            context = []
            for dr, dc in NEIGHBOURS:
                r, c = row + dr, col + dc
                context.append(programs[r * g + c] if 0 <= r < g and 0 <= c < g else edge)
            base = torch.cat([feats[:, k], *context], dim=1)

            # z_where
            box_mu, box_logvar, passthrough = self.box_net(base).split([4, 4, cfg.passthrough_features], dim=1)
            if wheels:
                box_mu, box_logvar = box_mu.detach(), box_logvar.detach()
            box_logvar = box_logvar.clamp(-12.0, 6.0)
            box_logit = reparameterise(box_mu, box_logvar) if sample else box_mu
            squashed = torch.sigmoid(box_logit.clamp(-10.0, 10.0))
            offset = cfg.min_offset + (cfg.max_offset - cfg.min_offset) * squashed[:, :2]
            size = squashed[:, 2:]
            cell = torch.tensor([col, row], dtype=x.dtype, device=x.device)
            center = 2.0 * (cell + offset) / g - 1.0
            half = (size * cfg.max_box_size).clamp_min(MIN_HALF_SIZE)
            box = torch.cat([offset, size], dim=1)

            # z_what from the glimpse
            patch = crop_patches(x, center, half, self.patch_size)
            what_mu, what_logvar = self.glimpse_vae.encode(patch)
            what = reparameterise(what_mu, what_logvar) if sample else what_mu

            # z_depth
            depth_out = self.depth_net(torch.cat([base, passthrough, box, what], dim=1))
            depth_mu, depth_logvar, passthrough = depth_out.split([1, 1, cfg.passthrough_features], dim=1)
            if wheels:
                depth_mu, depth_logvar = depth_mu.detach(), depth_logvar.detach()
            depth_logvar = depth_logvar.clamp(-12.0, 6.0)
            depth = reparameterise(depth_mu, depth_logvar) if sample else depth_mu

            # z_pres
            pres_logits = self.pres_net(torch.cat([base, passthrough, box, what, depth], dim=1))
            if wheels:
                pres_logits = pres_logits.detach()
            pres_logits = pres_logits.clamp(-10.0, 10.0)
            pres = concrete_sample(pres_logits, cfg.pres_temperature) if sample else torch.sigmoid(pres_logits)

            programs.append(torch.cat([box, what, depth, pres], dim=1))
            keep(box=box, box_mu=box_mu, box_logvar=box_logvar, center=center, half_size=half, what=what,
                 what_mu=what_mu, what_logvar=what_logvar, depth=depth[:, 0], depth_mu=depth_mu[:, 0],
                 depth_logvar=depth_logvar[:, 0], pres_logits=pres_logits[:, 0], pres=pres[:, 0], patches=patch)
        return {key: torch.stack(values, dim=1) for key, values in out.items()}

    # -- generation -----------------------------------------------------------------------
    def background(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.background == "zero":
            return torch.zeros_like(x)
        return self.bg_colour.clamp(0.0, 1.0).view(1, -1, 1, 1).expand_as(x)

    def render(self, latents: Dict[str, torch.Tensor], x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(x̂, alpha_map) of the objects in ``latents`` over the background."""
        cfg = self.config
        b, k = latents["pres"].shape
        c = self.image_shape[0]
        logits = self.glimpse_vae.decode(latents["what"].flatten(0, 1))
        colour = torch.sigmoid((logits[:, :c] * cfg.colour_logit_scale).clamp(-10.0, 10.0))
        alpha = torch.sigmoid((logits[:, c:] * cfg.alpha_logit_scale + cfg.alpha_logit_bias).clamp(-10.0, 10.0))
        g = cfg.glimpse_size
        colour, alpha = colour.view(b, k, c, g, g), alpha.view(b, k, 1, g, g)
        alpha = alpha * latents["pres"].view(b, k, 1, 1, 1)
        fg, alpha_map = composite(colour, alpha, latents["center"], latents["half_size"], latents["depth"],
                                  x.shape[-2:])
        return fg + (1.0 - alpha_map) * self.background(x), alpha_map

    # -- what metrics use -----------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic reconstruction (posterior means, z_pres probabilities)."""
        return self.render(self.infer(x, sample=False), x)[0]

    # -- training -------------------------------------------------------------------------
    def reconstruction_nll(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Per-image NLL (B,) of x under the reconstruction."""
        if self.config.likelihood == "bernoulli":  # cross-entropy, also for grey-level x in [0, 1]
            p = x_hat.clamp(1e-6, 1 - 1e-6)
            return -(x * p.log() + (1 - x) * torch.log1p(-p)).flatten(1).sum(1)
        std = self.config.pixel_std
        nll = 0.5 * ((x - x_hat) / std) ** 2 + torch.log(torch.tensor(std * (2 * torch.pi) ** 0.5))
        return nll.flatten(1).sum(1)

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        cfg = self.config
        x = batch["image"]
        check_trainable_on(self.name, x)
        lat = self.infer(x, sample=True)
        x_hat, _ = self.render(lat, x)
        rec = self.reconstruction_nll(x, x_hat)
        pres = lat["pres"]
        kl_pres = count_prior_kl(lat["pres_logits"], pres, self.count_prior_log_rho()).sum(1)
        mu, logvar = lat["box_mu"], lat["box_logvar"]
        kl_where = (normal_kl(mu[..., :2], logvar[..., :2], cfg.offset_prior_mean, cfg.offset_prior_std).sum(-1)
                    + normal_kl(mu[..., 2:], logvar[..., 2:], cfg.size_prior_mean, cfg.size_prior_std).sum(-1))
        b, k, a = lat["what_mu"].shape
        kl_what = gaussian_kl(lat["what_mu"].reshape(b * k, a), lat["what_logvar"].reshape(b * k, a)).view(b, k)
        kl_depth = normal_kl(lat["depth_mu"], lat["depth_logvar"], 0.0, 1.0)
        kl_where, kl_what, kl_depth = [(pres * t).sum(1) for t in (kl_where, kl_what, kl_depth)]
        loss = (rec + kl_pres + kl_where + kl_what + kl_depth).mean()
        parts = {"rec": rec.mean(), "kl_pres": kl_pres.mean(), "kl_where": kl_where.mean(),
                 "kl_what": kl_what.mean(), "kl_depth": kl_depth.mean()}
        finite_or_raise(loss, "spair", parts)
        if self.training:
            self.steps_done += 1
        stats = {"count": (pres > 0.5).float().sum(1).mean(), "mse": (x - x_hat).pow(2).mean()}
        return {"loss": loss, **{key: v.detach() for key, v in {**parts, **stats}.items()}}

    def _check_images(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise FactorbenchError(f"spair was built for images of shape {self.image_shape}, got {tuple(x.shape)}")
