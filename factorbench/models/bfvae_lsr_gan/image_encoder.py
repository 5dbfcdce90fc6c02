"""Stage 2 of BFVAE + LSR-GAN: the whole-image foreground encoder E'_f (thesis §5.3.1, §5.4.2).

"We train a new encoder E'_f that can extract the z_f from G(z), we freeze all the other
parts of BFVAE and replace E_f with E'_f, then train the encoder in the original manner."

So this model is a trained BFVAE (loaded from its checkpoint, every part frozen and kept in
eval mode) plus E'_f, an encoder of the *whole image* x (no mask). Only E'_f is trained, on
the BFVAE's loss with E'_f(x) in place of E_f(f)::

    rec(x, D_b(z_b, z'_f)) + rec(f, D_f(z'_f)) + β_f·KL(q'(z_f|x)),   z'_f ~ q'(z_f|x)

(β·KL(q(z_b|x)) is constant here and left out). Training needs the masks (f = x⊙m); using
the model does not: ``foreground_code(x)`` reads x alone, so swaps, probes and the LSR-GAN
stage work on any image. E'_f has the BFVAE's backbone and is orthogonally initialised.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch

from ...errors import FactorbenchError
from ..backbones import build_encoder
from ..base import register_model
from ..bfvae.model import BFVAE
from ..distributions import gaussian_kl, reparameterise
from .config import BFVAEImageEncoderConfig
from .init import orthogonal_init_

#: config fields that fix the BFVAE's architecture
ARCHITECTURE = ("zf_dim", "zb_dim", "backbone", "base_channels", "mask_channel")


def check_architecture(model_name: str, mine, theirs, fields=ARCHITECTURE) -> None:
    for key in fields:
        if getattr(mine, key) != getattr(theirs, key):
            raise FactorbenchError(f"{model_name} expects a stage-1 model with {key} = {getattr(mine, key)!r}, the "
                                   f"checkpoint has {getattr(theirs, key)!r} (configure both stages alike)")


@register_model("bfvae_ef")
class BFVAEImageEncoder(BFVAE):
    config_class = BFVAEImageEncoderConfig
    stage1_model = "bfvae"
    train_schedules = {
        "ci": {"epochs": 2, "batch_size": 64},
        "quick": {"epochs": 10, "batch_size": 64},
        "paper": {"epochs": 100, "batch_size": 64},  # §5.4.2: "the new encoder E'_f for only 100 epochs"
    }

    def __init__(self, config: BFVAEImageEncoderConfig, image_shape):
        super().__init__(config, image_shape)
        self.requires_grad_(False)  # the BFVAE's parts stay as stage 1 trained them
        self.encoder_fx = build_encoder(config.backbone, self.image_shape, 2 * config.zf_dim, config.base_channels)
        if config.orthogonal_init:
            orthogonal_init_(self.encoder_fx)
        self.register_buffer("stage1_loaded", torch.zeros((), dtype=torch.uint8))

    def frozen_parts(self):
        return (self.encoder_f, self.decoder_f, self.encoder_b, self.decoder_b)

    def train(self, mode: bool = True):
        super().train(mode)
        for part in self.frozen_parts():
            part.eval()  # frozen BFVAE: BatchNorm keeps stage 1's statistics
        return self

    def make_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        betas = (self.config.adam_beta1, self.config.adam_beta2)
        return {"main": torch.optim.Adam(self.encoder_fx.parameters(), lr=self.config.lr, betas=betas)}

    def init_from_pretrained(self, source) -> None:
        """Load stage 1, a trained ``bfvae`` of the same architecture."""
        if getattr(source, "name", None) != "bfvae":
            raise FactorbenchError(f"bfvae_ef's stage 1 must be a bfvae, got a {getattr(source, 'name', type(source))}")
        check_architecture(self.name, self.config, source.config)
        missing, unexpected = self.load_state_dict(source.state_dict(), strict=False)
        if unexpected or any(not (k.startswith("encoder_fx.") or k == "stage1_loaded") for k in missing):
            raise FactorbenchError(f"bfvae_ef: the stage-1 BFVAE does not fit (missing {missing}, unexpected {unexpected})")
        self.stage1_loaded.fill_(1)

    def foreground_code(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                        labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q'(z_f|x): E'_f on the whole image (``mask``/``labels`` unused)."""
        mu, logvar = self.encoder_fx(x).chunk(2, dim=1)
        return mu, logvar

    def blank_foreground_code(self) -> torch.Tensor:
        """μ of z'_f for a blank (black) input image (Fig 5.11's last row)."""
        return self.foreground_code(torch.zeros(1, *self.image_shape, device=self.device))[0]

    def training_step(self, batch: Dict[str, Any], phase: str) -> Dict[str, torch.Tensor]:
        if not bool(self.stage1_loaded):
            raise FactorbenchError("bfvae_ef has no stage-1 BFVAE: train a bfvae first and start from it "
                                   "(factorbench train bfvae_ef --init-from <bfvae checkpoint>)")
        x = batch["image"]
        f, _ = self.batch_foreground(batch)
        mu, logvar = self.foreground_code(x)
        z_f = reparameterise(mu, logvar)
        with torch.no_grad():
            z_b = reparameterise(*self.encode_background(x))
        x_hat, f_hat = self.decode_parts(z_b, z_f), self.decoder_f(z_f)
        rec_b, rec_f = self.reconstruction_nll(x, x_hat), self.reconstruction_nll(f, f_hat)
        kl_f = gaussian_kl(mu, logvar).mean()
        loss = rec_b + rec_f + self.config.beta_f * kl_f
        parts = {"rec_b": rec_b, "rec_f": rec_f, "kl_f": kl_f, "mse_b": (x - x_hat).pow(2).mean(),
                 "mse_f": (f - f_hat).pow(2).mean()}
        return {"loss": loss, **{k: v.detach() for k, v in parts.items()}}
