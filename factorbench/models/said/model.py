"""SAID, Spatial Attention for Information Detection (thesis §6.2.1–6.2.3, eqs. 6.1–6.5):
the model and its glimpse loop.

Split by job: the code lengths and the stop rule are in :mod:`.losses` (eqs. 6.2–6.4),
the glimpsing network and the patch VAE in :mod:`.networks` (§6.2.3), x̂(0) and writing a
patch back into its box in :mod:`.canvas` (§6.2.1, §6.2.3); this module holds the glimpse
loop shared with the error-map network of §6.2.2 (:class:`GlimpseModel`) and SAID itself.
Every name of those modules that was defined here is still importable from here.

One glimpse t, from the residual Δ(t) = x − x̂(t):

1. The glimpse network (3 conv + 2 FC, §6.2.3) reads Δ(t), plus the scope s(t) as a
   second input when ``scope``, and gives a diagonal Normal q(z_where) over a 4-d box
   code; z_where is sampled with the reparameterisation trick in training and is its mean
   at inference. It is squashed to a box: half-size h = h_min + (h_max − h_min)·σ(z_w),
   centre c = (1 − h)·tanh(z_c), so every box lies inside the image.
2. ε(t), the *original image* in the box ("ε(t) is the original image within the
   bounding box rather than the residual error", §6.2.3), is resampled to an 8x8 patch
   by the spatial transformer (:func:`~factorbench.models.objects.crop_patches`).
3. The patch VAE (encoder and decoder each 4 conv with ReLU + 2 FC, 10-d code, §6.2.3)
   encodes ε(t) to q(z(t)|ε(t)) and decodes a sample to ε̂(t) (plus an alpha channel when
   ``alpha``), which is resampled into the box
   (:func:`~factorbench.models.objects.paste_patches`):
   x̂(t+1) = (1 − m(t))⊙x̂(t) + m(t)⊙ε̂(t) (§6.2.3), m(t) the pasted alpha, or the box
   mask without ``alpha`` (Table 6.3 "no alpha"). Outside the box x̂ is unchanged.
4. Scope (eq. 6.5): s(0) = 1, s(t+1) = s(t)⊙(1 − m_box(t)), m_box the box mask.

Losses of glimpse t (per image, averaged over the batch), all in nats:

- L_vae (eq. 6.1) = −log p(ε(t)|ε̂(t)) + KL(q(z(t)|ε(t)) || N(0, I)), the reconstruction
  term under the empirical-variance Gaussian of §1.1 (the batch of patches'
  σ̂², :func:`~factorbench.models.distributions.empirical_variance_nll`);
- L_res (eq. 6.2) = code length of Δ(t+1) − code length of Δ(t), each image's residual
  coded under its own empirical variance (:func:`~.losses.residual_code_length`);
  negative when the glimpse helps;
- L_kl (eq. 6.3) = KL(q(z(t)|ε(t)) || N(0, I)), the cost of the new code;
- L_pos (eq. 6.4) = KL(q(z_where) || p(z_where)), p a diagonal Normal (config).

Stop rule (§6.2.3, §6.4.1): at inference glimpse t is kept while L_kl(t) ≤ −L_res(t) for
every t' ≤ t, per image; the first glimpse whose code costs more than it saves, and all
later ones, are dropped (:func:`~.losses.stop_rule`).

Choices where the thesis is silent or ambiguous (each stated in the config too):

- **One KL; who learns from what.** Eq. 6.3 is the KL term of eq. 6.1; adding both would
  count the code twice. The loss is L_vae + L_res + pos_weight·L_pos, with L_kl inside
  L_vae, counted once (``training_step`` reports it as ``kl``). "To train the VAE we
  minimise the standard ELBO" (eq. 6.1) while "summing these two terms [L_res + L_kl]
  provides a loss function for the network" (the glimpse network): so the reconstruction
  term of eq. 6.1 trains the patch VAE only (it is computed on ε(t) detached from the box,
  :meth:`SAID.patch_nll`), whereas L_kl, L_res and L_pos reach both the VAE and the
  glimpse network ("trained end-to-end", §6.1). Letting the patch reconstruction term
  move the box sends every glimpse to a blank corner, whose patch the empirical-variance
  likelihood rewards without bound (seen in a trial run).
- **Learning after every glimpse** (§6.2.3: "we learn after every iteration rather than
  build up a gradient over multiple iterations"): with ``update_every_glimpse`` (default)
  the model declares K phases ``glimpse0`` .. ``glimpse{K-1}`` on one optimiser, so the
  trainer takes one Adam step per glimpse. Phase t continues from x̂(t) (and s(t)) that
  phase t−1 produced on the same batch, detached, i.e. computed with the parameters as
  they were before their update, exactly an online learner; the state is carried on the
  model between the calls (never saved: checkpoints fall between batches). If phase t is
  called without phase t−1 before it on that batch, glimpses 0..t−1 are replayed without
  gradient. With ``update_every_glimpse = False`` one phase ``train`` sums the K glimpse
  losses, still detaching the residual between glimpses (one step per batch).
- **The lossy image x̂(0).** §6.4.4: the first input is "the difference between the
  original image and a lossy image that has been downsampled to 8 x 8 and then upsampled
  to the original size through bilinear interpolation": x̂(0) = up(down(x)), the
  downsampling antialiased (area-like, as image libraries' bilinear resize) so that thin
  strokes are blurred, not dropped; the side is ``patch_size``. ``lossy_input = "vae8"``
  (Table 6.3) decodes an 8x8 VAE's posterior mean of down(x) instead. The thesis's 8x8 VAE
  is separate from the glimpses (Fig 6.2); here it is a second patch VAE trained jointly on
  its own ELBO (added to glimpse 0's loss) and x̂(0) is detached from it, so no SAID loss
  shapes it: the same as a pretrained one once it has converged, with no extra stage.
- **Code-length variance** and **stop quantity**: see :mod:`.losses`.
- **Box prior.** z_where's prior is N(0, σ_c²) on the centre code and N(code of
  ``where_prior_half_size``, σ_s²) on the size code (values thesis silent). The glimpse
  network's last layer starts small with its bias at the prior, so training starts from
  q(z_where) ≈ p(z_where).
- **Reading Δ(t).** The glimpse network reads the signed residual x − x̂(t) (§6.2.1's
  Δ(t)); the error-map network of §6.2.2 reads its absolute value, as that section says.
- **No batch norm** (§6.2.3 lists conv layers with ReLU only), so train and eval modes
  compute the same thing and ``glimpse`` is deterministic (posterior means).
- **CUDA.** ``grid_sample`` has no deterministic CUDA backward, so training on a GPU needs
  the trainer's ``deterministic = false`` (the ``paper`` preset sets it); the model says so
  in one line instead of failing inside backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ...errors import FactorbenchError
from ..base import GenerativeModel, Phase, register_model
from ..objects import Detections, boxes_to_pixels, check_trainable_on, crop_patches, pixels_to_boxes
from ..distributions import empirical_variance_nll, gaussian_kl, reparameterise
from .canvas import downsample, lossy_image, upsample, write_back
from .config import SAIDConfig
from .losses import RESIDUAL_VARIANCE_FLOOR, normal_kl, residual_code_length, stop_rule
from .networks import HIDDEN, GlimpseNet, PatchVAE

#: this module's names and those that moved to losses.py, networks.py and canvas.py (still importable here)
__all__ = ["HIDDEN", "RESIDUAL_VARIANCE_FLOOR", "PHASE_PREFIX", "TRAIN_PHASE", "residual_code_length", "stop_rule",
           "normal_kl", "downsample", "upsample", "lossy_image", "write_back", "GlimpseNet", "PatchVAE",
           "GlimpseState", "GlimpseStep", "GlimpseTrace", "GlimpseModel", "SAID"]

PHASE_PREFIX = "glimpse"
TRAIN_PHASE = "train"


def _report(losses: Dict[str, torch.Tensor], extra: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``losses`` with ``extra`` terms added to ``loss``; every part but ``loss`` detached."""
    out = {k: (v if k == "loss" else v.detach()) for k, v in losses.items()}
    for name, value in extra.items():
        out["loss"] = out["loss"] + value
        out[name] = value.detach()
    return out


# ------------------------------------------------------------------------- the glimpse loop
@dataclass
class GlimpseState:
    """What glimpse t starts from: x̂(t) and, with scope, s(t)."""

    recon: torch.Tensor
    scope: Optional[torch.Tensor] = None

    def detached(self) -> "GlimpseState":
        return GlimpseState(self.recon.detach(), None if self.scope is None else self.scope.detach())


@dataclass
class GlimpseStep:
    """One glimpse's outcome: the box, the patch ε(t), its code, the next state, the losses
    (batch means; ``loss`` is the one to minimise) and, for SAID, the per-image L_kl and
    code-length reduction the stop rule compares."""

    center: torch.Tensor
    half_size: torch.Tensor
    patch: torch.Tensor
    latent: torch.Tensor
    state: GlimpseState
    losses: Dict[str, torch.Tensor]
    kl: Optional[torch.Tensor] = None
    reduction: Optional[torch.Tensor] = None


@dataclass
class GlimpseTrace:
    """K deterministic glimpses of a batch (posterior means): boxes (normalised), patches
    (B,K,C,s,s), latents (B,K,D), kl and reduction (B,K) (SAID), reconstructions x̂(0..K)
    (B,K+1,C,H,W) and keep (B,K)."""

    center: torch.Tensor
    half_size: torch.Tensor
    patches: torch.Tensor
    latents: torch.Tensor
    recons: torch.Tensor
    keep: torch.Tensor
    kl: Optional[torch.Tensor] = None
    reduction: Optional[torch.Tensor] = None


class GlimpseModel(GenerativeModel):
    """What SAID and the error-map network of §6.2.2 share: the glimpse network and its box
    code, the glimpse loop (one optimiser step per glimpse, or the summed loss), and the
    object-model interface (``glimpse``, ``reconstruct``, ``error_maps``).

    Subclasses implement ``initial_state``, ``glimpse_input`` and ``step``.
    """

    def __init__(self, config, image_shape, extra_input_channels: int = 0):
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        span = config.max_half_size - config.min_half_size
        q = (config.where_prior_half_size - config.min_half_size) / span
        size_code = math.log(q / (1 - q))  # the code whose squashed half-size is the prior's
        prior_mean = torch.tensor([0.0, 0.0, size_code, size_code])
        stds = torch.tensor([config.where_prior_center_std] * 2 + [config.where_prior_size_std] * 2)
        self.register_buffer("where_prior_mean", prior_mean, persistent=False)
        self.register_buffer("where_prior_logvar", 2 * stds.log(), persistent=False)
        self.glimpse_net = GlimpseNet(c + extra_input_channels, (h, w), config.base_channels, prior_mean,
                                      2 * stds.log())
        self._carry: Optional[Tuple[torch.Tensor, int, GlimpseState]] = None

    # -- subclass hooks ----------------------------------------------------------------------
    def initial_state(self, x: torch.Tensor, sample: bool) -> Tuple[GlimpseState, Dict[str, torch.Tensor]]:
        """x̂(0) (and s(0)), plus any losses of producing it (added to glimpse 0's loss)."""
        raise NotImplementedError  # abstract

    def glimpse_input(self, x: torch.Tensor, state: GlimpseState) -> torch.Tensor:
        raise NotImplementedError  # abstract

    def step(self, x: torch.Tensor, state: GlimpseState, sample: bool) -> GlimpseStep:
        raise NotImplementedError  # abstract

    # -- boxes -------------------------------------------------------------------------------
    def where(self, x: torch.Tensor, state: GlimpseState, sample: bool):
        """q(z_where) from the glimpse network; (z_where, mean, logvar), z_where sampled
        (reparameterised) when ``sample``, else the mean."""
        mean, logvar = self.glimpse_net(self.glimpse_input(x, state))
        return (reparameterise(mean, logvar) if sample else mean), mean, logvar

    def box(self, z_where: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Squash z_where (B,4) to a box inside the image: (centre, half-size), normalised."""
        lo, hi = self.config.min_half_size, self.config.max_half_size
        half = lo + (hi - lo) * torch.sigmoid(z_where[:, 2:])
        center = (1 - half) * torch.tanh(z_where[:, :2])
        return center, half

    def where_kl(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """L_pos (eq. 6.4) per image: KL(q(z_where) || p(z_where))."""
        return normal_kl(mean, logvar, self.where_prior_mean, self.where_prior_logvar)

    # -- training ----------------------------------------------------------------------------
    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        betas = (self.config.adam_beta1, self.config.adam_beta2)
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=betas)}

    def phases(self) -> List[Phase]:
        if self.config.update_every_glimpse:
            return [Phase(f"{PHASE_PREFIX}{t}", "main") for t in range(self.config.glimpses)]
        return [Phase(TRAIN_PHASE, "main")]

    def training_step(self, batch, phase: str) -> Dict[str, torch.Tensor]:
        x = self._check_images(batch["image"])
        check_trainable_on(self.name, x)
        losses = self._summed_step(x) if phase == TRAIN_PHASE else self._glimpse_step(x, phase)
        if not torch.isfinite(losses["loss"]):
            self._carry = None
            parts = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in losses.items())
            raise FactorbenchError(f"{self.name}: the {phase} loss is not finite ({parts}); lower the learning rate "
                                   "or check that the images are in [0, 1]")
        return losses

    def _glimpse_step(self, x: torch.Tensor, phase: str) -> Dict[str, torch.Tensor]:
        """Phase ``glimpse{t}``: glimpse t alone, from the state phase t−1 left."""
        t = self._phase_index(phase)
        extra: Dict[str, torch.Tensor] = {}
        if t == 0:
            state, extra = self.initial_state(x, sample=True)
        else:
            state = self._carried_state(x, t)
        out = self.step(x, state, sample=True)
        self._carry = None if t + 1 == self.config.glimpses else (x, t + 1, out.state.detached())
        return _report(out.losses, extra)

    def _summed_step(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One phase: the K glimpse losses summed, the state detached between glimpses."""
        state, extra = self.initial_state(x, sample=True)
        totals: Dict[str, torch.Tensor] = {}
        for _ in range(self.config.glimpses):
            out = self.step(x, state, sample=True)
            state = out.state.detached()
            for k, v in out.losses.items():
                totals[k] = totals[k] + v if k in totals else v
        return _report(totals, extra)

    def _phase_index(self, phase: str) -> int:
        names = [p.name for p in self.phases()]
        if phase not in names:
            raise FactorbenchError(f"{self.name}: unknown training phase {phase!r}; phases: {', '.join(names)}")
        return int(phase[len(PHASE_PREFIX):])

    def _carried_state(self, x: torch.Tensor, t: int) -> GlimpseState:
        """x̂(t) of this batch as phase t−1 left it; replayed without gradient if absent."""
        if self._carry is not None and self._carry[0] is x and self._carry[1] == t:
            return self._carry[2]
        with torch.no_grad():
            state, _ = self.initial_state(x, sample=True)
            for _ in range(t):
                state = self.step(x, state, sample=True).state
        return state

    # -- inference ---------------------------------------------------------------------------
    def _check_images(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise FactorbenchError(f"{self.name} expects images of shape (B, {', '.join(map(str, self.image_shape))}), "
                                   f"got {tuple(x.shape)}")
        return x

    def keep_mask(self, kl: Optional[torch.Tensor], reduction: Optional[torch.Tensor], b: int, k: int,
                  device) -> torch.Tensor:
        """Which glimpses count as objects; every one unless a subclass has a stop rule."""
        return torch.ones(b, k, dtype=torch.bool, device=device)

    @torch.no_grad()
    def trace(self, x: torch.Tensor, k: Optional[int] = None) -> GlimpseTrace:
        """``k`` (default ``eval_glimpses``) deterministic glimpses: means of q(z_where) and
        q(z), no sampling."""
        x = self._check_images(x)
        k = self.config.eval_glimpses if k is None else int(k)
        if k < 1:
            raise FactorbenchError(f"{self.name}: the number of glimpses must be at least 1, got {k}")
        state, _ = self.initial_state(x, sample=False)
        steps, recons = [], [state.recon]
        for _ in range(k):
            out = self.step(x, state, sample=False)
            steps.append(out)
            state = out.state
            recons.append(state.recon)
        kl = torch.stack([s.kl for s in steps], 1) if steps[0].kl is not None else None
        reduction = torch.stack([s.reduction for s in steps], 1) if steps[0].reduction is not None else None
        return GlimpseTrace(
            center=torch.stack([s.center for s in steps], 1),
            half_size=torch.stack([s.half_size for s in steps], 1),
            patches=torch.stack([s.patch for s in steps], 1),
            latents=torch.stack([s.latent for s in steps], 1),
            recons=torch.stack(recons, 1),
            keep=self.keep_mask(kl, reduction, x.shape[0], k, x.device),
            kl=kl,
            reduction=reduction,
        )

    def detections(self, trace: GlimpseTrace) -> Detections:
        b, k = trace.keep.shape
        boxes = boxes_to_pixels(trace.center, trace.half_size, self.image_shape[1:])
        order = torch.arange(k, 0, -1, dtype=boxes.dtype, device=boxes.device)  # earlier glimpse = higher
        return Detections(boxes=boxes, scores=order.expand(b, k).clone(), latents=trace.latents, keep=trace.keep)

    def glimpse(self, x: torch.Tensor, k: Optional[int] = None) -> Detections:
        """Object candidates (docs/protocols.md §4.4): K boxes in pixels, scores K − t (glimpse order),
        latents (posterior means), keep (SAID: the glimpses before the stop rule fires).
        Glimpse t of every image has the same score; AP takes such ties as one point of the
        precision/recall curve, so it does not depend on the order of the images
        (:mod:`factorbench.metrics.detection`)."""
        return self.detections(self.trace(x, k))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ after the kept glimpses of each image (x̂(count))."""
        tr = self.trace(x)
        count = tr.keep.sum(dim=1)
        return tr.recons[torch.arange(x.shape[0], device=x.device), count]

    def error_maps(self, x: torch.Tensor, k: Optional[int] = None) -> torch.Tensor:
        """The residuals Δ(0..K) = x − x̂(t) every glimpse reads (Fig 6.2/6.3): (B,K+1,C,H,W)."""
        tr = self.trace(x, k)
        return x.unsqueeze(1) - tr.recons


# ------------------------------------------------------------------------------------- SAID
@register_model("said")
class SAID(GlimpseModel):
    config_class = SAIDConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        # §6.4: "We train our model for 200 epochs"; on a GPU grid_sample's backward is not
        # deterministic (see the module docstring)
        "paper": {"epochs": 200, "batch_size": 64, "deterministic": False},
    }

    def __init__(self, config: SAIDConfig, image_shape):
        super().__init__(config, image_shape, extra_input_channels=int(config.scope))
        c = self.image_shape[0]
        self.patch_vae = PatchVAE(c, config.patch_size, config.latent_dim, config.base_channels, config.alpha,
                                  config.initial_alpha)
        if config.lossy_input == "vae8":
            self.lossy_vae = PatchVAE(c, config.patch_size, config.latent_dim, config.base_channels, alpha=False)

    # -- the glimpse loop --------------------------------------------------------------------
    def initial_state(self, x: torch.Tensor, sample: bool) -> Tuple[GlimpseState, Dict[str, torch.Tensor]]:
        side = self.config.patch_size
        small = downsample(x, side)
        extra: Dict[str, torch.Tensor] = {}
        if self.config.lossy_input == "vae8":
            mu, logvar = self.lossy_vae.encode(small)
            if sample:
                rec, _ = self.lossy_vae.decode(reparameterise(mu, logvar))
                extra["vae8"] = empirical_variance_nll(small, rec) + gaussian_kl(mu, logvar).mean()
            small = self.lossy_vae.decode(mu)[0].detach()
        recon = upsample(small, x.shape[-2:])
        scope = torch.ones_like(x[:, :1]) if self.config.scope else None
        return GlimpseState(recon, scope), extra

    def glimpse_input(self, x: torch.Tensor, state: GlimpseState) -> torch.Tensor:
        residual = x - state.recon
        return residual if state.scope is None else torch.cat([residual, state.scope], dim=1)

    def step(self, x: torch.Tensor, state: GlimpseState, sample: bool) -> GlimpseStep:
        z_where, where_mu, where_logvar = self.where(x, state, sample)
        center, half = self.box(z_where)
        side = self.config.patch_size
        patch = crop_patches(x, center, half, (side, side))  # ε(t): the image in the box
        mu, logvar = self.patch_vae.encode(patch)
        noise = torch.randn_like(mu) if sample else torch.zeros_like(mu)
        patch_hat, alpha = self.patch_vae.decode(mu + noise * (0.5 * logvar).exp())
        recon, box = write_back(state.recon, patch_hat, alpha, center, half)
        scope = None if state.scope is None else state.scope * (1 - box)  # eq. 6.5
        reduction = residual_code_length(x - state.recon) - residual_code_length(x - recon)  # −L_res, eq. 6.2
        kl = gaussian_kl(mu, logvar)  # L_kl, eq. 6.3
        pos = self.where_kl(where_mu, where_logvar)  # L_pos, eq. 6.4
        nll = self.patch_nll(patch, patch_hat, noise)  # eq. 6.1's reconstruction term
        l_kl, l_res, l_pos = kl.mean(), -reduction.mean(), pos.mean()
        losses = {
            "loss": nll + l_kl + l_res + self.config.pos_weight * l_pos,
            "vae": nll + l_kl,
            "nll": nll,
            "kl": l_kl,
            "res": l_res,
            "pos": l_pos,
        }
        return GlimpseStep(center, half, patch, mu, GlimpseState(recon, scope), losses, kl=kl, reduction=reduction)

    def patch_nll(self, patch: torch.Tensor, patch_hat: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """−log p(ε|ε̂) of eq. 6.1, with gradient to the patch VAE only: with autograd on,
        the VAE is re-run on ε detached from its box (same noise, so the same numbers), so
        the term cannot move the box towards patches that are merely easy to reconstruct."""
        if not torch.is_grad_enabled():
            return empirical_variance_nll(patch, patch_hat)
        fixed = patch.detach()
        mu, logvar = self.patch_vae.encode(fixed)
        return empirical_variance_nll(fixed, self.patch_vae.decode(mu + noise * (0.5 * logvar).exp())[0])

    def keep_mask(self, kl, reduction, b, k, device) -> torch.Tensor:
        return stop_rule(kl, reduction)

    # -- what the downstream task uses (Table 6.2) -------------------------------------------
    def encode_patches(self, patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q(z|ε) for patches (..., C, s, s) -> (..., latent_dim) each; with
        gradient, so the digit-sum task can fine-tune the encoder ("unfixed")."""
        lead = patches.shape[:-3]
        if tuple(patches.shape[-3:]) != (self.image_shape[0], self.config.patch_size, self.config.patch_size):
            raise FactorbenchError(f"said: patches must be (..., {self.image_shape[0]}, {self.config.patch_size}, "
                                   f"{self.config.patch_size}), got {tuple(patches.shape)}")
        mu, logvar = self.patch_vae.encode(patches.reshape(-1, *patches.shape[-3:]))
        return mu.reshape(*lead, -1), logvar.reshape(*lead, -1)

    def glimpse_patches(self, x: torch.Tensor, k: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The patches ε(t) of the first ``k`` deterministic glimpses (B,K,C,s,s), and keep (B,K)."""
        tr = self.trace(x, k)
        return tr.patches, tr.keep

    def crop_boxes(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Patches at given pixel boxes (B,K,4) xyxy -> (B,K,C,s,s), resampled as the glimpses
        are: the GT row of Table 6.2 ("feeding the ground truth bounding box into the
        encoder")."""
        x = self._check_images(x)
        b, k = boxes.shape[:2]
        center, half = pixels_to_boxes(boxes.to(x), self.image_shape[1:])
        side = self.config.patch_size
        images = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
        patches = crop_patches(images, center.reshape(-1, 2), half.reshape(-1, 2), (side, side))
        return patches.reshape(b, k, *patches.shape[1:])
