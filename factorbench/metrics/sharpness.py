"""Sharpness: the luminance-normalised Laplacian (docs/protocols.md §4.2; thesis §3.2.1, eq. 3.4).

The thesis measures sharpness "as a function of its Laplacian, normalized by the local
average luminance around each pixel" (San Pedro & Siersdorfer 2009, §3.1.2) and reports
0.17 ± 0.03 for VAE and 0.28 ± 0.08 for LSR-GAN reconstructions of CIFAR-10; higher is
sharper. Its numbers come from OpenIMAJ's ``Sharpness`` analyser, so this module follows
that implementation exactly (read in openimaj/openimaj on GitHub:
``image/image-feature-extraction/.../feature/global/Sharpness.java`` with its
``Laplacian3x3``, ``FConvolution``, ``AverageBoxFilter``, ``SummedAreaTable`` and
``colour/Transforms.RGB_TO_YUV``)::

    Sh = (1 / (H·W)) · Σ_{pixels with μ ≠ 0} |L / μ|

- **Y**: the Y channel of YUV, ``0.299 R + 0.587 G + 0.114 B`` on float pixels in [0, 1]
  (OpenIMAJ ``Transforms.RGB_TO_YUV``: "Y is in the range [0, 1]", no offset). A
  greyscale image is its own Y. Because Sh divides L by μ, it is invariant to scaling Y
  (0..1 and 0..255 give the same value), but not to an offset.
- **L**: the 3x3 Laplacian ``[[0,-1,0],[-1,4,-1],[0,-1,0]]``. OpenIMAJ convolves it in
  ``FConvolution``'s brute-force mode (the kernel has rank 2, so it is not separated),
  which writes a response only for rows ``1 .. H-3`` and columns ``1 .. W-3``
  (``for y = hh; y < height - (kh - hh)``) and leaves every other pixel 0: the one-pixel
  border *and* the last interior row and column score nothing. We reproduce that,
  off-by-one included, because the published numbers include it; a 32x32 image thus has
  29x29 scored pixels, while the normaliser stays H·W.
- **μ**: the 3x3 box mean of Y. OpenIMAJ's ``AverageBoxFilter`` (a summed-area table)
  averages over the part of the 3x3 window inside the image (area 4 at corners, 6 on
  edges), which is ``avg_pool2d(padding=1, count_include_pad=False)``.
- Pixels with μ = 0 are skipped (for images in [0, 1] they have L = 0 anyway).

We compute in float64 (OpenIMAJ uses float32; the difference is far below the reported
precision). L is formed as Σ over the 4 neighbours of (Y − neighbour), so a constant image
gives exactly 0. Mean and spread over images: :func:`sharpness_summary`.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FactorbenchError

#: ITU-R BT.601 luma weights, as in OpenIMAJ's RGB -> YUV transform
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: What every sharpness value means; evaluators and the CLI attach it to their results.
SHARPNESS_DEFINITION: Dict[str, Any] = {
    "definition": "OpenIMAJ Sharpness (San Pedro & Siersdorfer 2009): mean over pixels of |L/mu|",
    "luminance": "Y = 0.299 R + 0.587 G + 0.114 B, pixels in [0,1]",
    "laplacian": "3x3 [[0,-1,0],[-1,4,-1],[0,-1,0]], rows/cols 1..H-3 / 1..W-3 (OpenIMAJ brute-force bounds)",
    "local_mean": "3x3 box mean over in-image pixels",
    "normaliser": "H*W; pixels with mu == 0 skipped",
    "summary": "mean over images; std over images (ddof=0)",
}

ImageBatch = Union[torch.Tensor, np.ndarray]


def luminance(images: ImageBatch) -> torch.Tensor:
    """Y of a (N, C, H, W) batch as float64 (N, H, W); C = 1 (itself) or 3 (RGB -> YUV's Y).

    uint8 input is divided by 255 (Sh itself is scale-invariant; this keeps Y in [0, 1]).
    """
    x = torch.as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
    x = x.detach().to("cpu", torch.float64) / (255.0 if x.dtype == torch.uint8 else 1.0)
    if not torch.isfinite(x).all():
        raise FactorbenchError("images contain NaN or inf values; cannot compute sharpness")
    if x.shape[1] == 1:
        return x[:, 0]
    r, g, b = LUMA_WEIGHTS
    return r * x[:, 0] + g * x[:, 1] + b * x[:, 2]


def _sharpness_of_luminance(y: torch.Tensor) -> torch.Tensor:
    """Eq. 3.4 (OpenIMAJ form) for a float64 (N, H, W) luminance batch."""
    n, h, w = y.shape
    if h < 4 or w < 4:  # OpenIMAJ scores no pixel at all below 4x4
        return torch.zeros(n, dtype=torch.float64)
    # Scored pixels: rows 1..H-3, columns 1..W-3 (OpenIMAJ's BruteForce loop bounds).
    c = y[:, 1:h - 2, 1:w - 2]
    lap = ((c - y[:, 0:h - 3, 1:w - 2]) + (c - y[:, 2:h - 1, 1:w - 2])
           + (c - y[:, 1:h - 2, 0:w - 3]) + (c - y[:, 1:h - 2, 2:w - 1]))
    mu = F.avg_pool2d(y[:, None], kernel_size=3, stride=1, padding=1, count_include_pad=False)[:, 0]
    mu = mu[:, 1:h - 2, 1:w - 2]
    nonzero = mu != 0
    ratio = torch.where(nonzero, lap.abs() / torch.where(nonzero, mu, torch.ones_like(mu)), torch.zeros_like(mu))
    return ratio.flatten(1).sum(dim=1) / (h * w)


def sharpness(images: ImageBatch, batch_size: int = 1024) -> np.ndarray:
    """Per-image sharpness (eq. 3.4, OpenIMAJ ``Sharpness``) of a (N, C, H, W) batch.

    ``images``: a tensor or array, float in [0, 1] (or uint8), C = 1 or 3; any device.
    Works on any image set (reconstructions, samples, a folder's images). Returns a float64
    array of N values; higher is sharper, a constant image scores exactly 0.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    out = [_sharpness_of_luminance(luminance(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float64)


def sharpness_summary(values: Sequence[float]) -> Tuple[float, float]:
    """(mean, std) over images, the thesis's "0.17 ± 0.03" form; std is the population
    standard deviation (ddof = 0, numpy's default)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no sharpness values to summarise")
    return float(v.mean()), float(v.std())


def sharpness_protocol(values: np.ndarray, images: str) -> Dict[str, Any]:
    """The protocol of a sharpness result over ``values``; ``images`` says what was scored."""
    _, std = sharpness_summary(values)
    return {**SHARPNESS_DEFINITION, "images": images, "n_images": int(len(values)), "std_over_images": std}
