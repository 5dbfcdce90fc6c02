"""The ``digit_sum`` evaluator: the downstream digit-sum task of thesis §6.4.2 (Table 6.2) on a
model's first glimpses, with the regressor of :mod:`factorbench.metrics.digit_sum`.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence
import numpy as np
import torch

from ..errors import FactorbenchError
from ..data.synthetic.multi_digits import BOX_CONVENTIONS
from ..models.objects import crop_patches, pixels_to_boxes
from .base import EvalContext, MetricValue, register_evaluator
from ..metrics.digit_sum import (
    GLIMPSE_SETS, GLIMPSE_SET_DESCRIPTIONS, HIDDEN, MAX_GLIMPSES, MODES, ROWS, SUPERVISION,
    first_kept, first_ranked, sum_accuracy, train_digit_regressor)


def _accepts_k(fn) -> bool:
    try:
        return "k" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def check_digit_sum_dataset(ds, needs_boxes: bool) -> None:
    """The task needs the image label ``sum``, at most :data:`MAX_GLIMPSES` digits per image
    and, for the GT row, ``boxes`` (dataset ``multi-digits-5``)."""
    if "sum" not in ds.label_names:
        have = ", ".join(ds.label_names) or "none"
        raise FactorbenchError(f"digit_sum needs a dataset with the image label 'sum' (multi-digits-5); "
                               f"dataset {ds.name} has labels: {have}")
    if needs_boxes and "boxes" not in ds.arrays:
        raise FactorbenchError(f"digit_sum's 'gt' row needs ground-truth boxes; dataset {ds.name} has none")
    if len(ds) and int(ds.arrays["count"].max()) > MAX_GLIMPSES:
        raise FactorbenchError(f"digit_sum sums the first {MAX_GLIMPSES} glimpses, but dataset {ds.name} has "
                               f"images with {int(ds.arrays['count'].max())} digits")


@torch.no_grad()
def gt_patches(model, x: torch.Tensor, boxes: torch.Tensor, patch_shape: Optional[Sequence[int]]) -> torch.Tensor:
    """Ground-truth boxes (B, K, 4) cropped as the model crops its glimpses (B, K, C, s, s)."""
    if callable(getattr(model, "crop_boxes", None)):
        return model.crop_boxes(x, boxes)
    b, k = boxes.shape[:2]
    center, half = pixels_to_boxes(boxes.to(x), tuple(x.shape[-2:]))
    half = half.clamp_min(1e-3)  # padded (empty) boxes: masked out anyway
    images = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
    patches = crop_patches(images, center.reshape(-1, 2), half.reshape(-1, 2), tuple(patch_shape[-2:]))
    return patches.reshape(b, k, *patches.shape[1:])


def _model_mask(model, x: torch.Tensor, keep: torch.Tensor, k: Optional[int], glimpse_set: str) -> torch.Tensor:
    """The glimpses of the model row that are summed (module docstring, ``glimpse_set``)."""
    if glimpse_set == "kept":
        return first_kept(keep)
    det = model.glimpse(x, k) if (k is not None and _accepts_k(model.glimpse)) else model.glimpse(x)
    if tuple(det.scores.shape) != tuple(keep.shape):
        raise FactorbenchError(f"digit_sum: glimpse() gave {tuple(det.scores.shape)} candidates but glimpse_patches() "
                               f"{tuple(keep.shape)}; they must agree")
    return first_ranked(det.scores.to(keep.device))


@torch.no_grad()
def collect_patches(ctx: EvalContext, ds, n: int, row: str, k: Optional[int], glimpse_set: str = "first",
                    gt_boxes: str = "tight") -> Dict[str, torch.Tensor]:
    """Patches (n, K, C, s, s), the mask of glimpses summed (n, K) and the sums (n,) of the
    first ``n`` images of ``ds`` for ``row`` ("gt" or "model"), on ``ctx.device``. The GT row
    crops the ``gt_boxes`` convention ("tight" or "frame", as object_discovery's)."""
    model = ctx.model
    takes_k = _accepts_k(model.glimpse_patches)
    box_key = BOX_CONVENTIONS[gt_boxes] if BOX_CONVENTIONS[gt_boxes] in ds.arrays else "boxes"
    patches, masks = [], []
    for start in range(0, n, ctx.batch_size):
        idx = np.arange(start, min(start + ctx.batch_size, n))
        x = ds.images(idx).to(ctx.device)
        own = keep = None
        if row == "model" or not callable(getattr(model, "crop_boxes", None)):
            own, keep = model.glimpse_patches(x, k) if (takes_k and k is not None) else model.glimpse_patches(x)
        if row == "gt":
            count = torch.as_tensor(ds.arrays["count"][idx], device=ctx.device)
            boxes = torch.as_tensor(ds.arrays[box_key][idx], dtype=torch.float32, device=ctx.device)
            p = gt_patches(model, x, boxes, None if own is None else own.shape)
            mask = first_kept(torch.arange(boxes.shape[1], device=ctx.device)[None, :] < count[:, None])
        else:
            p = own
            mask = _model_mask(model, x, keep.to(ctx.device), k, glimpse_set)
        patches.append(p)
        masks.append(mask)
    sums = torch.as_tensor(np.asarray(ds.labels("sum")[:n], dtype=np.int64), device=ctx.device)
    return {"patches": torch.cat(patches), "mask": torch.cat(masks), "sums": sums}


def _encode_mu(model) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda p: model.encode_patches(p)[0]


@torch.no_grad()
def _encode_all(model, patches: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.encode_patches(patches[s:s + batch_size])[0] for s in range(0, len(patches), batch_size)])


def _rows_param(rows) -> List[str]:
    return [rows] if isinstance(rows, str) else list(ROWS if rows is None else rows)


def _targets(params: Dict[str, Any]) -> List[Optional[str]]:
    return list(_rows_param(params.get("rows")))


_OUTPUTS = {f"digit_sum_{mode}_{split}_acc": "higher" for mode in MODES for split in ("train", "test")}


@register_evaluator("digit_sum", _OUTPUTS, targets=_targets)
def evaluate_digit_sum(ctx: EvalContext, n_train: int = 10000, n_test: int = 2000, epochs: int = 20,
                       lr: float = 1e-3, modes: Sequence[str] = MODES, rows: Sequence[str] = ROWS,
                       k: Optional[int] = None, glimpse_set: str = "first", gt_boxes: str = "tight"
                       ) -> List[MetricValue]:
    """Table 6.2 (module docstring): for each row ("gt", "model") and mode ("fixed",
    "unfixed"), train on the first ``n_train`` training images and report exact-sum accuracy
    on them and on the first ``n_test`` test images. ``k``: glimpses the model takes (passed
    to ``glimpse_patches`` when it accepts one; default: the model's own). ``glimpse_set``:
    which 5 of the model's glimpses are summed (:data:`GLIMPSE_SETS`); ``gt_boxes``: the
    ground-truth convention the GT row crops ("tight" or "frame", thesis §6.4.1)."""
    model = ctx.model
    for needed in ("glimpse_patches", "encode_patches"):
        if not callable(getattr(model, needed, None)):
            raise FactorbenchError(f"digit_sum needs an object model with glimpse_patches() and encode_patches() "
                                   f"(said, spair, space); {getattr(model, 'name', type(model).__name__)} has no "
                                   f"{needed}()")
    modes, rows = [modes] if isinstance(modes, str) else list(modes), _rows_param(rows)
    for m in modes:
        if m not in MODES:
            raise FactorbenchError(f"digit_sum: unknown mode {m!r}; choose from {', '.join(MODES)}")
    for r in rows:
        if r not in ROWS:
            raise FactorbenchError(f"digit_sum: unknown row {r!r}; choose from {', '.join(ROWS)}")
    if glimpse_set not in GLIMPSE_SETS:
        raise FactorbenchError(f"digit_sum: glimpse_set must be one of {', '.join(GLIMPSE_SETS)}, got {glimpse_set!r}")
    if gt_boxes not in BOX_CONVENTIONS:
        raise FactorbenchError(f"digit_sum: gt_boxes must be one of {', '.join(BOX_CONVENTIONS)}, got {gt_boxes!r}")
    for ds in (ctx.train, ctx.test):
        check_digit_sum_dataset(ds, needs_boxes="gt" in rows)
    n_train, n_test = min(int(n_train), len(ctx.train)), min(int(n_test), len(ctx.test))
    if n_train < 1 or n_test < 1:
        raise FactorbenchError("digit_sum needs at least one training and one test image")
    was_training = getattr(model, "training", False)
    model.eval()
    out: List[MetricValue] = []
    try:
        for row in rows:
            train = collect_patches(ctx, ctx.train, n_train, row, k, glimpse_set, gt_boxes)
            test = collect_patches(ctx, ctx.test, n_test, row, k, glimpse_set, gt_boxes)
            for mode in modes:
                if mode == "fixed":
                    z_tr = _encode_all(model, train["patches"], ctx.batch_size)
                    z_te = _encode_all(model, test["patches"], ctx.batch_size)
                    reg = train_digit_regressor(z_tr, train["mask"], train["sums"], epochs, lr, ctx.seed,
                                                batch_size=ctx.batch_size)
                    acc_tr = sum_accuracy(reg.predict(z_tr, train["mask"], ctx.batch_size), train["sums"])
                    acc_te = sum_accuracy(reg.predict(z_te, test["mask"], ctx.batch_size), test["sums"])
                else:
                    tuned = copy.deepcopy(model).to(ctx.device)  # the checkpoint stays as it was
                    tuned.eval()
                    reg = train_digit_regressor(None, train["mask"], train["sums"], epochs, lr, ctx.seed,
                                                encoder=_encode_mu(tuned), patches=train["patches"],
                                                encoder_params=tuned.parameters(), batch_size=ctx.batch_size)
                    acc_tr = sum_accuracy(reg.predict(train["patches"], train["mask"], ctx.batch_size),
                                          train["sums"])
                    acc_te = sum_accuracy(reg.predict(test["patches"], test["mask"], ctx.batch_size), test["sums"])
                    del tuned
                protocol = {"row": row, "mode": mode, "n_train": n_train, "n_test": n_test, "epochs": int(epochs),
                            "lr": float(lr), "optimizer": "adam", "batch_size": ctx.batch_size,
                            "mlp": f"latent->{HIDDEN}->{HIDDEN}->1 ReLU", "glimpses_summed": MAX_GLIMPSES,
                            "supervision": SUPERVISION,
                            "prediction": "round(sum of MLP outputs over the glimpses used)",
                            "glimpse_set": glimpse_set if row == "model" else "n/a",
                            "glimpses_used": (GLIMPSE_SET_DESCRIPTIONS[glimpse_set] if row == "model"
                                              else "the image's ground-truth boxes (at most 5)"),
                            "gt_boxes": gt_boxes if row == "gt" else "n/a",
                            "gt_boxes_used": ((gt_boxes if BOX_CONVENTIONS[gt_boxes] in ctx.train.arrays else
                                               "tight") if row == "gt" else "n/a"),
                            "latent": "encoder posterior mean",
                            "encoder": "frozen" if mode == "fixed" else "fine-tuned copy (encode_patches mu)",
                            "boxes": ("ground-truth boxes cropped like the model's glimpses" if row == "gt"
                                      else "the model's own glimpses"),
                            "glimpses": "model default" if k is None else int(k)}
                out.append(MetricValue(f"digit_sum_{mode}_train_acc", acc_tr, {**protocol, "split": ctx.train.split},
                                       target=row))
                out.append(MetricValue(f"digit_sum_{mode}_test_acc", acc_te, {**protocol, "split": ctx.test.split},
                                       target=row))
    finally:
        model.train(was_training)
    return out
