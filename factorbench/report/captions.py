"""Captions of the figures the evaluators write, by file name (thesis figure in brackets)."""

from __future__ import annotations

import re
from typing import Dict

CAPTIONS: Dict[str, str] = {
    "samples": "random samples from the prior",
    "reconstructions": "test images (top row) and their reconstructions (bottom row)",
    "tsne": "t-SNE of the posterior means, coloured by dataset (Fig 4.3)",
    "pca": "PCA of the posterior means, coloured by dataset (Fig 4.3)",
    "arithmetic": "latent arithmetic: attribute vectors added to codes, eq. 4.1 (Fig 4.7)",
    "interpolation": "interpolation between two codes (Figs 4.8, 5.5)",
    "interpolation2": "interpolation towards an attribute, eq. 4.3 (Fig 4.9)",
    "swap": "z_b/z_f swaps: backgrounds of one row with foregrounds of another (Fig 5.4)",
    "background": "pure backgrounds decoded from z_b (Fig 5.4)",
    "addition": "objects added to a scene by combining codes (Fig 5.7)",
    "boxes": "predicted boxes over test images (Fig 6.4)",
    "glimpses": "glimpses drawn step by step, one more glimpse per column (Figs 6.3, 6.7)",
    "glimpses_errors": "the 0.15-thresholded error maps before each glimpse (Fig 6.2)",
}

_PATTERNS = [
    (re.compile(r"^finetune-(.+)-elbo$"), "test −ELBO of VAE-Tune and VAE-New on {0} during fine-tuning (Fig 4.6)"),
    (re.compile(r"^finetune-(.+)-recon$"), "reconstructions of {0} by VAE-Tune and VAE-New (Fig 4.5)"),
    (re.compile(r"^pca_zb_(.+)$"), "PCA of z_b coloured by {0} (Fig 5.6)"),
    (re.compile(r"^boxes_(.+)$"), "predicted boxes over {0} test images (Fig 6.4)"),
]


def figure_caption(stem: str) -> str:
    """What a figure file shows, from its name (the name itself when it is not a known one)."""
    if stem in CAPTIONS:
        return CAPTIONS[stem]
    for pattern, text in _PATTERNS:
        m = pattern.match(stem)
        if m:
            return text.format(*m.groups())
    return stem.replace("_", " ")
