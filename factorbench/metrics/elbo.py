"""The evidence lower bound of a VAE on a set of images (thesis §1.1 eq. 1.3, §4.4.2 Fig 4.5).

−ELBO(x) = E_q(z|x)[−log p(x|z)] + KL(q(z|x) || N(0, I)), in nats per image, estimated with
one reparameterised sample z per image (seeded, so a value is reproducible). The likelihood
is the model's own (``model.dataset_nll``: the empirical-variance Gaussian over the whole
set, or the plain SSE). β is not applied: this is the ELBO itself, whatever β the model
was trained with.
"""

from __future__ import annotations

from typing import Dict

import torch

from ..errors import FactorbenchError
from ..models.distributions import gaussian_kl
from .reconstruction import sse_per_image


@torch.no_grad()
def negative_elbo(model, images: torch.Tensor, batch_size: int = 256, device: str = "cpu",
                  seed: int = 0) -> Dict[str, float]:
    """Mean −ELBO per image of ``images`` (float (N, C, H, W) in [0, 1], at the model's shape).

    Returns ``nelbo`` (= ``nll`` + ``kl``), ``nll`` (reconstruction term, from the sampled z),
    ``kl`` (KL to the prior) and ``recon_mse`` (per-image SSE of decode(μ), as
    :mod:`~factorbench.metrics.reconstruction`), all means over images.
    """
    if len(images) == 0:
        raise FactorbenchError("the ELBO needs at least one image")
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise FactorbenchError(f"images of shape {tuple(images.shape[1:])} for a model of shape {tuple(model.image_shape)}")
    generator = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    sse_sampled, sse_mean, kls = [], [], []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            mu, logvar = model.encode(x)
            noise = torch.randn(mu.shape, generator=generator).to(device)
            x_sampled = model.decode(mu + noise * (0.5 * logvar).exp())
            x_mean = model.decode(mu)
            kl = gaussian_kl(mu.double(), logvar.double())
            for t in (x_sampled, x_mean, kl):
                if not torch.isfinite(t).all():
                    raise FactorbenchError("the model produced NaN or inf values; its checkpoint is likely diverged")
            sse_sampled.append(sse_per_image(x, x_sampled).cpu())
            sse_mean.append(sse_per_image(x, x_mean).cpu())
            kls.append(kl.cpu())
    finally:
        model.train(was_training)
    sse = torch.cat(sse_sampled)
    nll = model.dataset_nll(sse, int(images[0].numel())).mean()
    kl = torch.cat(kls).mean()
    return {"nelbo": float(nll + kl), "nll": float(nll), "kl": float(kl), "recon_mse": float(torch.cat(sse_mean).mean())}
