"""The Gaussian math every latent-variable model here shares (thesis §1.1).

- :func:`reparameterise`: the reparameterisation trick of §1.1 ("add a noise variable from
  standard Gaussian distribution ... to obtain a differentiable sample"):
  z = μ + ε·σ, ε ~ N(0, I), σ = exp(logvar/2).
- :func:`gaussian_kl`: the KL term of the ELBO (eq. 1.2) and of the β-VAE objective
  (eq. 1.3) for a diagonal Gaussian posterior and the N(0, I) prior, in closed form.
- :func:`empirical_variance_nll`: the reconstruction term of §1.1 with the Gaussian's
  variance set to the empirical residual variance σ̂² = Σ(x−x̂)²/N, which turns
  −Σ log N(x | x̂, σ²) = Σ(x−x̂)²/(2σ²) + (N/2) log 2πσ² into (N/2)(log 2πσ̂² + 1).
- :func:`sum_squared_error`: the same term with a constant σ² = 1/2 (plain Σ(x−x̂)², up to
  a constant), the common choice §1.1 warns about.

Pure functions over tensors: no module state, no model, no I/O. KL divergences to other
priors (SPACE/SPAIR's N(m, s²), SAID's learnt box prior) live with the models that use them
(:mod:`.object_cells`, :mod:`.said.losses`).
"""

from __future__ import annotations

import math

import torch

#: keeps log σ̂² finite for a perfect reconstruction
MIN_VARIANCE = 1e-10


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """One sample z = μ + ε·exp(logvar/2), ε ~ N(0, I) drawn with ``torch.randn_like`` from
    the global generator (§1.1, the reparameterisation trick); same shape as ``mu``."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats (the KL term of eqs. 1.2/1.3).

    ``mu``, ``logvar``: (B, D); returns (B,) = ½ Σ_d (μ_d² + σ_d² − 1 − log σ_d²).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def empirical_variance_nll(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian NLL with σ² set to the batch's empirical residual variance (§1.1).

    With D = C·H·W values per image and σ̂² = mean over the whole batch of (x−x̂)²
    (floored at :data:`MIN_VARIANCE`): (D/2)(log 2πσ̂² + 1), a scalar tensor (the batch's
    NLL divided by B).
    """
    per_value = x[0].numel()
    variance = (x - x_hat).pow(2).mean().clamp_min(MIN_VARIANCE)
    return 0.5 * per_value * (torch.log(2 * math.pi * variance) + 1.0)


def sum_squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image Σ(x−x̂)², averaged over the batch: the Gaussian NLL with a constant variance
    σ² = 1/2, dropping its constant (§1.1, "a β-VAE with unknown β")."""
    return (x - x_hat).pow(2).flatten(1).sum(dim=1).mean()
