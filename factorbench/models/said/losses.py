"""SAID's code lengths and its stop rule (thesis §6.2.1, §6.2.3, eqs. 6.2–6.4), all in nats,
per image; :mod:`.model` sums them into the loss of each glimpse.

- L_res (eq. 6.2): the change in the code length of the residual Δ = x − x̂, an image's
  residual costing (D/2)(log 2πσ̂² + 1) with σ̂² its own empirical variance (§6.2.1: "N
  log σ ... N the number of pixels times the number of colour channels"):
  :func:`residual_code_length`;
- L_kl (eq. 6.3): KL(q(z(t)|ε(t)) || N(0, I)) of the patch code
  (:func:`~factorbench.models.distributions.gaussian_kl`);
- L_pos (eq. 6.4): KL(q(z_where) || p(z_where)), both diagonal Normals: :func:`normal_kl`.

Stop rule (§6.2.3 "when this difference becomes positive then we stop glimpsing",
§6.4.1): at inference glimpse t is kept while L_kl(t) ≤ −L_res(t) for every t' ≤ t, per
image (:func:`stop_rule`).

Choices where the thesis is silent or ambiguous:

- **Code-length variance.** L_res and the stop rule use each image's own empirical
  variance (the stop rule is per image), floored at the variance of 8-bit quantisation
  noise, (1/255)²/12: below it a residual carries no information in 8-bit data, and the
  floor keeps log σ̂² finite on a perfectly reconstructed (e.g. blank) image.
- **Stop quantity.** §6.4.1 words it as "the KL term of the VAE is smaller than
  improvements on the mean squared error"; §6.2.3 and §6.4.3 as the reduction in the code
  length of the residual, which is what is used (in nats, the same units as the KL).
"""

from __future__ import annotations

import math

import torch

from ...errors import FactorbenchError

#: variance of uniform 8-bit quantisation noise: the floor of a residual's variance
RESIDUAL_VARIANCE_FLOOR = (1.0 / 255.0) ** 2 / 12.0


def residual_code_length(residual: torch.Tensor) -> torch.Tensor:
    """Code length (nats) of each image's residual (B, ...) -> (B,) (§6.2.1, eq. 6.2).

    Gaussian with zero mean and the image's own empirical variance σ̂² = mean(Δ²):
    −log p(Δ) = (D/2)(log 2πσ̂² + 1), D = C·H·W values; σ̂² floored at
    :data:`RESIDUAL_VARIANCE_FLOOR`.
    """
    d = residual[0].numel()
    variance = residual.pow(2).flatten(1).mean(dim=1).clamp_min(RESIDUAL_VARIANCE_FLOOR)
    return 0.5 * d * (torch.log(2 * math.pi * variance) + 1.0)


def stop_rule(kl: torch.Tensor, reduction: torch.Tensor) -> torch.Tensor:
    """Which glimpses are kept (§6.2.3 "when this difference becomes positive then we stop").

    ``kl`` (B, K): L_kl of each glimpse's code (eq. 6.3); ``reduction`` (B, K): how much
    it shortened the residual's code length (−L_res, eq. 6.2). Glimpse t is kept iff
    kl ≤ reduction at t and at every earlier glimpse: (B, K) bool, a prefix per image.
    """
    if kl.shape != reduction.shape or kl.dim() != 2:
        raise FactorbenchError(f"stop_rule: kl {tuple(kl.shape)} and reduction {tuple(reduction.shape)} must both "
                               "be (B, K)")
    pays = (kl <= reduction).to(torch.int64)
    return torch.cumprod(pays, dim=1).bool()


def normal_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor,
              prior_logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar)), diagonal, summed over the last dim."""
    ratio = (logvar - prior_logvar).exp()
    return 0.5 * (ratio + (mu - prior_mu).pow(2) / prior_logvar.exp() - 1.0 - (logvar - prior_logvar)).sum(-1)
