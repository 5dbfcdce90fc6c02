"""Evaluator ``semantic_latent``: the semantic latent space of a (fine-tuned) VAE
(thesis §4.4.3, eqs 4.1–4.3, Figs 4.7–4.9).

The thesis runs these experiments on VAE-Tune, the source VAE fine-tuned on CelebA ("if we
increase the size of training data, the VAE-Tune can capture a meaningful representation
... from limited data"). With ``finetune`` parameters the evaluator does the same: it
fine-tunes the source model on ``dataset`` (a derived run of
:mod:`~factorbench.evaluators.finetune`, trained once and reused) and measures that; without
them it measures the source model as it is.

The attribute classifiers are the fixed classifiers of
:func:`~factorbench.metrics.recon_classifier.fixed_classifier`, trained on the attribute
dataset's raw train split (``n_train`` images) at its native shape; the same split gives the
per-value means of μ. ``test_from_train`` draws the test images from the same train split
(disjoint rows): for datasets whose test split holds out attribute combinations on purpose
(shapes-fb pairs each shape with a colour never seen with it in training, for Chapter 5),
where a classifier trained on the train split reads the wrong cue. Values (target: ``dataset``) are those of
:func:`~factorbench.metrics.semantic.semantic_scores`. Figures: ``arithmetic.png``,
``interpolation.png`` and ``interpolation2.png`` in the folder ``semantic-<dataset>/``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..data import get_dataset
from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, register_evaluator, targets_from
from ..models.derived import DerivedRun, load_derived
from .finetune import settings_from_params
from ..metrics.recon_classifier import fixed_classifier
from ..metrics.semantic import DEFAULT_LAMBDAS, semantic_scores

SCORES = {"arithmetic_acc": "higher", "arithmetic_a_acc": "higher", "arithmetic_b_acc": "higher",
          "interp_acc": "higher", "interp_kept_acc": "higher", "interp2_acc": "higher",
          "recon_a_acc": "none", "recon_b_acc": "none"}


def rows_subset(ds: ArrayDataset, start: int, stop: int, split: str) -> ArrayDataset:
    """Rows ``start:stop`` of ``ds`` as a dataset of its own, named split ``split``."""
    if stop > len(ds):
        raise FactorbenchError(f"{ds.name}/{ds.split} has {len(ds)} images, fewer than the {stop} asked for")
    return ArrayDataset(ds.name, split, {k: v[start:stop] for k, v in ds.arrays.items()}, ds.info)



def derived_runs(params: Dict[str, Any]) -> List[DerivedRun]:
    """With ``finetune`` parameters, the VAE-Tune run on ``dataset`` that the evaluator scores."""
    if params.get("finetune") is None:
        return []
    if "dataset" not in params:
        raise FactorbenchError("semantic_latent needs dataset = \"<name>\": the dataset whose attributes it "
                               "scores (and that its finetune run trains on)")
    return [DerivedRun("vae-tune", params["dataset"], settings_from_params(params["finetune"], "semantic_latent.finetune"))]


@register_evaluator("semantic_latent", SCORES, targets=targets_from("dataset"), derived=derived_runs)
def evaluate_semantic_latent(ctx: EvalContext, dataset: str, attr_a: str, attr_b: str,
                             finetune: Optional[Dict[str, Any]] = None, n_train: int = 2000, n_test: int = 500,
                             dataset_seed: int = 0, test_from_train: bool = False, n_triplets: int = 200, n_mean: int = 500,
                             lambdas: Sequence[float] = DEFAULT_LAMBDAS, n_show: int = 6) -> List[MetricValue]:
    model, tuned_from = ctx.model, None
    if finetune is not None:
        if ctx.checkpoint is None:
            raise FactorbenchError("semantic_latent with finetune needs the source model's checkpoint folder")
        settings = settings_from_params(finetune, "semantic_latent.finetune")
        model, tuned_from = load_derived(ctx.checkpoint, DerivedRun("vae-tune", dataset, settings), ctx.device)
    if test_from_train:  # disjoint rows of one train draw: train and test share a distribution
        pool = get_dataset(dataset, "train", n=n_train + n_test, seed=dataset_seed)
        train_ds, test_ds = rows_subset(pool, 0, n_train, "train"), rows_subset(pool, n_train, n_train + n_test, "test")
    else:
        train_ds = get_dataset(dataset, "train", n=n_train, seed=dataset_seed)
        test_ds = get_dataset(dataset, "test", n=n_test, seed=dataset_seed)
    classifier_a, meta_a = fixed_classifier(train_ds, attr_a, device=ctx.device)
    classifier_b, meta_b = fixed_classifier(train_ds, attr_b, device=ctx.device)
    scores = semantic_scores(model, train_ds, test_ds, attr_a, attr_b, classifier_a, classifier_b,
                             n_triplets=n_triplets, n_mean=n_mean, lambdas=lambdas, seed=ctx.seed,
                             batch_size=ctx.batch_size, device=ctx.device,
                             figure_dir=ctx.figure_path(f"semantic-{dataset}"), n_show=n_show)
    protocol = {
        "definition": "thesis §4.4.3 eqs 4.1–4.3 as accuracies of fixed attribute classifiers on decodes; "
                      "see 'definitions'",
        "definitions": scores["definitions"],
        "model": "source VAE" if tuned_from is None else f"VAE-Tune: {tuned_from}",
        "finetune": finetune,
        "dataset": {"name": dataset, "n_train": n_train, "n_test": n_test, "seed": dataset_seed,
                    "test_images": "rows after n_train of the train split" if test_from_train else "test split"},
        "attributes": {"a": attr_a, "b": attr_b},
        "lambdas": scores["lambdas"],
        "counts": {k: scores[k] for k in ("n_triplets", "n_starts", "n_recon", "n_mean")},
        "by_lambda": {k: scores[k] for k in ("interp_acc_by_lambda", "interp2_acc_by_lambda")},
        "classifiers": {attr_a: meta_a["cache"], attr_b: meta_b["cache"]},
    }
    return [MetricValue(name, float(scores[name]), protocol, target=dataset) for name in SCORES]
