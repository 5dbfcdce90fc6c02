"""What every model with a foreground code z_f and a background code z_b offers
(BFVAE, BFVAE with the whole-image encoder E'_f, BFVAE + LSR-GAN; thesis §5.3–5.4).

A subclass provides four things:

- ``foreground_code(x, mask, labels) -> (μ, logvar)`` of z_f (BFVAE: E_f on x⊙m [+ m];
  the E'_f variants: E'_f on the whole image, no mask needed);
- ``encode_background(x) -> (μ, logvar)`` of z_b (E_b on the whole image);
- ``decode_parts(z_b, z_f)`` (D_b, or the LSR-GAN generator);
- ``blank_foreground_code()`` -> (1, zf_dim): z_f of "no object" (a black f, §5.4.1 Fig 5.7
  and §5.4.2 Fig 5.11's last row).

and gets the deterministic helpers behind the chapter's figures, all on posterior means μ,
leaving the train/eval mode as the caller set it: ``encode_parts`` (probes, PCA of z_b),
``reconstruct``, ``swap`` (Figs 5.4, 5.6, 5.8, 5.11), ``background`` (Figs 5.8, 5.12),
``add_objects`` (Fig 5.7) and ``interpolate`` (Fig 5.13).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from ...errors import FactorbenchError


class TwoCodeModel:
    """Mixin for models with z = [z_b, z_f] (see the module docstring)."""

    def foreground_code(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                        labels: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # abstract

    def encode_background(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # abstract

    def decode_parts(self, z_b: torch.Tensor, z_f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # abstract

    def blank_foreground_code(self) -> torch.Tensor:
        raise NotImplementedError  # abstract

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise FactorbenchError(f"{self.name} has two codes, z_b and z_f: use encode_parts(x, mask) "
                               "(metrics: probe_factors, bfvae_figures)")

    def encode_parts(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                     labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """``zb_mu``, ``zb_logvar`` of q(z_b|x) and ``zf_mu``, ``zf_logvar`` of q(z_f|·)."""
        zf_mu, zf_logvar = self.foreground_code(x, mask, labels)
        zb_mu, zb_logvar = self.encode_background(x)
        return {"zb_mu": zb_mu, "zb_logvar": zb_logvar, "zf_mu": zf_mu, "zf_logvar": zf_logvar}

    def reconstruct(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                    labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """decode_parts(μ_b, μ_f): the deterministic reconstruction of x."""
        parts = self.encode_parts(x, mask, labels)
        return self.decode_parts(parts["zb_mu"], parts["zf_mu"])

    def swap(self, x_bg: torch.Tensor, x_fg: torch.Tensor, mask_fg: Optional[torch.Tensor] = None,
             labels_fg: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The swap grid (Figs 5.4, 5.6, 5.8, 5.11): (F, B, C, H, W), entry [i, j] =
        decode(z_b of x_bg[j], z_f of x_fg[i]) — drawn with x on top and f on the left."""
        zb, _ = self.encode_background(x_bg)
        zf, _ = self.foreground_code(x_fg, mask_fg, labels_fg)
        n_f, n_b = zf.shape[0], zb.shape[0]
        out = self.decode_parts(zb.repeat(n_f, 1), zf.repeat_interleave(n_b, dim=0))
        return out.view(n_f, n_b, *out.shape[1:])

    def background(self, x: torch.Tensor) -> torch.Tensor:
        """Pure background (§5.3; Figs 5.8, 5.12): decode(z_b of x, z_f of a blank f)."""
        zb, _ = self.encode_background(x)
        return self.decode_parts(zb, self.blank_foreground_code().expand(zb.shape[0], -1))

    def add_objects(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Gradual object addition (Fig 5.7) for one image x (C,H,W) with per-object masks
        (K,H,W): (K+1, C, H, W), entry k = decode(z_b of x, z_f of f_k) where f_k holds
        the first k objects (x⊙m_k with m_k their union; f_0 is black: "no objects")."""
        k = masks.shape[0]
        unions = torch.cat([torch.zeros_like(masks[:1]), masks.cumsum(0).clamp(max=1)])[:, None]  # (K+1,1,H,W)
        xs = x[None].expand(k + 1, -1, -1, -1)
        zb, _ = self.encode_background(xs)
        zf, _ = self.foreground_code(xs[1:] * unions[1:], unions[1:])
        return self.decode_parts(zb, torch.cat([self.blank_foreground_code(), zf]))

    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int,
                    mask_a: Optional[torch.Tensor] = None, mask_b: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Fig 5.13: (steps, steps, C, H, W), entry [r, c] = decode(z_b moved r/(steps−1) of
        the way from image a to image b, z_f moved c/(steps−1)); the top-left entry
        reconstructs a, the bottom-right b. ``x_a``/``x_b`` are single images (C,H,W)."""
        if steps < 2:
            raise FactorbenchError("interpolate needs at least 2 steps")
        ma, mb = (None if m is None else m[None] for m in (mask_a, mask_b))
        pa, pb = self.encode_parts(x_a[None], ma), self.encode_parts(x_b[None], mb)
        t = torch.linspace(0, 1, steps, device=x_a.device)[:, None]
        zb = pa["zb_mu"] + t * (pb["zb_mu"] - pa["zb_mu"])  # (steps, zb_dim), one per row
        zf = pa["zf_mu"] + t * (pb["zf_mu"] - pa["zf_mu"])  # one per column
        out = self.decode_parts(zb.repeat_interleave(steps, dim=0), zf.repeat(steps, 1))
        return out.view(steps, steps, *out.shape[1:])
