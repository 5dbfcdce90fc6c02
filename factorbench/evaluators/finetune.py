"""Fine-tuning a pre-trained VAE on a small target set against training one from scratch
(thesis §4.4.2, Figs 4.4 and 4.5).

The thesis takes 100 random CelebA images, fine-tunes the COCO VAE on them for 50 epochs
("VAE-Tune") and trains a new VAE with the same architecture on the same 100 images for
50 epochs ("VAE-New"); it plots both ELBO curves per epoch and shows test reconstructions.

Here both runs are ordinary checkpointed training runs (:mod:`factorbench.train`), derived
from the source checkpoint and stored beneath it
(``<source>/derived/<vae-tune|vae-new>-<target>-<hash>/``), so they are trained once and
reused by every evaluator or benchmark that asks for the same settings. Both use the
source's model config and the seed ``stage_seed(source seed, "finetune")`` (so they see the
same data order and noise, and VAE-New's initialisation is not the source's); VAE-Tune starts from the source weights
(:func:`~factorbench.train.trainer.init_from_checkpoint`, fresh Adam state), VAE-New from
the ordinary seeded initialisation. Target images are converted to the source's input
shape (:func:`~factorbench.data.convert.convert_dataset`).

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
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import torch

from ..config import config_from_dict
from ..data import get_dataset
from ..data.convert import convert_images
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..figures.plots import curves_png
from ..fileio import atomic_write_text
from ..seeding import stage_seed
from ..train import TrainConfig, TrainRun, train
from ..models.checkpoint import LOSSES_FILE, load_model, read_run_config
from ..train.losslog import epoch_means
from ..metrics.elbo import negative_elbo
from .base import EvalContext, MetricValue, register_evaluator, targets_from

#: the two runs of §4.4.2: name -> whether it starts from the source weights
VARIANTS = {"vae-tune": True, "vae-new": False}
#: their names in the thesis's figures
LABELS = {"vae-tune": "VAE-Tune", "vae-new": "VAE-New"}


@dataclass(frozen=True)
class FinetuneSettings:
    """The §4.4.2 protocol; defaults are the thesis's (100 images, 50 epochs)."""

    #: target training images (drawn from the target's train split of this size)
    n_train: int = 100
    epochs: int = 50
    #: the thesis does not say; 20 gives 5 steps per epoch on 100 images
    batch_size: int = 20
    #: target test images for the ELBO and the reconstructions
    n_test: int = 500
    #: generation seed of the target dataset's splits
    dataset_seed: int = 0

    def __post_init__(self) -> None:
        if min(self.n_train, self.epochs, self.batch_size, self.n_test) <= 0:
            raise FactorbenchError("finetune: n_train, epochs, batch_size and n_test must be positive")
        if self.batch_size > self.n_train:
            raise FactorbenchError(f"finetune: batch_size {self.batch_size} exceeds n_train {self.n_train}")


def derived_run(source: Path, target: str, settings: FinetuneSettings, variant: str) -> TrainRun:
    """The training run of ``variant`` ("vae-tune" or "vae-new") on ``target``, derived from
    the finished checkpoint ``source``."""
    if variant not in VARIANTS:
        raise FactorbenchError(f"unknown fine-tuning variant {variant!r}; variants: {', '.join(VARIANTS)}")
    source = Path(source)
    config = read_run_config(source)
    trained_by = {k: v for k, v in dataclasses.asdict(settings).items() if k != "n_test"}  # n_test: evaluation only
    key = {"target": target, "settings": trained_by, "variant": variant}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return TrainRun(
        model=config["model"], model_config=config["model_config"], dataset=target,
        out=source / "derived" / f"{variant}-{target}-{digest}", seed=stage_seed(int(config.get("seed", 0)), "finetune"),
        train=TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size),
        dataset_n=settings.n_train, dataset_seed=settings.dataset_seed,
        init_from=source if VARIANTS[variant] else None, image_shape=config["image_shape"],
    )


def derived_model(source: Path, target: str, settings: FinetuneSettings, variant: str, device: str = "cpu",
                  progress: bool = False):
    """Train (or resume, or reuse) the derived run; returns (model in eval mode, its folder)."""
    run = derived_run(source, target, settings, variant)
    train(run, device=device, resume=True, progress=progress)
    return load_model(run.out, device), Path(run.out)


def settings_from_params(params: Dict[str, Any], where: str) -> FinetuneSettings:
    return config_from_dict(FinetuneSettings, params, where=where)


def target_test_images(target: str, settings: FinetuneSettings, image_shape) -> torch.Tensor:
    """The target's first ``n_test`` test images, converted to the model's input shape."""
    test = get_dataset(target, "test", n=settings.n_test, seed=settings.dataset_seed)
    return convert_images(test.images(), image_shape)



@register_evaluator("finetune", {"vae_tune_test_nelbo": "lower", "vae_new_test_nelbo": "lower",
                                 "vae_tune_test_recon_mse": "lower", "vae_new_test_recon_mse": "lower",
                                 "tune_gain_test_nelbo": "higher"}, targets=targets_from("targets"))
def evaluate_finetune(ctx: EvalContext, targets: List[str], **settings) -> List[MetricValue]:
    """§4.4.2 on every dataset in ``targets``; ``settings`` are :class:`FinetuneSettings` fields."""
    if not targets:
        raise FactorbenchError("finetune: give at least one target dataset (targets = [...])")
    if ctx.checkpoint is None:
        raise FactorbenchError("finetune needs the source model's checkpoint folder (run it through a benchmark)")
    config = settings_from_params(settings, "finetune")
    out: List[MetricValue] = []
    for target in targets:
        out += _finetune_one(ctx, target, config)
    return out


def _finetune_one(ctx: EvalContext, target: str, settings: FinetuneSettings) -> List[MetricValue]:
    models, folders, scores, curves = {}, {}, {}, {}
    for variant in VARIANTS:
        models[variant], folders[variant] = derived_model(ctx.checkpoint, target, settings, variant, ctx.device,
                                                          ctx.progress)
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

