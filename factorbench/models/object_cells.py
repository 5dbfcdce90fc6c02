"""What the grid-cell object models SPAIR and SPACE share (thesis §6.4; docs/protocols.md §3).

SPAIR (Crawford & Pineau 2019, "Spatially invariant unsupervised object detection with
convolutional neural networks") and SPACE (Lin et al. 2020, "SPACE: unsupervised
object-oriented scene representation via spatial attention and decomposition") both
divide the image into a G x G grid of cells; each cell proposes at most one object with a
presence z_pres, a box z_where, an appearance z_what (a VAE over the box's glimpse) and a
depth z_depth. The pieces they share live here:

- :class:`GridBackbone`: the convolutional image encoder that gives one feature vector per
  cell (strided convolutions, an average pool to the G x G grid, then 1x1 convolutions, as
  SPAIR's "backbone" and SPACE's "foreground image encoder" are built).
- :func:`concrete_sample` / :func:`bernoulli_kl`: z_pres as a relaxed Bernoulli (concrete,
  Maddison et al. 2017; the Gumbel-softmax of Jang et al. 2016 that the thesis names in
  §2.1.3) and the KL of its Bernoulli posterior to a Bernoulli prior (both papers' codes
  compute this KL on the Bernoulli probabilities, not on the relaxation).
- :func:`normal_kl`: KL of a diagonal Gaussian posterior to a Gaussian prior N(m, s²)
  (the z_where priors of both papers are not standard normal).
- :class:`GlimpseVAE`: the object encoder/decoder over glimpses: "mlp" is SPAIR's (object
  encoder MLP [h, h/2], decoder MLP [h/2, h]); "conv" is the small conv VAE the thesis
  used for SPACE and SAID (4 conv + 2 FC encoder and decoder, §6.4: "For SPACE and our
  model, we use the same architecture of the encoder"). The decoder returns logits of
  an appearance (C channels) and an alpha (1 channel).
- :func:`composite`: depth-ordered alpha compositing of the per-cell objects (SPACE's
  importance weights: softmax over objects of α̂·100·σ(−z_depth), α̂ = α·z_pres);
  SPAIR composites by the same rule here (see ``models/spair/model.py``).
- :func:`linear_anneal` and :func:`log_exponential_anneal`: the two schedules the
  released codes use for priors.

Boxes are in the spatial-transformer form of :mod:`.objects`: a centre and a half-size in
normalised coordinates ([-1, 1] spans the image; a half-size s covers a fraction s of the
image side). Cells are numbered in raster order, k = row·G + column.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FactorbenchError
from .objects import Detections, boxes_to_pixels, paste_patches

#: smallest box half-size (normalised units): keeps the inverse affine map of paste finite
MIN_HALF_SIZE = 1e-2
#: SPACE's constant in the compositing importance α̂·100·σ(−z_depth) (Lin et al. 2020, code)
DEPTH_IMPORTANCE_SCALE = 100.0
LOGVAR_RANGE = (-12.0, 6.0)


def cell_indices(grid: int, device=None) -> torch.Tensor:
    """(G·G, 2) integer (column, row) of each cell in raster order (k = row·G + column)."""
    rows, cols = torch.meshgrid(torch.arange(grid, device=device), torch.arange(grid, device=device), indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1).float()


def concrete_sample(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """A relaxed-Bernoulli (binary concrete) sample in (0, 1) with log-odds ``logits``:
    σ((logits + log u − log(1−u)) / temperature), u ~ U(0, 1)."""
    u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
    return torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)


def bernoulli_kl(logits: torch.Tensor, prior_prob) -> torch.Tensor:
    """KL(Bernoulli(σ(logits)) || Bernoulli(prior_prob)) elementwise, in nats."""
    q = torch.as_tensor(prior_prob, dtype=logits.dtype, device=logits.device).clamp(1e-6, 1 - 1e-6)
    p = torch.sigmoid(logits)
    return p * (F.logsigmoid(logits) - q.log()) + (1 - p) * (F.logsigmoid(-logits) - torch.log1p(-q))


def normal_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_mean, prior_std) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(prior_mean, prior_std²)) elementwise, in nats."""
    prior_var = float(prior_std) ** 2
    return 0.5 * ((logvar.exp() + (mu - prior_mean) ** 2) / prior_var - 1.0 - logvar + math.log(prior_var))


def linear_anneal(step: float, start_step: int, end_step: int, start: float, end: float) -> float:
    """``start`` until ``start_step``, linear to ``end`` at ``end_step``, then ``end``
    (SPACE's ``linear_annealing``)."""
    if step <= start_step:
        return start
    if step >= end_step:
        return end
    return start + (end - start) * (step - start_step) / (end_step - start_step)


def log_exponential_anneal(step: float, start: float, end: float, decay_steps: int, decay_rate: float = 0.1) -> float:
    """Exponential decay from ``start`` to ``end`` in log space: exp(log end + (log start −
    log end)·decay_rate^(step/decay_steps)) (SPAIR's count-prior schedule)."""
    if decay_steps <= 0:
        return end
    frac = decay_rate ** (step / decay_steps)
    return math.exp(math.log(end) + (math.log(start) - math.log(end)) * frac)


def mlp(sizes: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Fully connected layers with ReLU between them."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def grid_pool(x: torch.Tensor, grid: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, grid)`` (the same windows) as two matrix products: its
    CUDA backward has no deterministic kernel, and the trainer's deterministic mode would
    refuse it."""
    def weights(n: int) -> torch.Tensor:
        w = torch.zeros(grid, n, dtype=x.dtype, device=x.device)
        for i in range(grid):
            lo, hi = (i * n) // grid, -((-(i + 1) * n) // grid)
            w[i, lo:hi] = 1.0 / (hi - lo)
        return w

    return weights(x.shape[-2]) @ x @ weights(x.shape[-1]).T


def bilinear_resize(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)`` as two matrix
    products (deterministic on CUDA, unlike the interpolate backward)."""
    def weights(n_in: int, n_out: int) -> torch.Tensor:
        w = torch.zeros(n_out, n_in, dtype=x.dtype, device=x.device)
        for o in range(n_out):
            src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
            i0 = min(int(src), n_in - 1)
            i1, frac = min(i0 + 1, n_in - 1), src - i0
            w[o, i0] += 1.0 - frac
            w[o, i1] += frac
        return w

    return weights(x.shape[-2], size[0]) @ x @ weights(x.shape[-1], size[1]).T


class GridBackbone(nn.Module):
    """x (B, C, H, W) -> features (B, out_features, G, G), one vector per cell.

    Up to ``max_down`` stride-2 convolutions (kernel 4) with CELU, stopping before the map
    gets smaller than the grid; an adaptive average pool to G x G; two 1x1 convolutions.
    There is no normalisation layer (SPACE's encoder has group norm, whose statistics
    span the whole image), so a cell's features depend only on the receptive field around
    its own region — the locality that makes both models "spatially invariant" (SPAIR's
    title) and that the raster-order conditioning of SPAIR relies on.
    """

    def __init__(self, in_channels: int, image_side: int, grid: int, channels: int, out_features: int,
                 max_down: int = 3):
        super().__init__()
        layers, c, side = [], in_channels, image_side
        for _ in range(max_down):
            if side // 2 < grid:
                break
            layers += [nn.Conv2d(c, channels, 4, 2, 1), nn.CELU()]
            c, side = channels, side // 2
        self.convs = nn.Sequential(*layers)
        self.grid = grid
        self.head = nn.Sequential(nn.Conv2d(c, channels, 1), nn.CELU(), nn.Conv2d(channels, out_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(grid_pool(self.convs(x), self.grid))


class GlimpseVAE(nn.Module):
    """The object VAE over g x g glimpses: ``encode`` -> (μ, logvar) of z_what, ``decode`` ->
    logits (N, C+1, g, g) of the appearance (C channels) and the alpha (last channel)."""

    def __init__(self, channels: int, glimpse_size: int, latent_dim: int, arch: str, hidden: int, width: int = 32):
        super().__init__()
        self.channels, self.glimpse_size, self.latent_dim, self.arch = channels, glimpse_size, latent_dim, arch
        g, c = glimpse_size, channels
        if arch == "mlp":  # SPAIR: object encoder MLP [256, 128], decoder MLP [128, 256]
            self.encoder = nn.Sequential(nn.Flatten(), mlp([c * g * g, hidden, hidden // 2, 2 * latent_dim]))
            self.decoder = mlp([latent_dim, hidden // 2, hidden, (c + 1) * g * g])
        elif arch == "conv":  # thesis §6.4 (SAID's glimpse VAE): 4 conv + 2 FC each way
            s = g // 4
            if s < 1:
                raise FactorbenchError(f"glimpse_size {g} is too small for the conv glimpse VAE (at least 4)")
            self.encoder = nn.Sequential(
                nn.Conv2d(c, width, 3, 1, 1), nn.CELU(),
                nn.Conv2d(width, 2 * width, 4, 2, 1), nn.CELU(),
                nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.CELU(),
                nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.CELU(),
                nn.Flatten(), nn.Linear(4 * width * s * s, hidden), nn.CELU(), nn.Linear(hidden, 2 * latent_dim))
            self.dec_side = -(-g // 4)
            self.dec_width = 4 * width
            self.decoder_fc = nn.Sequential(nn.Linear(latent_dim, hidden), nn.CELU(),
                                            nn.Linear(hidden, 4 * width * self.dec_side ** 2), nn.CELU())
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.CELU(),
                nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.CELU(),
                nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.CELU(),
                nn.Conv2d(width, c + 1, 3, 1, 1))
        else:
            raise FactorbenchError(f"glimpse VAE arch must be 'mlp' or 'conv', got {arch!r}")

    def encode(self, patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(patches).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        g, c = self.glimpse_size, self.channels
        if self.arch == "mlp":
            return self.decoder(z).view(-1, c + 1, g, g)
        out = self.decoder(self.decoder_fc(z).view(-1, self.dec_width, self.dec_side, self.dec_side))
        if out.shape[-1] != g:
            out = bilinear_resize(out, (g, g))
        return out


def composite(appearance: torch.Tensor, alpha: torch.Tensor, center: torch.Tensor, half_size: torch.Tensor,
              depth: torch.Tensor, image_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Depth-ordered compositing of K objects per image (SPACE's importance-weighted rendering).

    ``appearance`` (B, K, C, g, g) in [0, 1], ``alpha`` (B, K, 1, g, g) in [0, 1] already
    multiplied by z_pres, boxes ``center``/``half_size`` (B, K, 2), ``depth`` (B, K).
    Each object's α̂·o and α̂ are pasted into its box; at each pixel the objects get
    weights w = softmax_k(α̂_k·100·σ(−depth_k)), so the front-most (lowest depth) opaque
    object wins. Returns (fg = Σ w·α̂·o (B, C, H, W), alpha_map = Σ w·α̂ (B, 1, H, W)).
    """
    b, k, c = appearance.shape[:3]
    h, w = image_size
    layers = torch.cat([appearance * alpha, alpha], dim=2).flatten(0, 1)
    full = paste_patches(layers, center.reshape(b * k, 2), half_size.reshape(b * k, 2), image_size)
    full = full.view(b, k, c + 1, h, w)
    colour, a = full[:, :, :c], full[:, :, c:]
    importance = a * DEPTH_IMPORTANCE_SCALE * torch.sigmoid(-depth).view(b, k, 1, 1, 1)
    weights = torch.softmax(importance, dim=1)
    return (weights * colour).sum(dim=1), (weights * a).sum(dim=1)


def clipped_adam(params, lr, max_grad_norm: float, betas=(0.9, 0.999)) -> torch.optim.Adam:
    """Adam whose every step first clips the gradient norm of ``params`` (a list of
    parameters or of param-group dicts) to ``max_grad_norm`` (both released codes clip at
    1.0); 0 disables clipping. The trainer only calls ``step``, so the clipping lives in a
    step pre-hook; the optimiser's state dict is unchanged by it."""
    opt = torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
    if max_grad_norm > 0:
        tensors = [p for group in opt.param_groups for p in group["params"]]

        def clip(optimizer, args, kwargs) -> None:
            nn.utils.clip_grad_norm_(tensors, max_grad_norm)

        opt.register_step_pre_hook(clip)
    return opt


def check_patches(patches: torch.Tensor, channels: int, glimpse_size: int, model: str) -> None:
    want = (channels, glimpse_size, glimpse_size)
    if patches.dim() < 4 or tuple(patches.shape[-3:]) != want:
        raise FactorbenchError(f"{model}: encode_patches expects patches of shape (..., {channels}, {glimpse_size}, "
                               f"{glimpse_size}), got {tuple(patches.shape)}; crop them with crop_patches at the "
                               "model's patch_size")


def finite_or_raise(loss: torch.Tensor, model: str, parts) -> None:
    """One clear error when the ELBO is NaN/inf (the trainer would only see a bad number)."""
    if not torch.isfinite(loss):
        bad = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
        raise FactorbenchError(f"{model}: the loss is not finite ({bad}); lower the learning rate or check the "
                               "input images are in [0, 1]")


class CellObjectModel:
    """What SPAIR and SPACE expose to the metrics, from their ``infer(x, sample=False)``
    (keys ``center``, ``half_size``, ``pres``, ``what_mu``, ``patches``) and ``glimpse_vae``:
    the shared :class:`~factorbench.models.objects.Detections` and the glimpse encoder."""

    @torch.no_grad()
    def glimpse(self, x: torch.Tensor) -> Detections:
        """One candidate per cell, raster order: boxes in pixels, score = z_pres
        probability, latent = z_what mean, keep = probability > 0.5."""
        lat = self.infer(x, sample=False)
        boxes = boxes_to_pixels(lat["center"], lat["half_size"], tuple(x.shape[-2:]))
        return Detections(boxes=boxes, scores=lat["pres"], latents=lat["what_mu"], keep=lat["pres"] > 0.5)

    @torch.no_grad()
    def glimpse_patches(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(patches (B, K, C, g, g) of the model's own boxes, keep (B, K)), for the digit-sum
        task to run (and fine-tune) :meth:`encode_patches` on."""
        lat = self.infer(x, sample=False)
        return lat["patches"], lat["pres"] > 0.5

    def encode_patches(self, patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of z_what for glimpses (..., C, g, g) -> (..., latent_dim) each."""
        check_patches(patches, self.image_shape[0], self.config.glimpse_size, self.name)
        lead = patches.shape[:-3]
        mu, logvar = self.glimpse_vae.encode(patches.reshape(-1, *patches.shape[-3:]))
        return mu.view(*lead, -1), logvar.view(*lead, -1)
