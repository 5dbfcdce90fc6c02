"""2-D embeddings of latent codes and their scatter plots (thesis §4.2, Figs 4.3 and 5.5).

- :func:`tsne_2d`: t-SNE (van der Maaten & Hinton 2008), perplexity 30 as in the thesis
  (Fig 4.3: μ of 500 images per dataset);
- :func:`pca_2d`: the top-2 principal components (Fig 5.5, of z_b);
(their scatter plots: :func:`factorbench.figures.plots.scatter_png`).

scikit-learn's manifold/decomposition modules are imported inside the
functions, so importing this module costs nothing.
"""

from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np

from ..errors import FactorbenchError


def _check_codes(codes, min_points: int) -> np.ndarray:
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2:
        raise FactorbenchError(f"codes must be an (N, D) matrix, got shape {codes.shape}")
    if len(codes) < min_points:
        raise FactorbenchError(f"a 2-D embedding needs at least {min_points} points, got {len(codes)}")
    if not np.isfinite(codes).all():
        raise FactorbenchError("codes contain NaN or inf; the model is likely diverged")
    return codes


def tsne_2d(codes, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """t-SNE of (N, D) ``codes`` to (N, 2), rows in the input order (thesis §4.2, Fig 4.3).

    scikit-learn's Barnes-Hut TSNE, PCA initialisation, automatic learning rate,
    ``random_state=seed``. Perplexity is roughly the number of effective neighbours, so it
    must stay well below N − 1: if ``perplexity > (N − 1) / 3`` (the bound of the original
    t-SNE code, which uses 3·perplexity nearest neighbours), it is clipped to (N − 1) / 3
    with a warning. Fewer than 3 points raise :class:`FactorbenchError`.
    """
    from sklearn.manifold import TSNE

    codes = _check_codes(codes, 3)
    limit = (len(codes) - 1) / 3.0
    if perplexity > limit:
        warnings.warn(f"t-SNE perplexity {perplexity} is too large for {len(codes)} points; "
                      f"clipped to (N - 1) / 3 = {limit:.3g}", stacklevel=2)
        perplexity = limit
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    return tsne.fit_transform(codes)


def pca_2d(codes) -> Tuple[np.ndarray, np.ndarray]:
    """Projection of (N, D) ``codes`` on their top-2 principal components (Fig 5.5).

    Codes are centred, not standardised. Returns the (N, 2) points (rows in the input
    order) and the explained variance ratio of the two components, shape (2,).
    """
    from sklearn.decomposition import PCA

    codes = _check_codes(codes, 2)
    if codes.shape[1] < 2:
        raise FactorbenchError(f"PCA to 2-D needs codes of at least 2 dimensions, got {codes.shape[1]}")
    pca = PCA(n_components=2)
    points = pca.fit_transform(codes)
    return points, pca.explained_variance_ratio_.copy()
