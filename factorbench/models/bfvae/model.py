"""BFVAE, the background/foreground VAE (thesis §5.3, eqs. 5.2–5.3; §5.4.1; §5.4.3).

Two VAEs trained together on one loss:

- VAE-F: E_f encodes the foreground f = x⊙m (with the mask m appended as an extra input
  channel when ``mask_channel``) into q(z_f|f); D_f reconstructs f from a sample z_f.
- VAE-B: E_b encodes the whole image x into q(z_b|x); D_b reconstructs x from
  concat(z_b, z_f) — in that order, so ``decode(z)`` takes z = [z_b, z_f].

Loss per image, averaged over the batch (the negative of VAE-F's ELBO plus eq. 5.3)::

    rec(x, D_b(z_b, z_f)) + β·KL(q(z_b|x)) + rec(f, D_f(z_f)) + β_f·KL(q(z_f|f))

Choices where the thesis leaves room (each from its text):

- VAE-F "acts like a vanilla VAE" (§5.3): its own reconstruction and KL terms with weight 1
  (``beta_f`` = 1); eq. 5.3's β weighs KL(q(z_b|x)) only. §5.4.2 used "the same β for VAE-B
  and VAE-F" before LSR-GAN: set ``beta_f = beta`` for that. KL(q(z_f|f)) is counted once
  (eq. 5.2 has no z_f KL term of its own).
- D_b gets the *same sample* z_f that D_f decodes (§5.3: "A sample from this distribution,
  z_f, is used by the decoder D_f ... z_b is sampled ... and concatenated with z_f"), and
  "the two VAEs are trained simultaneously" (§5.1) on one loss, so L_b's gradient flows
  into E_f too (eq. 5.2's expectation is over q(z|x) = q(z_b|x)q(z_f|f)). Nothing is
  detached; E_f still only ever sees f, so z_f cannot carry background information.
- Both reconstruction terms use the VAE's likelihood (:mod:`..distributions`, as in the VAE): the empirical
  variance Gaussian (each term with its own σ̂²) or the sum of squared errors.
- The deterministic helpers (``encode_parts`` for probes, ``reconstruct``, ``swap``,
  ``background``, ``add_objects``, ``interpolate``) come from :mod:`.two_codes` and use
  posterior means μ; they leave the train/eval mode as the caller set it.

Attribute mode (§5.4.3): f is "a fixed input" per class of label ``attribute_label`` —
"we choose 10 images from 0 to 9 randomly and use these 10 images as fixed input of
VAE-F". The exemplars live in buffers (``exemplars``, ``exemplar_masks``,
``exemplar_set``), so checkpoints carry them. ``training_step`` fills every class not yet
set from the first image of that class in the batch, i.e. the first image of each class
in the seeded epoch-0 training order (a random but reproducible pick, as the thesis's);
``set_exemplars`` sets them explicitly (e.g. the glasses of §5.4.3, with their masks). The
exemplar is the whole image; its mask channel is all ones unless masks are given.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from ...errors import FactorbenchError
from ..base import GenerativeModel, register_model
from ..backbones import build_decoder, build_encoder
from ..distributions import empirical_variance_nll, gaussian_kl, reparameterise, sum_squared_error
from .config import BFVAEConfig
from .two_codes import TwoCodeModel

NEEDS_MASK = ("bfvae needs each image's foreground mask (batch['mask'], shape (B,1,H,W)): use a dataset with a "
              "'mask' field (shapes-fb, shapes-fb-black, shapes2d-rgb, digits-rgb), or attribute_mode")


@register_model("bfvae")
class BFVAE(TwoCodeModel, GenerativeModel):
    config_class = BFVAEConfig
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        "paper": {"epochs": 100, "batch_size": 64},  # §5.4.2: "we train the BFVAE ... for only 100 epochs"
    }

    def __init__(self, config: BFVAEConfig, image_shape):
        super().__init__(config, image_shape)
        c, h, w = self.image_shape
        backbone, width = config.backbone, config.base_channels
        f_shape = (c + int(config.mask_channel), h, w)
        self.encoder_f = build_encoder(backbone, f_shape, 2 * config.zf_dim, width)
        self.decoder_f = build_decoder(backbone, config.zf_dim, self.image_shape, width)
        self.encoder_b = build_encoder(backbone, self.image_shape, 2 * config.zb_dim, width)
        self.decoder_b = build_decoder(backbone, config.zb_dim + config.zf_dim, self.image_shape, width)
        if config.attribute_mode:
            k = config.attribute_classes
            self.register_buffer("exemplars", torch.zeros(k, c, h, w))
            self.register_buffer("exemplar_masks", torch.ones(k, 1, h, w))
            self.register_buffer("exemplar_set", torch.zeros(k, dtype=torch.bool))

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        betas = (self.config.adam_beta1, self.config.adam_beta2)
        return {"main": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=betas)}

    # -- the foreground input ----------------------------------------------------------------
    def foreground(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                   labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(f, m) for images ``x``: (x⊙m, m), or in attribute mode the exemplars of ``labels``."""
        if self.config.attribute_mode:
            if labels is None:
                raise FactorbenchError(f"bfvae in attribute mode needs the {self.config.attribute_label!r} label "
                                       "of each image to pick its exemplar")
            labels = self._check_classes(labels)
            missing = sorted(set(labels[~self.exemplar_set[labels]].tolist()))
            if missing:
                raise FactorbenchError(f"bfvae: no exemplar for class(es) {missing} of {self.config.attribute_label!r}; "
                                       "train the model or call set_exemplars first")
            return self.exemplars[labels], self.exemplar_masks[labels]
        if mask is None:
            raise FactorbenchError(NEEDS_MASK)
        if mask.shape != (x.shape[0], 1, *x.shape[2:]):
            raise FactorbenchError(f"bfvae: mask of shape {tuple(mask.shape)} for images of shape {tuple(x.shape)}; "
                                   "expected (B,1,H,W)")
        return x * mask, mask

    def foreground_input(self, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """What E_f reads: f, plus m as an extra channel with ``mask_channel`` (§5.3)."""
        return torch.cat([f, m], dim=1) if self.config.mask_channel else f

    @torch.no_grad()
    def set_exemplars(self, images: torch.Tensor, labels: torch.Tensor, masks: Optional[torch.Tensor] = None) -> None:
        """Attribute mode: class k's exemplar becomes the first image of class k in ``images``
        (with its mask from ``masks``, else all ones); classes absent keep theirs."""
        self._store_exemplars(images, labels, masks, overwrite=True)

    def _store_exemplars(self, images, labels, masks, overwrite: bool) -> None:
        if not self.config.attribute_mode:
            raise FactorbenchError("bfvae: exemplars exist only in attribute_mode")
        labels = self._check_classes(labels)
        for k in labels.unique().tolist():
            if overwrite or not bool(self.exemplar_set[k]):
                i = int((labels == k).nonzero()[0, 0])
                self.exemplars[k] = images[i].to(self.exemplars)
                self.exemplar_masks[k] = 1.0 if masks is None else masks[i].to(self.exemplar_masks)
                self.exemplar_set[k] = True

    def _check_classes(self, labels) -> torch.Tensor:
        labels = torch.as_tensor(labels, device=self.exemplar_set.device).long()
        k = self.config.attribute_classes
        if labels.numel() and (labels.min() < 0 or labels.max() >= k):
            raise FactorbenchError(f"bfvae: {self.config.attribute_label!r} values must be in 0..{k - 1} "
                                   f"(attribute_classes={k}), got {sorted(set(labels.tolist()))}")
        return labels

    # -- encoders and decoders ---------------------------------------------------------------
    def encode_foreground(self, f: torch.Tensor, m: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q(z_f|f)."""
        mu, logvar = self.encoder_f(self.foreground_input(f, m)).chunk(2, dim=1)
        return mu, logvar

    def encode_background(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q(z_b|x)."""
        mu, logvar = self.encoder_b(x).chunk(2, dim=1)
        return mu, logvar

    def foreground_code(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                        labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q(z_f|f) for the foreground of x (its mask, or its class exemplar)."""
        return self.encode_foreground(*self.foreground(x, mask, labels))

    def blank_foreground_code(self) -> torch.Tensor:
        """μ of z_f for a black f with an empty mask ("no objects", §5.4.1 Fig 5.7)."""
        blank = torch.zeros(1, *self.image_shape, device=self.device)
        return self.encode_foreground(blank, blank[:, :1])[0]

    def decode_parts(self, z_b: torch.Tensor, z_f: torch.Tensor) -> torch.Tensor:
        """D_b(concat(z_b, z_f))."""
        return self.decoder_b(torch.cat([z_b, z_f], dim=1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """D_b of z = [z_b, z_f] (``zb_dim + zf_dim`` values per row)."""
        return self.decoder_b(z)

    def sample(self, n: int, generator: torch.Generator = None) -> torch.Tensor:
        z = torch.randn(n, self.config.zb_dim + self.config.zf_dim, generator=generator, device=self.device)
        return self.decode(z)

    # -- training ------------------------------------------------------------------------------
    def reconstruction_nll(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Per-image NLL under the VAE's likelihood (``empirical`` or ``constant``)."""
        if self.config.likelihood == "empirical":
            return empirical_variance_nll(x, x_hat)
        return sum_squared_error(x, x_hat)

    def batch_foreground(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        """(f, m) of a training batch; in attribute mode first stores missing exemplars."""
        x = batch["image"]
        if not self.config.attribute_mode:
            return self.foreground(x, batch.get("mask"))
        name = self.config.attribute_label
        labels = batch.get("labels", {}).get(name)
        if labels is None or not torch.is_tensor(labels):
            have = ", ".join(sorted(batch.get("labels", {}))) or "none"
            raise FactorbenchError(f"bfvae attribute_mode needs the per-image label {name!r}; the dataset has: {have}")
        if not bool(self.exemplar_set.all()):
            with torch.no_grad():
                self._store_exemplars(x, labels, None, overwrite=False)
        return self.foreground(x, labels=labels)

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        x = batch["image"]
        f, m = self.batch_foreground(batch)
        zf_mu, zf_logvar = self.encode_foreground(f, m)
        zb_mu, zb_logvar = self.encode_background(x)
        z_f = reparameterise(zf_mu, zf_logvar)
        z_b = reparameterise(zb_mu, zb_logvar)
        f_hat = self.decoder_f(z_f)
        x_hat = self.decode_parts(z_b, z_f)
        rec_b, rec_f = self.reconstruction_nll(x, x_hat), self.reconstruction_nll(f, f_hat)
        kl_b, kl_f = gaussian_kl(zb_mu, zb_logvar).mean(), gaussian_kl(zf_mu, zf_logvar).mean()
        loss = rec_b + rec_f + self.config.beta * kl_b + self.config.beta_f * kl_f
        parts = {"rec_b": rec_b, "rec_f": rec_f, "kl_b": kl_b, "kl_f": kl_f,
                 "mse_b": (x - x_hat).pow(2).mean(), "mse_f": (f - f_hat).pow(2).mean()}
        return {"loss": loss, **{k: v.detach() for k, v in parts.items()}}
