"""Evaluator ``transfer_latent``: a pre-trained VAE on several target datasets without
fine-tuning (thesis §4.4.1: Table 4.1, Figs 4.2 and 4.3).

For every dataset in ``targets`` (the source itself may be one of them, as COCO is in
Table 4.1) the first ``n_per_dataset`` images of its test split are converted to the
model's input shape and encoded. Values, one set per target (:attr:`MetricValue.target`):

- ``identity_probe_train_acc`` / ``identity_probe_test_acc``: the share of the target's
  codes that one linear classifier over all targets assigns to the right dataset, on its
  train / test split (:func:`~factorbench.metrics.transfer.dataset_identity_probe`;
  Table 4.1's "μ train/test acc."). The thesis: "there is no good or bad accuracy", so the
  table bolds nothing; chance is 1/K for K equal-sized targets.
- ``kl_prior``: mean KL(q(z|x) || N(0, I)) per image (Table 4.1's "KL").
- ``recon_mse``: per-image SSE of decode(μ) at the model's shape (Fig 4.2 as a number).

Figures: ``tsne.png`` (perplexity 30, Fig 4.3), ``pca.png`` (for comparison) and
``reconstructions.png`` (per target a row of test images and a row of reconstructions,
Fig 4.2).
"""

from __future__ import annotations

from typing import List

import numpy as np
import torch

from ..data import get_dataset
from ..data.convert import convert_images
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..figures.plots import scatter_png
from ..metrics.embedding import pca_2d, tsne_2d
from .base import EvalContext, MetricValue, register_evaluator, targets_from
from ..metrics.batches import map_batches
from ..metrics.reconstruction import sse_per_image
from ..metrics.transfer import dataset_identity_probe, encode_datasets, mean_kl_to_prior



@register_evaluator("transfer_latent", {"identity_probe_train_acc": "none", "identity_probe_test_acc": "none",
                                        "kl_prior": "none", "recon_mse": "lower"}, targets=targets_from("targets"))
def evaluate_transfer_latent(ctx: EvalContext, targets: List[str], n_per_dataset: int = 500,
                             perplexity: float = 30.0, dataset_seed: int = 0, test_fraction: float = 0.3,
                             n_show: int = 8) -> List[MetricValue]:
    if len(targets) < 2 or len(set(targets)) != len(targets):
        raise FactorbenchError(f"transfer_latent needs at least two distinct target datasets, got {targets}")
    datasets = [get_dataset(name, "test", n=n_per_dataset, seed=dataset_seed) for name in targets]
    for ds in datasets:
        if len(ds) < n_per_dataset:
            raise FactorbenchError(f"{ds.name}/test has {len(ds)} images; transfer_latent asks for {n_per_dataset}")
    codes = encode_datasets(ctx.model, datasets, n_per_dataset=None, batch_size=ctx.batch_size, device=ctx.device)
    probe = dataset_identity_probe([mu for mu, _ in codes], seed=ctx.seed, test_fraction=test_fraction)
    recon = [_recon_sse(ctx, ds) for ds in datasets]
    _write_figures(ctx, targets, datasets, codes, perplexity, n_show)
    protocol = {
        "definition": "per target dataset: share of its μ codes a linear classifier over all targets assigns to it "
                      "(train/test), mean KL(q(z|x)||N(0,I)) per image, per-image SSE of decode(μ); no fine-tuning",
        "targets": list(targets), "split": "test", "n_per_dataset": n_per_dataset, "dataset_seed": dataset_seed,
        "image_shape": list(ctx.model.image_shape),
        "conversion": "grey->RGB by repeating, RGB->grey by luminance; antialiased bilinear resize",
        "probe": {"classifier": "standardised μ, multinomial logistic regression (L2, C=1)",
                  "test_fraction": test_fraction, "n_train": probe.n_train, "n_test": probe.n_test,
                  "overall_train_acc": probe.train_acc, "overall_test_acc": probe.test_acc, "chance": probe.chance},
    }
    out = []
    for i, name in enumerate(targets):
        mu, logvar = codes[i]
        values = {"identity_probe_train_acc": probe.per_dataset_train_acc[i],
                  "identity_probe_test_acc": probe.per_dataset_test_acc[i],
                  "kl_prior": mean_kl_to_prior(mu, logvar), "recon_mse": recon[i]}
        out += [MetricValue(metric, float(v), protocol, target=name) for metric, v in values.items()]
    return out


def _converted(ctx: EvalContext, ds) -> torch.Tensor:
    return convert_images(ds.images(), ctx.model.image_shape)


def _recon_sse(ctx: EvalContext, ds) -> float:
    images = _converted(ctx, ds)
    ctx.model.eval()
    recons = torch.cat([r.cpu() for r in map_batches(ctx.model.reconstruct, images, ctx.batch_size, ctx.device)])
    return float(sse_per_image(images, recons).mean())


def _write_figures(ctx: EvalContext, targets: List[str], datasets, codes, perplexity: float, n_show: int) -> None:
    if ctx.figures is None:
        return
    mus = np.concatenate([mu for mu, _ in codes])
    labels = np.concatenate([np.full(len(mu), i) for i, (mu, _) in enumerate(codes)])
    scatter_png(tsne_2d(mus, perplexity=perplexity, seed=ctx.seed), labels, targets, ctx.figure_path("tsne.png"),
                title=f"t-SNE of μ, perplexity {perplexity:g} (cf. thesis Fig 4.3)")
    points, ratio = pca_2d(mus)
    scatter_png(points, labels, targets, ctx.figure_path("pca.png"),
                title=f"PCA of μ ({100 * ratio.sum():.0f}% of the variance)")
    rows, names = [], []
    with torch.no_grad():
        for name, ds in zip(targets, datasets):
            shown = _converted(ctx, ds)[:n_show]
            rows += [shown, ctx.model.reconstruct(shown.to(ctx.device)).cpu()]
            names += [name, "reconstruction"]
    image_rows_png(rows, ctx.figure_path("reconstructions.png"), labels=names)
