"""Random samples and reconstructions as figures, and a measurable collapse criterion
(thesis §3.5.1: "the LSR-GAN collapses with β = 0.01"; Figs 3.4–3.6, 3.11, 3.12).

The thesis marks collapsed runs ("Model Collapse", in the columns that score
reconstructions) without defining the criterion. Here a run is *collapsed* when its
outputs are far less diverse than the inputs they stand for:

    diversity(S) = mean over pairs i < j of ‖s_i − s_j‖₂ (pixels in [0, 1], flattened)
    sample_diversity_ratio = diversity(n random samples) / diversity(n test images)
    output_diversity_ratio = diversity(reconstructions of n test images) / diversity(those
                             images) for a model with an encoder (the thesis's columns are
                             about reconstructions); the sample ratio for a plain GAN
    collapsed = 1 if output_diversity_ratio < COLLAPSE_RATIO (0.25) else 0

A network that maps every input to (nearly) one image has a ratio near 0: a GAN generator
that ignores z, or a VAE whose posterior collapsed so that every reconstruction is the mean
image. Healthy outputs are near 1; blur removes some pixel variance, which is why the
threshold is well below 1. Tables print "collapse" where most seeds collapsed
(``[table] collapse = "collapsed"``).

Figures: ``samples.png`` (random samples, Figs 3.11/3.12) and ``reconstructions.png``
(test images, then the stage-1 VAE's reconstructions when the model has one, then the
model's: "input | VAE | LSR-GAN", Figs 3.4/3.5).
"""

from __future__ import annotations

from typing import List

import torch

from ..figures.grids import image_rows_png
from ..models.base import GenerativeModel
from .base import EvalContext, MetricValue, register_evaluator
from ..metrics.diversity import diversity_ratio
from ..metrics.image_sources import model_images

COLLAPSE_RATIO = 0.25


def can_reconstruct(model) -> bool:
    return type(model).reconstruct is not GenerativeModel.reconstruct


@register_evaluator("samples", {"sample_diversity_ratio": "none", "output_diversity_ratio": "none",
                                "collapsed": "none"})
def evaluate_samples(ctx: EvalContext, n: int = 200, n_show: int = 8, threshold: float = COLLAPSE_RATIO
                     ) -> List[MetricValue]:
    n = min(int(n), len(ctx.test))
    real = ctx.test.images()[:n]
    samples = model_images(ctx.model, "random", n, seed=ctx.seed, batch_size=ctx.batch_size, device=ctx.device)
    values = {"sample_diversity_ratio": diversity_ratio(samples, real)}
    basis = "random samples"
    values["output_diversity_ratio"] = values["sample_diversity_ratio"]
    if can_reconstruct(ctx.model):
        test_uint8 = torch.from_numpy(ctx.test.arrays["image"][:n])
        recons = model_images(ctx.model, "test", n, batch_size=ctx.batch_size, device=ctx.device,
                              test_images=test_uint8)
        values["output_diversity_ratio"] = diversity_ratio(recons, real)
        basis = "reconstructions"
    values["collapsed"] = float(values["output_diversity_ratio"] < threshold)
    _write_figures(ctx, samples, real[:n_show])
    protocol = {
        "definition": f"mean pairwise L2 distance of the model's outputs over that of the {n} test images they "
                      f"stand for (output: reconstructions of them for a model with an encoder, else random "
                      f"samples; sample: random samples); collapsed = output ratio < {threshold}",
        "n": n, "threshold": threshold, "collapse_basis": basis, "sampling": "z ~ N(0, I), seeded",
    }
    return [MetricValue(name, float(v), protocol) for name, v in values.items()]


def _write_figures(ctx: EvalContext, samples: torch.Tensor, shown: torch.Tensor) -> None:
    if ctx.figures is None:
        return
    cols = 8
    rows = [samples[i:i + cols] for i in range(0, min(len(samples), 4 * cols), cols)]
    image_rows_png(rows, ctx.figure_path("samples.png"))
    model = ctx.model.eval()
    x = shown.to(ctx.device)
    recon_rows, labels = [shown], ["test images"]
    with torch.no_grad():
        stage1 = getattr(model, "vae", None)
        if stage1 is not None:
            recon_rows.append(stage1.reconstruct(x).cpu())
            labels.append("stage-1 VAE")
        if not can_reconstruct(model):  # a plain GAN has no encoder: samples only
            return
        recon_rows.append(model.reconstruct(x).cpu())
        labels.append(model.name)
    image_rows_png(recon_rows, ctx.figure_path("reconstructions.png"), labels=labels)
