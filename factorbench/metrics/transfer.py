"""Transfer-learning diagnostics of a VAE's latent space (thesis §4.4, Table 4.1).

A VAE trained on one dataset encodes images of several datasets; two numbers say how far
apart they land in its latent space:

- :func:`dataset_identity_probe`: how well a *linear* classifier can tell, from μ, which
  dataset an image came from (Table 4.1's "μ train/test acc.", per dataset);
- :func:`mean_kl_to_prior`: the mean KL(q(z|x) || N(0, I)) over a dataset's images
  (Table 4.1's "KL"; lower is closer to the prior).

:func:`encode_datasets` brings every dataset to the model's input shape first (§4.4: "we
resize all the images to 64x64 ... convert MNIST to RGB images").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data.convert import convert_images
from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from ..models.distributions import gaussian_kl
from .batches import map_batches
from .probes import ProbeResult, linear_classifier

@dataclass
class DatasetIdentityResult(ProbeResult):
    """A :class:`ProbeResult` plus Table 4.1's per-dataset rows.

    ``per_dataset_*_acc[i]`` is the fraction of dataset ``i``'s rows that the classifier
    assigns to dataset ``i`` (its recall), on the train or test split.
    """

    per_dataset_train_acc: List[float] = field(default_factory=list)
    per_dataset_test_acc: List[float] = field(default_factory=list)
    n_train: int = 0
    n_test: int = 0


def dataset_identity_probe(codes: Sequence[np.ndarray], seed: int = 0,
                           test_fraction: float = 0.3) -> DatasetIdentityResult:
    """Can a linear classifier tell which dataset a code came from? (thesis §4.4, Table 4.1)

    ``codes[i]`` is the (N_i, D) code matrix (μ) of dataset ``i``; each row is labelled by
    its dataset index ``i``. A stratified train/test split (``test_fraction`` of every
    dataset to test, seeded by ``seed``) is made; a linear classifier is fit on the
    standardised train codes; reported: train/test accuracy, the chance level (the share
    of the largest dataset in the test split) and per-dataset accuracy (recall).

    Classifier: the thesis used "a simple multiclass perceptron"; this uses multinomial
    logistic regression, the same classifier as
    :func:`~factorbench.metrics.probes.linear_probe` (L2 C=1, lbfgs). Why: both are one
    linear layer with the decision rule argmax(W·z + b), so they ask the same question
    (are the datasets linearly separable in μ?), and a "multiclass perceptron" trained with
    softmax cross-entropy, as in deep-learning code, *is* this model. The classic
    perceptron rule instead never converges on non-separable data (COCO/ImageNet/CIFAR
    overlap, Table 4.1), so its accuracy depends on when the updates stop; and
    scikit-learn's ``Perceptron`` is one-vs-rest, which fails where a multiclass linear
    rule succeeds (a dataset lying between two others cannot be cut off from both by one
    hyperplane: tested, it got 72% train accuracy on three far-apart Gaussians that
    logistic regression separates perfectly). Not offered for that reason.
    """
    if len(codes) < 2:
        raise FactorbenchError("the dataset-identity probe needs codes of at least two datasets")
    if not 0.0 < test_fraction < 1.0:
        raise FactorbenchError(f"test_fraction must be in (0, 1), got {test_fraction}")
    mats = [np.asarray(c, np.float64) for c in codes]
    for i, m in enumerate(mats):
        if m.ndim != 2 or m.shape[1] != mats[0].shape[1]:
            raise FactorbenchError(f"codes[{i}] has shape {m.shape}; every dataset needs an (N, D) matrix with "
                                   f"the same D = {mats[0].shape[1] if mats[0].ndim == 2 else '?'}")
        if len(m) < 2:
            raise FactorbenchError(f"codes[{i}] has {len(m)} rows; a train/test split needs at least two")
        if not np.isfinite(m).all():
            raise FactorbenchError(f"codes[{i}] contain NaN or inf; the model is likely diverged")
    z = np.concatenate(mats)
    y = np.concatenate([np.full(len(m), i) for i, m in enumerate(mats)])
    try:
        z_train, z_test, y_train, y_test = train_test_split(
            z, y, test_size=test_fraction, stratify=y, random_state=seed)
    except ValueError as exc:  # too few rows for a stratified split
        raise FactorbenchError(f"cannot split the codes into train/test: {exc}") from exc

    model = make_pipeline(StandardScaler(), linear_classifier(seed)).fit(z_train, y_train)
    pred_train, pred_test = model.predict(z_train), model.predict(z_test)
    _, test_counts = np.unique(y_test, return_counts=True)
    return DatasetIdentityResult(
        train_acc=float((pred_train == y_train).mean()),
        test_acc=float((pred_test == y_test).mean()),
        chance=float(test_counts.max() / len(y_test)),
        per_dataset_train_acc=[float((pred_train[y_train == i] == i).mean()) for i in range(len(mats))],
        per_dataset_test_acc=[float((pred_test[y_test == i] == i).mean()) for i in range(len(mats))],
        n_train=len(y_train),
        n_test=len(y_test),
    )


def mean_kl_to_prior(mu, logvar) -> float:
    """Mean over images of KL(N(μ, exp(logvar)) || N(0, I)), in nats (Table 4.1's "KL").

    ``mu`` and ``logvar`` are (N, D) arrays or tensors (one row per image); the KL of a row
    is summed over its D dimensions (:func:`~factorbench.models.distributions.gaussian_kl`).
    """
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    if mu_t.ndim != 2 or mu_t.shape != logvar_t.shape or len(mu_t) == 0:
        raise FactorbenchError(f"mu and logvar must be (N, D) with the same shape and N > 0; "
                               f"got {tuple(mu_t.shape)} and {tuple(logvar_t.shape)}")
    if not (torch.isfinite(mu_t).all() and torch.isfinite(logvar_t).all()):
        raise FactorbenchError("mu or logvar contain NaN or inf; the model is likely diverged")
    kl = float(gaussian_kl(mu_t, logvar_t).mean())
    if not np.isfinite(kl):
        raise FactorbenchError("the KL to the prior overflowed (logvar too large)")
    return kl


def encode_datasets(model, datasets: Sequence[ArrayDataset], n_per_dataset: Optional[int] = 500,
                    batch_size: int = 256, device: str = "cpu",
                    seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(μ, logvar) of ``n_per_dataset`` random images of each dataset (thesis §4.4: 500 each).

    Images are drawn without replacement (seeded by ``seed``, kept in index order;
    ``n_per_dataset=None`` takes them all), converted to the model's ``image_shape`` by
    :func:`convert_images`, and encoded in eval mode in batches of ``batch_size`` on
    ``device`` (where the model must already be). Returns one pair of float32 (n, D) numpy
    arrays per dataset. NaN or inf codes raise :class:`FactorbenchError`.
    """
    image_shape = tuple(model.image_shape)
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    out = []
    try:
        for ds in datasets:
            n = len(ds) if n_per_dataset is None else int(n_per_dataset)
            if not 0 < n <= len(ds):
                raise FactorbenchError(f"dataset {ds.name}/{ds.split} has {len(ds)} images; "
                                       f"cannot draw {n} of them")
            indices = np.sort(rng.choice(len(ds), size=n, replace=False))
            outs = map_batches(lambda x: model.encode(convert_images(x, image_shape)),
                               ds.images(indices), batch_size, device)
            mu = torch.cat([m.detach().float().cpu() for m, _ in outs]).numpy()
            logvar = torch.cat([lv.detach().float().cpu() for _, lv in outs]).numpy()
            out.append((mu, logvar))
    finally:
        model.train(was_training)
    return out
