"""The semantic latent space (thesis §4.4.3, eqs 4.1–4.3, Figs 4.7–4.9), measured.

The thesis shows that the encoder means μ of a (fine-tuned) VAE support arithmetic and
interpolation on semantic attributes:

- eq 4.1, *latent arithmetic*: Female_NoGlasses + Male_Glasses − Male_NoGlasses =
  Female_Glasses, computed on the μ of three chosen images and decoded (Fig 4.7);
- eq 4.2, *attribute interpolation*: NoSmile_Sample + λ(Smile − NoSmile) = Smile_Sample,
  where Smile / NoSmile are the means of μ over 500 smiling / 500 non-smiling images and
  λ ∈ [0, 0.5] (Fig 4.8);
- eq 4.3, *two attributes at once*: Sample + λ(Smile − NoSmile) + λ(Glass − NoGlass)
  = Smile_Glass_Sample, "and it does not affect other attributes" (Fig 4.9).

The pure functions here are those equations: :func:`latent_arithmetic` (4.1),
:func:`attribute_direction` (the "Smile − NoSmile" of 4.2), :func:`latent_path` (4.2 with
one direction, 4.3 with two added under the same λ) and :func:`arithmetic_triplets` (which
images play the three roles of 4.1 for two categorical attributes a, b).

:func:`semantic_scores` turns them into numbers. What differs from the thesis:

- the thesis shows a handful of hand-picked images; here many randomly drawn triplets and
  start images are decoded and every decode is *classified* by fixed attribute classifiers
  (trained on the raw train split at its native shape, e.g.
  :func:`~factorbench.metrics.recon_classifier.fixed_classifier`), giving accuracies: the
  fraction of decodes that carry the attribute values the equation asks for;
- the thesis's attributes are binary (CelebA) and it walks λ ∈ [0, 0.5]; our attributes
  may be categorical, and each start image is moved from its own value to a random other
  one, by default along λ = 0, .25, .5, .75, 1. The accuracies are read at the *last* λ:
  whether λ = 1 (start + the full difference of the two value means) reaches the target
  value is the point of the measurement; per-λ accuracies are returned too;
- the classifiers' accuracy on plain reconstructions decode(μ) of the same test images is
  returned as the ceiling (``recon_a_acc``, ``recon_b_acc``): a model whose reconstructions
  already lose an attribute cannot be expected to edit it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..data.convert import convert_images
from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..seeding import stage_seed
from .batches import map_batches
from .recon_classifier import predict

Array = Union[np.ndarray, torch.Tensor]
RngLike = Union[np.random.Generator, int, None]

#: default λ path of eqs 4.2/4.3 (the thesis's binary attributes use λ ∈ [0, 0.5])
DEFAULT_LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: nearest-neighbour upscaling of the images in the figures
FIGURE_SCALE = 2

DEFINITIONS = {
    "arithmetic_acc": "eq 4.1: fraction of test triplets (i, j, k) with a_i = α, b_i = β1; a_j = a_k = α2 ≠ α; "
                      "b_j = β2 ≠ β1; b_k = β1 whose decode(μ_i + μ_j − μ_k) is classified as (α, β2) "
                      "on both attributes",
    "arithmetic_a_acc": "eq 4.1: fraction of those decodes classified as α on attribute a",
    "arithmetic_b_acc": "eq 4.1: fraction of those decodes classified as β2 on attribute b",
    "interp_acc": "eq 4.2 on attribute b: test start image with b = β, random target β' ≠ β, "
                  "z = μ + λ(mean μ[b = β'] − mean μ[b = β]) over train images; fraction of decodes at the "
                  "last λ classified as β'",
    "interp_kept_acc": "eq 4.2: fraction of those decodes whose attribute a is still the start image's true a",
    "interp2_acc": "eq 4.3: both attributes moved at once to random other values, "
                   "z = μ + λ·dir_a + λ·dir_b; fraction of decodes at the last λ classified as both targets",
    "interp2_a_acc": "eq 4.3: fraction of those decodes classified as the a target",
    "interp2_b_acc": "eq 4.3: fraction of those decodes classified as the b target",
    "recon_a_acc": "ceiling: fraction of decode(μ) of the encoded test images classified as their true a",
    "recon_b_acc": "ceiling: fraction of decode(μ) of the encoded test images classified as their true b",
}


# -- pure functions: the equations ---------------------------------------------------------

def _as_rng(rng: RngLike) -> np.random.Generator:
    """``rng`` itself, a generator seeded with the int ``rng``, or seed 0 for None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else int(rng))


def latent_arithmetic(mu_pos1: Array, mu_pos2: Array, mu_neg: Array) -> Array:
    """Eq 4.1 (thesis §4.4.3): ``mu_pos1 + mu_pos2 − mu_neg``.

    Female_NoGlasses + Male_Glasses − Male_NoGlasses = Female_Glasses: the negative image
    shares the positive-2 image's "other" attribute and the positive-1 image's edited one,
    so both cancel. Rows broadcast ((N, D) with (D,) ...). NumPy in, NumPy out; if any
    argument is a torch tensor, all are taken as tensors (dtype/device of the first
    tensor) and a tensor comes out.
    """
    args = (mu_pos1, mu_pos2, mu_neg)
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if tensors:
        ref = tensors[0]
        p1, p2, ng = (torch.as_tensor(a, dtype=ref.dtype, device=ref.device) for a in args)
    else:
        p1, p2, ng = (np.asarray(a, dtype=np.result_type(np.asarray(a).dtype, np.float32)) for a in args)
    try:
        return p1 + p2 - ng
    except (RuntimeError, ValueError) as err:
        raise FactorbenchError(f"latent arithmetic on shapes {tuple(p1.shape)}, {tuple(p2.shape)}, "
                               f"{tuple(ng.shape)} that do not broadcast") from err


def _check_rows(mu: Array, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise FactorbenchError(f"expected one attribute label per row, got labels of shape {labels.shape}")
    if mu.ndim != 2 or mu.shape[0] != len(labels):
        raise FactorbenchError(f"expected μ of shape (N, D) with N = {len(labels)} labels, got {tuple(mu.shape)}")
    return labels


def rows_of_value(labels: np.ndarray, value: int, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of up to ``n_max`` rows with ``labels == value``, drawn without
    replacement by ``rng`` when there are more (all of them otherwise, ``rng`` untouched)."""
    rows = np.flatnonzero(np.asarray(labels) == value)
    if len(rows) > n_max:
        rows = np.sort(rng.choice(rows, size=int(n_max), replace=False))
    return rows


def attribute_direction(mu: Array, labels, value_from: int, value_to: int, n_max: int = 500,
                        rng: RngLike = None) -> Array:
    """The "Smile − NoSmile" of eq 4.2 (thesis §4.4.3): mean μ over up to ``n_max`` rows
    with ``labels == value_to`` minus the mean over up to ``n_max`` rows with
    ``labels == value_from`` (the thesis: 500 random images each).

    Rows are drawn without replacement by ``rng`` (a ``np.random.Generator``, an int seed,
    or None for seed 0), first for ``value_from`` then for ``value_to``; a value with at
    most ``n_max`` rows uses all of them. ``mu``: (N, D), NumPy or torch; the direction
    (D,) has the same type.
    """
    if not isinstance(mu, torch.Tensor):
        mu = np.asarray(mu, dtype=np.result_type(np.asarray(mu).dtype, np.float32))
    labels = _check_rows(mu, labels)
    if int(n_max) < 1:
        raise FactorbenchError(f"n_max must be at least 1, got {n_max}")
    rng = _as_rng(rng)
    means = []
    for value in (value_from, value_to):
        rows = rows_of_value(labels, value, int(n_max), rng)
        if len(rows) == 0:
            present = ", ".join(str(v) for v in np.unique(labels))
            raise FactorbenchError(f"no rows with attribute value {value}; values present: {present}")
        means.append(mu[torch.as_tensor(rows) if isinstance(mu, torch.Tensor) else rows].mean(0))
    return means[1] - means[0]


def latent_path(mu_start: Array, directions: Union[Array, Sequence[Array]], lambdas: Sequence[float]) -> Array:
    """Eqs 4.2 / 4.3 (thesis §4.4.3): ``mu_start + λ · Σ directions`` for every λ.

    ``mu_start``: (N, D). ``directions``: one direction (an array) or a list of them (eq
    4.3 adds two under the same λ), each (D,) shared by all rows or (N, D) per row.
    Returns (len(lambdas), N, D), of the type of ``mu_start``; row 0 is ``mu_start`` when
    ``lambdas[0] == 0``.
    """
    if not isinstance(mu_start, torch.Tensor):
        mu_start = np.asarray(mu_start)
    if mu_start.ndim != 2:
        raise FactorbenchError(f"mu_start must be (N, D), got shape {tuple(mu_start.shape)}")
    dirs = [directions] if isinstance(directions, (np.ndarray, torch.Tensor)) else list(directions)
    if not dirs:
        raise FactorbenchError("latent_path needs at least one direction")
    lam = np.asarray(lambdas, dtype=np.float64).reshape(-1)
    if len(lam) == 0 or not np.isfinite(lam).all():
        raise FactorbenchError(f"lambdas must be a non-empty sequence of finite numbers, got {list(lambdas)}")
    is_torch = isinstance(mu_start, torch.Tensor)
    if is_torch:
        dirs = [torch.as_tensor(d, dtype=mu_start.dtype, device=mu_start.device) for d in dirs]
        lam_t = torch.as_tensor(lam, dtype=mu_start.dtype, device=mu_start.device)
    else:
        mu_start = np.asarray(mu_start, dtype=np.result_type(mu_start.dtype, np.float32))
        dirs = [np.asarray(d, dtype=mu_start.dtype) for d in dirs]
        lam_t = lam.astype(mu_start.dtype)
    for d in dirs:
        if tuple(d.shape) not in (tuple(mu_start.shape), tuple(mu_start.shape[1:])):
            raise FactorbenchError(f"a direction of shape {tuple(d.shape)} does not fit mu_start of shape "
                                   f"{tuple(mu_start.shape)}; expected (D,) or (N, D)")
    total = dirs[0]
    for d in dirs[1:]:
        total = total + d
    return mu_start[None] + lam_t[:, None, None] * total[None]


class Triplets(NamedTuple):
    """Rows for eq 4.1: ``indices`` (n, 3) = (pos1 i, pos2 j, neg k); ``expected`` (n, 2) =
    the (a, b) values μ_i + μ_j − μ_k should decode to, i.e. (a_i, b_j)."""

    indices: np.ndarray
    expected: np.ndarray


def arithmetic_triplets(labels_a, labels_b, n: int, rng: RngLike) -> Triplets:
    """``n`` triplets of row indices (i, j, k) for eq 4.1 (thesis §4.4.3) with
    a_i = α, b_i = β1;  a_j = a_k = α2 ≠ α;  b_j = β2 ≠ β1;  b_k = β1,
    so μ_i + μ_j − μ_k should have attributes (α, β2) — e.g. a = gender, b = glasses:
    Female_NoGlasses + Male_Glasses − Male_NoGlasses = Female_Glasses.

    Sampling is exactly uniform over all valid ordered triplets, with replacement across
    the ``n`` draws. With c[α, β] the number of rows of cell (α, β), the valid triplets of
    value pattern (α, β1, α2, β2) number c[α, β1] · c[α2, β2] · c[α2, β1]; given the
    shared cell (α2, β1) of k the other two factors are independent. So: draw (α2, β1)
    with probability ∝ c[α2, β1] · Σ_{α≠α2} c[α, β1] · Σ_{β2≠β1} c[α2, β2]; then α ∝ c[α, β1]
    (α ≠ α2) and β2 ∝ c[α2, β2] (β2 ≠ β1); then i, j, k uniformly within their cells.
    ``rng``: a ``np.random.Generator``, an int seed, or None (seed 0). Raises
    :class:`FactorbenchError` if no valid triplet exists.
    """
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise FactorbenchError(f"expected two label arrays of shape (N,), got {a.shape} and {b.shape}")
    if int(n) < 1:
        raise FactorbenchError(f"the number of triplets must be at least 1, got {n}")
    rng = _as_rng(rng)
    a_values, a_idx = np.unique(a, return_inverse=True)
    b_values, b_idx = np.unique(b, return_inverse=True)
    counts = np.zeros((len(a_values), len(b_values)), dtype=np.float64)
    np.add.at(counts, (a_idx, b_idx), 1.0)
    other_a_same_b = counts.sum(axis=0, keepdims=True) - counts  # Σ_{α≠α2} c[α, β1] at [α2, β1]
    other_b_same_a = counts.sum(axis=1, keepdims=True) - counts  # Σ_{β2≠β1} c[α2, β2] at [α2, β1]
    weight = counts * other_a_same_b * other_b_same_a
    if weight.sum() == 0:
        raise FactorbenchError("no valid arithmetic triplet: eq 4.1 needs a value β1 of b seen with two values "
                               "α ≠ α2 of a, where α2 is also seen with another value β2 of b")
    cells = {(ia, ib): np.flatnonzero((a_idx == ia) & (b_idx == ib))
             for ia, ib in zip(*np.nonzero(counts))}
    k_cells = rng.choice(weight.size, size=int(n), p=(weight / weight.sum()).ravel())
    indices = np.zeros((int(n), 3), dtype=np.int64)
    for t, flat in enumerate(k_cells):
        ia2, ib1 = np.unravel_index(flat, weight.shape)
        wa = counts[:, ib1].copy()
        wa[ia2] = 0.0
        wb = counts[ia2, :].copy()
        wb[ib1] = 0.0
        ia = rng.choice(len(wa), p=wa / wa.sum())
        ib2 = rng.choice(len(wb), p=wb / wb.sum())
        indices[t] = [rng.choice(cells[ia, ib1]), rng.choice(cells[ia2, ib2]), rng.choice(cells[ia2, ib1])]
    expected = np.stack([a[indices[:, 0]], b[indices[:, 1]]], axis=1)
    return Triplets(indices, expected)


def random_other_values(current: np.ndarray, choices: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """For every entry of ``current``, a value drawn uniformly from ``choices`` minus itself."""
    choices = np.asarray(sorted(set(int(c) for c in choices)))
    out = np.empty(len(current), dtype=np.int64)
    for i, value in enumerate(np.asarray(current)):
        options = choices[choices != value]
        if len(options) == 0:
            raise FactorbenchError(f"no attribute value other than {value} to move to")
        out[i] = rng.choice(options)
    return out


# -- model plumbing ------------------------------------------------------------------------

def _encode_rows(model: nn.Module, ds: ArrayDataset, rows: np.ndarray, batch_size: int, device: str) -> torch.Tensor:
    """μ (CPU) of images ``rows`` of ``ds``, converted to ``model.image_shape`` first;
    images are loaded one batch at a time."""
    shape = model.image_shape

    def encode(x: torch.Tensor):
        return model.encode(convert_images(x, shape))

    mus = []
    for start in range(0, len(rows), batch_size):
        for mu, _ in map_batches(encode, ds.images(rows[start:start + batch_size]), batch_size, device):
            mus.append(mu.detach().cpu())
    mu = torch.cat(mus) if mus else torch.zeros(0, 0)
    if mu.ndim != 2:
        raise FactorbenchError(f"expected the encoder's μ of shape (N, D), got {tuple(mu.shape)}")
    return mu


def _decode_and_classify(model: nn.Module, z: torch.Tensor, classifiers: Sequence[nn.Module],
                         native_shape: Sequence[int], batch_size: int, device: str,
                         keep: int = 0) -> Tuple[List[np.ndarray], torch.Tensor]:
    """Decode latents ``z`` (M, D) in batches, clip to [0, 1], convert to the dataset's
    ``native_shape`` and classify with each classifier. Returns (one prediction array per
    classifier, the first ``keep`` decodes at the model's shape, on the CPU)."""
    preds: List[List[np.ndarray]] = [[] for _ in classifiers]
    kept = []
    for start in range(0, len(z), batch_size):
        (decoded,) = map_batches(model.decode, z[start:start + batch_size], batch_size, device)
        decoded = decoded.clamp(0, 1)
        if sum(len(k) for k in kept) < keep:
            kept.append(decoded[:keep - sum(len(k) for k in kept)].cpu())
        native = convert_images(decoded, native_shape)
        for p, classifier in zip(preds, classifiers):
            p.append(predict(classifier, native, batch_size, device))
    shape = tuple(model.image_shape)
    kept_images = torch.cat(kept) if kept else torch.zeros((0, *shape))
    return [np.concatenate(p) if p else np.zeros(0, np.int64) for p in preds], kept_images


# -- validation ----------------------------------------------------------------------------

def _attribute_labels(ds: ArrayDataset, attr: str) -> np.ndarray:
    labels = ds.labels(attr)  # FactorbenchError if absent
    if labels.ndim != 1:
        raise FactorbenchError(f"attribute {attr!r} of {ds.name} is per-object; the semantic latent space "
                               f"experiments need one label per image")
    return labels


def _check_settings(attr_a: str, attr_b: str, n_triplets: int, n_starts: int, n_mean: int,
                    lambdas: Sequence[float], n_show: int) -> None:
    if attr_a == attr_b:
        raise FactorbenchError(f"the two attributes must differ, got {attr_a!r} twice")
    for name, value, least in (("n_triplets", n_triplets, 1), ("n_starts", n_starts, 1), ("n_mean", n_mean, 1),
                               ("n_show", n_show, 0)):
        if int(value) < least:
            raise FactorbenchError(f"{name} must be at least {least}, got {value}")
    lam = np.asarray(lambdas, dtype=np.float64).reshape(-1)
    if len(lam) == 0 or not np.isfinite(lam).all():
        raise FactorbenchError(f"lambdas must be a non-empty sequence of finite numbers, got {list(lambdas)}")


# -- figures -------------------------------------------------------------------------------

def _prefixes(attr_a: str, attr_b: str) -> Tuple[str, str]:
    """One-letter names of the attributes for figure labels (their first letters, or a/b)."""
    pa, pb = attr_a[:1].lower(), attr_b[:1].lower()
    return (pa, pb) if pa and pb and pa != pb else ("a", "b")


def _path_rows(originals: torch.Tensor, kept: torch.Tensor) -> List[torch.Tensor]:
    """One figure row per start image: the (converted) original, then its decodes along λ.
    ``kept``: (L, S, C, H, W)."""
    return [torch.cat([originals[s:s + 1], kept[:, s]]) for s in range(len(originals))]


# -- the orchestration ---------------------------------------------------------------------

def _train_directions(model: nn.Module, train_ds: ArrayDataset, labels_a: np.ndarray, labels_b: np.ndarray,
                      n_mean: int, seed: int, batch_size: int, device: str):
    """Encode up to ``n_mean`` random train images per value of each attribute (each image
    once), and return ({attribute: {(from, to): direction}}, {attribute: {value: count}})."""
    rng = np.random.default_rng(stage_seed(seed, "semantic/means"))
    chosen = {name: np.concatenate([rows_of_value(lab, v, n_mean, rng) for v in np.unique(lab)])
              for name, lab in (("a", labels_a), ("b", labels_b))}
    union = np.union1d(chosen["a"], chosen["b"])
    mu_union = _encode_rows(model, train_ds, union, batch_size, device).double()
    directions, counts = {}, {}
    for name, lab in (("a", labels_a), ("b", labels_b)):
        rows = chosen[name]
        mu, sub = mu_union[np.searchsorted(union, rows)], lab[rows]
        values = [int(v) for v in np.unique(sub)]
        # each value has at most n_mean rows here, so attribute_direction uses all of them
        directions[name] = {(f, t): attribute_direction(mu, sub, f, t, n_max=n_mean)
                            for f in values for t in values if f != t}
        counts[name] = {str(v): int((sub == v).sum()) for v in values}
    return directions, counts


def _stack_directions(table: Dict[Tuple[int, int], torch.Tensor], from_values, to_values) -> torch.Tensor:
    return torch.stack([table[int(f), int(t)] for f, t in zip(from_values, to_values)])


def _path_accuracies(model, path: torch.Tensor, classifiers, native_shape, batch_size, device, n_show):
    """Decode/classify every step of a (L, N, D) path; returns per-step predictions
    (one list per classifier) and the kept decodes (L, n_show, C, H, W)."""
    per_step, kept = [], []
    for z in path:
        preds, decodes = _decode_and_classify(model, z.float(), classifiers, native_shape, batch_size,
                                              device, keep=n_show)
        per_step.append(preds)
        kept.append(decodes)
    return per_step, torch.stack(kept)


def semantic_scores(model: nn.Module, train_ds: ArrayDataset, test_ds: ArrayDataset, attr_a: str, attr_b: str,
                    classifier_a: nn.Module, classifier_b: nn.Module, n_triplets: int = 64, n_mean: int = 500,
                    lambdas: Sequence[float] = DEFAULT_LAMBDAS, seed: int = 0, batch_size: int = 256,
                    device: str = "cpu", figure_dir: Optional[Union[str, Path]] = None, n_show: int = 6,
                    n_starts: Optional[int] = None) -> Dict[str, Any]:
    """The semantic-latent-space experiments of thesis §4.4.3 (eqs 4.1–4.3) as accuracies.

    ``model`` (on ``device``) needs ``encode`` (→ μ, logvar), ``decode`` and
    ``image_shape``; images are converted to the model's shape with
    :func:`~factorbench.data.convert.convert_images` before encoding, and decodes (clipped
    to [0, 1]) are converted back to the dataset's native shape before classification.
    ``classifier_a`` / ``classifier_b``: any ``nn.Module`` on ``device`` mapping native
    images (N, C, H, W) in [0, 1] to class logits, e.g. ``fixed_classifier(train_ds, attr)``.

    - Means of μ per attribute value (and so the directions of eqs 4.2/4.3) come from up to
      ``n_mean`` random train images per value (the thesis: 500).
    - Eq 4.1: ``n_triplets`` test triplets from :func:`arithmetic_triplets`;
      decode(μ_i + μ_j − μ_k) should be classified as (a_i, b_j).
    - Eq 4.2: ``n_starts`` (default ``n_triplets``) random test images; each moves along
      μ + λ(mean[b = β'] − mean[b = β]) to a random β' ≠ β; read at the last λ: b = β'
      (``interp_acc``) and a unchanged (``interp_kept_acc``). Eq 4.3: the same start
      images, both attributes moved to random other values under one λ.
    - Ceiling: classifier accuracy on decode(μ) of every test image encoded above.

    Test images whose a or b value never occurs in the train split are left out (no mean to
    move from or to). Everything random is seeded from ``seed`` (one stream per stage).
    With ``figure_dir``: ``arithmetic.png`` (rows pos1 | pos2 | neg | decode, labelled
    e.g. "s2c0+s1c3-s1c0"), ``interpolation.png`` (eq 4.2) and ``interpolation2.png``
    (eq 4.3), rows "original, decodes along λ", ``n_show`` rows each, at the model's shape.

    Returns a dict: the float accuracies named in :data:`DEFINITIONS`, the per-λ curves
    ``interp_acc_by_lambda`` / ``interp2_acc_by_lambda``, the counts ``n_triplets``,
    ``n_starts``, ``n_recon``, ``n_mean``, ``mean_counts_a`` / ``mean_counts_b`` (train
    images behind each value's mean), ``lambdas``, ``attributes``, ``definitions`` and
    ``figures`` (paths written).
    """
    n_starts = n_triplets if n_starts is None else n_starts
    _check_settings(attr_a, attr_b, n_triplets, n_starts, n_mean, lambdas, n_show)
    lambdas = [float(v) for v in lambdas]
    train_a, train_b = _attribute_labels(train_ds, attr_a), _attribute_labels(train_ds, attr_b)
    test_a, test_b = _attribute_labels(test_ds, attr_a), _attribute_labels(test_ds, attr_b)
    for attr, lab in ((attr_a, train_a), (attr_b, train_b)):
        if len(np.unique(lab)) < 2:
            raise FactorbenchError(f"attribute {attr!r} has fewer than two values in {train_ds.name}/train; "
                                   f"there is no direction to move along")
    usable = np.flatnonzero(np.isin(test_a, np.unique(train_a)) & np.isin(test_b, np.unique(train_b)))
    if len(usable) == 0:
        raise FactorbenchError(f"no test image of {test_ds.name} has values of {attr_a!r} and {attr_b!r} "
                               f"seen in the train split")
    model.eval()
    with torch.no_grad():
        return _semantic_scores(model, train_ds, test_ds, attr_a, attr_b, classifier_a, classifier_b,
                                (train_a, train_b, test_a, test_b), usable, int(n_triplets), int(n_starts),
                                int(n_mean), lambdas, int(seed), int(batch_size), device, figure_dir, int(n_show))


def _semantic_scores(model, train_ds, test_ds, attr_a, attr_b, classifier_a, classifier_b, labels, usable,
                     n_triplets, n_starts, n_mean, lambdas, seed, batch_size, device, figure_dir, n_show):
    train_a, train_b, test_a, test_b = labels
    classifiers = (classifier_a, classifier_b)
    native = train_ds.image_shape  # the classifiers' input shape
    directions, mean_counts = _train_directions(model, train_ds, train_a, train_b, n_mean, seed, batch_size, device)

    # which test images: triplets (eq 4.1) and start images (eqs 4.2/4.3), encoded once
    try:
        triplets = arithmetic_triplets(test_a[usable], test_b[usable], n_triplets,
                                       np.random.default_rng(stage_seed(seed, "semantic/triplets")))
    except FactorbenchError as err:
        raise FactorbenchError(f"{test_ds.name}/{test_ds.split}, a = {attr_a!r}, b = {attr_b!r}: {err}") from err
    trip_rows = usable[triplets.indices]
    starts = np.random.default_rng(stage_seed(seed, "semantic/starts")).choice(
        usable, size=min(n_starts, len(usable)), replace=False)
    encoded = np.union1d(trip_rows.ravel(), starts)
    mu = _encode_rows(model, test_ds, encoded, batch_size, device).double()

    def mu_of(rows):
        return mu[np.searchsorted(encoded, rows)]

    # ceiling: plain reconstructions
    (rec_a, rec_b), _ = _decode_and_classify(model, mu.float(), classifiers, native, batch_size, device)

    # eq 4.1
    z = latent_arithmetic(mu_of(trip_rows[:, 0]), mu_of(trip_rows[:, 1]), mu_of(trip_rows[:, 2]))
    (ar_a, ar_b), ar_kept = _decode_and_classify(model, z.float(), classifiers, native, batch_size, device,
                                                 keep=n_show)
    ar_ok_a, ar_ok_b = ar_a == triplets.expected[:, 0], ar_b == triplets.expected[:, 1]

    # eq 4.2: attribute b of each start image to a random other value
    start_a, start_b = test_a[starts], test_b[starts]
    mu_start = mu_of(starts)
    target_b = random_other_values(start_b, np.unique(train_b), np.random.default_rng(stage_seed(seed, "semantic/targets")))
    path = latent_path(mu_start, _stack_directions(directions["b"], start_b, target_b), lambdas)
    steps, kept1 = _path_accuracies(model, path, classifiers, native, batch_size, device, n_show)
    interp_by_lambda = [float((p_b == target_b).mean()) for _, p_b in steps]

    # eq 4.3: both attributes at once, same λ
    rng2 = np.random.default_rng(stage_seed(seed, "semantic/targets2"))
    target2_a = random_other_values(start_a, np.unique(train_a), rng2)
    target2_b = random_other_values(start_b, np.unique(train_b), rng2)
    path2 = latent_path(mu_start, [_stack_directions(directions["a"], start_a, target2_a),
                                   _stack_directions(directions["b"], start_b, target2_b)], lambdas)
    steps2, kept2 = _path_accuracies(model, path2, classifiers, native, batch_size, device, n_show)
    interp2_by_lambda = [float(((p_a == target2_a) & (p_b == target2_b)).mean()) for p_a, p_b in steps2]
    last_a, last_b = steps[-1]
    last2_a, last2_b = steps2[-1]

    figures: List[str] = []
    if figure_dir is not None:
        figures = _write_figures(Path(figure_dir), model, test_ds, attr_a, attr_b, test_a, test_b, trip_rows,
                                 ar_kept, starts, (target_b, kept1), (target2_a, target2_b, kept2), n_show)
    return {
        "arithmetic_acc": float((ar_ok_a & ar_ok_b).mean()),
        "arithmetic_a_acc": float(ar_ok_a.mean()),
        "arithmetic_b_acc": float(ar_ok_b.mean()),
        "interp_acc": interp_by_lambda[-1],
        "interp_kept_acc": float((last_a == start_a).mean()),
        "interp2_acc": interp2_by_lambda[-1],
        "interp2_a_acc": float((last2_a == target2_a).mean()),
        "interp2_b_acc": float((last2_b == target2_b).mean()),
        "recon_a_acc": float((rec_a == test_a[encoded]).mean()),
        "recon_b_acc": float((rec_b == test_b[encoded]).mean()),
        "interp_acc_by_lambda": interp_by_lambda,
        "interp2_acc_by_lambda": interp2_by_lambda,
        "n_triplets": int(len(trip_rows)),
        "n_starts": int(len(starts)),
        "n_recon": int(len(encoded)),
        "n_mean": int(n_mean),
        "mean_counts_a": mean_counts["a"],
        "mean_counts_b": mean_counts["b"],
        "lambdas": lambdas,
        "attributes": {"a": attr_a, "b": attr_b},
        "definitions": dict(DEFINITIONS),
        "figures": figures,
    }


def _write_figures(figure_dir: Path, model, test_ds, attr_a, attr_b, test_a, test_b, trip_rows, ar_kept, starts,
                   interp1, interp2, n_show) -> List[str]:
    """arithmetic.png, interpolation.png, interpolation2.png (Figs 4.7–4.9), at the model's shape."""
    shape = model.image_shape
    pa, pb = _prefixes(attr_a, attr_b)

    def name(row):
        return f"{pa}{test_a[row]}{pb}{test_b[row]}"

    written = []
    n_ar = min(n_show, len(trip_rows))
    if n_ar:
        rows, labels = [], []
        for t in range(n_ar):
            i, j, k = trip_rows[t]
            inputs = convert_images(test_ds.images(np.array([i, j, k])), shape)
            rows.append(torch.cat([inputs, ar_kept[t:t + 1]]))
            labels.append(f"{name(i)}+{name(j)}-{name(k)}")
        written.append(image_rows_png(rows, figure_dir / "arithmetic.png", labels, scale=FIGURE_SCALE))
    n_in = min(n_show, len(starts))
    if n_in:
        originals = convert_images(test_ds.images(starts[:n_in]), shape)
        target_b, kept1 = interp1
        labels = [f"{pb}{test_b[s]}->{pb}{t}" for s, t in zip(starts[:n_in], target_b)]
        written.append(image_rows_png(_path_rows(originals, kept1[:, :n_in]), figure_dir / "interpolation.png",
                                      labels, scale=FIGURE_SCALE))
        target2_a, target2_b, kept2 = interp2
        labels = [f"{name(s)}->{pa}{ta}{pb}{tb}" for s, ta, tb in zip(starts[:n_in], target2_a, target2_b)]
        written.append(image_rows_png(_path_rows(originals, kept2[:, :n_in]), figure_dir / "interpolation2.png",
                                      labels, scale=FIGURE_SCALE))
    return [str(p) for p in written]
