"""Fine-tuning a pre-trained VAE on a small target set against training one from scratch
(thesis §4.4.2, Figs 4.4 and 4.5).

The thesis takes 100 random CelebA images, fine-tunes the COCO VAE on them for 50 epochs
("VAE-Tune") and trains a new VAE with the same architecture on the same 100 images for
50 epochs ("VAE-New"); it plots both ELBO curves per epoch and shows test reconstructions.

Here both runs are ordinary checkpointed training runs derived from the source checkpoint
and stored beneath it (:mod:`factorbench.models.derived`). This evaluator does not train
them: it declares them (``derived=``, :func:`derived_runs`) and the derived-run stage
(:func:`factorbench.train.derived.train_derived`, run by the benchmark runner and by
``fb.evaluate`` before the evaluator) trains them once; every evaluator or benchmark that
asks for the same settings reuses them. The evaluator loads them and scores them.

Evaluator ``finetune`` (one set of values per target dataset):

- ``vae_tune_test_nelbo`` / ``vae_new_test_nelbo``: −ELBO per image on the target's test
  images (:func:`~factorbench.metrics.elbo.negative_elbo`; lower is better);
- ``vae_tune_test_recon_mse`` / ``vae_new_test_recon_mse``: per-image SSE of decode(μ);
- ``tune_gain_test_nelbo``: VAE-New's −ELBO minus VAE-Tune's (positive: fine-tuning wins).

Figures: ``finetune-<target>-elbo.png`` and ``.csv`` (training −ELBO per epoch, the mean
of the logged training loss over each epoch's steps: Fig 4.5) and
``finetune-<target>-recon.png`` (rows: test images, VAE-New, VAE-Tune: Fig 4.4).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

import torch

from ..config import config_from_dict
from ..data import get_dataset
from ..data.convert import convert_images
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..figures.plots import curves_png
from ..fileio import atomic_write_text
from ..metrics.elbo import negative_elbo
from ..models.checkpoint import LOSSES_FILE, epoch_means
from ..models.derived import LABELS, VARIANTS, DerivedRun, FinetuneSettings, load_derived
from .base import EvalContext, MetricValue, register_evaluator, targets_from


def settings_from_params(params: Dict[str, Any], where: str) -> FinetuneSettings:
    return config_from_dict(FinetuneSettings, params, where=where)


def derived_runs(params: Dict[str, Any]) -> List[DerivedRun]:
    """The runs the ``finetune`` evaluator loads: both variants on every target."""
    settings = settings_from_params({k: v for k, v in params.items() if k != "targets"}, "finetune")
    return [DerivedRun(variant, target, settings) for target in targets_from("targets")(params) for variant in VARIANTS]


def target_test_images(target: str, settings: FinetuneSettings, image_shape) -> torch.Tensor:
    """The target's first ``n_test`` test images, converted to the model's input shape."""
    test = get_dataset(target, "test", n=settings.n_test, seed=settings.dataset_seed)
    return convert_images(test.images(), image_shape)


@register_evaluator("finetune", {"vae_tune_test_nelbo": "lower", "vae_new_test_nelbo": "lower",
                                 "vae_tune_test_recon_mse": "lower", "vae_new_test_recon_mse": "lower",
                                 "tune_gain_test_nelbo": "higher"}, targets=targets_from("targets"),
                    derived=derived_runs)
def evaluate_finetune(ctx: EvalContext, targets: List[str], **settings) -> List[MetricValue]:
    """§4.4.2 on every dataset in ``targets``; ``settings`` are :class:`FinetuneSettings` fields."""
    if not targets:
        raise FactorbenchError("finetune: give at least one target dataset (targets = [...])")
    if ctx.checkpoint is None:
        raise FactorbenchError("finetune needs the source model's checkpoint folder (run it through a benchmark)")
    config = settings_from_params(settings, "finetune")
    out: List[MetricValue] = []
    for target in targets_from("targets")({"targets": targets}):
        out += _finetune_one(ctx, target, config)
    return out


def _finetune_one(ctx: EvalContext, target: str, settings: FinetuneSettings) -> List[MetricValue]:
    models, folders, scores, curves = {}, {}, {}, {}
    for variant in VARIANTS:
        models[variant], folders[variant] = load_derived(ctx.checkpoint, DerivedRun(variant, target, settings),
                                                         ctx.device)
        curves[variant] = epoch_means(folders[variant] / LOSSES_FILE, "loss")
    images = target_test_images(target, settings, ctx.model.image_shape)
    for variant, model in models.items():
        scores[variant] = negative_elbo(model, images, ctx.batch_size, ctx.device, seed=ctx.seed)
    _write_figures(ctx, target, images, models, curves)
    protocol = {
        "definition": "−ELBO per image (nats; one reparameterised sample, β = 1) and per-image SSE of decode(μ) "
                      "on the target's test images, after fine-tuning the source VAE (vae_tune) or training "
                      "the same architecture from scratch (vae_new) on n_train target images",
        "settings": dataclasses.asdict(settings),
        "source": str(ctx.checkpoint),
        "runs": {v: str(f) for v, f in folders.items()},
        "n_test": len(images),
        "train_nelbo_per_epoch": curves,
        "test_terms": scores,
    }
    tune, new = scores["vae-tune"], scores["vae-new"]
    values = {
        "vae_tune_test_nelbo": tune["nelbo"], "vae_new_test_nelbo": new["nelbo"],
        "vae_tune_test_recon_mse": tune["recon_mse"], "vae_new_test_recon_mse": new["recon_mse"],
        "tune_gain_test_nelbo": new["nelbo"] - tune["nelbo"],
    }
    return [MetricValue(name, float(v), protocol, target=target) for name, v in values.items()]


def _write_figures(ctx: EvalContext, target: str, images, models, curves: Dict[str, List[float]]) -> None:
    if ctx.figures is None:
        return
    curve_path = ctx.figure_path(f"finetune-{target}-elbo.png")
    curves_png({LABELS[v]: c for v, c in curves.items()}, curve_path,
               xlabel="epoch", ylabel="training −ELBO per image (nats)",
               title=f"fine-tuning on {target} (cf. thesis Fig 4.5)")
    n_epochs = max(len(c) for c in curves.values())
    lines = ["epoch," + ",".join(curves)]
    lines += [f"{e + 1}," + ",".join(f"{c[e]:.6g}" if e < len(c) else "" for c in curves.values())
              for e in range(n_epochs)]
    atomic_write_text(ctx.figure_path(f"finetune-{target}-elbo.csv"), "\n".join(lines) + "\n")
    shown = images[:8]
    with torch.no_grad():
        recons = [models[v].reconstruct(shown.to(ctx.device)).cpu() for v in ("vae-new", "vae-tune")]
    image_rows_png([shown] + recons, ctx.figure_path(f"finetune-{target}-recon.png"),
                   labels=["test images", LABELS["vae-new"], LABELS["vae-tune"]])

