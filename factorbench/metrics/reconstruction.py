"""Reconstruction error (docs/protocols.md §4.2; thesis Tables 3.1/3.2).

The thesis's values (≈54 for a CIFAR-10 VAE) fit a per-image *sum* of squared errors with
pixels in [0, 1] (3072 values, ≈0.018 per value), so ``recon_mse`` is exactly that:
mean over test images of Σ_{c,h,w} (x − x̂)², x̂ decoded from the posterior mean.
"""

from __future__ import annotations


import torch



def sse_per_image(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Σ (x − x̂)² over channels and pixels, one value per image (float64)."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs {tuple(x_hat.shape)}")
    return (x.double() - x_hat.double()).pow(2).flatten(1).sum(dim=1)
