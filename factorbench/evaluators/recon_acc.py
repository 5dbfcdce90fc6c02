"""The ``recon_acc`` evaluator: a fixed classifier's accuracy on reconstructions against raw
images (thesis Tables 3.1/3.2), with :mod:`factorbench.metrics.recon_classifier`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import List, Optional
import torch

from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, check_label, register_evaluator
from ..metrics.batches import map_batches
from ..metrics.recon_classifier import (
    CLASSIFIER_VERSION, DEFAULT_SETTINGS, classifier_accuracies, fixed_classifier)


@register_evaluator("recon_acc", {"recon_cls_abs_acc": "higher", "recon_cls_rel_acc": "higher",
                                  "recon_cls_raw_acc": "none"})
def evaluate_recon_acc(ctx: EvalContext, label: Optional[str] = None,
                       classifier_epochs: Optional[int] = None,
                       classifier_n_train: Optional[int] = None) -> List[MetricValue]:
    """``classifier_n_train``: train the classifier on that many raw training images of the
    same dataset (converted to the run's image shape) instead of the run's own training
    split, as the thesis trains it on the whole raw training set (§3.2.2)."""
    label = check_label(ctx.train, label)
    settings = DEFAULT_SETTINGS
    if classifier_epochs is not None:
        if int(classifier_epochs) < 1:
            raise FactorbenchError(f"classifier_epochs must be at least 1, got {classifier_epochs}")
        settings = replace(settings, epochs=int(classifier_epochs))
    raw_train = ctx.train
    if classifier_n_train is not None:
        if int(classifier_n_train) < 1:
            raise FactorbenchError(f"classifier_n_train must be at least 1, got {classifier_n_train}")
        from ..data import get_dataset
        from ..data.convert import convert_dataset

        raw_train = get_dataset(ctx.train.name, "train", n=int(classifier_n_train), seed=ctx.train.info.get("seed", 0))
        raw_train = convert_dataset(raw_train, ctx.train.image_shape)
    classifier, meta = fixed_classifier(raw_train, label, settings, ctx.device)
    images = ctx.test.images()
    ctx.model.eval()
    recons = torch.cat([r.cpu() for r in map_batches(ctx.model.reconstruct, images, ctx.batch_size, ctx.device)])
    acc = classifier_accuracies(classifier, images, recons, ctx.test.labels(label), ctx.batch_size, ctx.device)
    protocol = {
        "classifier": f"2x conv3x3 {list(settings.channels)} + ReLU + maxpool2, 1 linear layer "
                      f"(v{CLASSIFIER_VERSION}), trained on the raw train split",
        "training": {**asdict(settings), "channels": list(settings.channels), "optimizer": "Adam",
                     "loss": "cross-entropy", "n_train": len(raw_train)},
        "label": label,
        "n_classes": meta["n_classes"],
        "reconstruction": "model.reconstruct(x)",
        "split": "test",
        "n_images": len(images),
        "abs": "fraction of reconstructions classified as the true label",
        "rel": "fraction of reconstructions classified as the raw image is",
        "raw": "the classifier's accuracy on the raw test images (thesis: 84% on CIFAR-10)",
    }
    return [
        MetricValue("recon_cls_abs_acc", acc["abs_acc"], protocol),
        MetricValue("recon_cls_rel_acc", acc["rel_acc"], protocol),
        MetricValue("recon_cls_raw_acc", acc["raw_acc"], protocol),
    ]
