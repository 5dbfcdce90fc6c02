"""The ``object_discovery`` evaluator: box AP and object-count errors of an object model on
the test split (docs/protocols.md §4.4; thesis §6.4.1, Tables 6.1 and 6.3).

Every object model (SAID, SPAIR, SPACE, ...) exposes ``glimpse(x[, k]) -> Detections``;
the arithmetic lives in :mod:`factorbench.metrics.detection`. On the first ``n`` test
images this evaluator reports

- ``ap_spair``: AP, SPAIR protocol (IoU thresholds 0.1:0.1:0.9, Table 6.1);
- ``ap_space``: AP, SPACE protocol (IoU thresholds 0.5:0.05:0.95);
- ``count_error_abs`` (Table 6.1's "Object Count Error"), ``count_error_01``,
  ``count_error_rel``: ``Detections.count`` (the candidates the model keeps: SAID's stop
  rule, z_pres > 0.5 for SPAIR/SPACE) against the dataset's ``count``.

Every convention is an option, applied alike to every model and to external predictions,
and recorded in each value's protocol (and, through its ``definition``, in table captions):

- ``candidates`` (which predictions both APs rank): ``"all"`` (default) — every candidate
  the model proposes, by its confidence: SAID's K glimpses (K = ``eval_glimpses`` = 9, §6.4.1:
  "K = 5 in training and K = 9 in AP measurement", ranked by glimpse order), every cell of
  SPAIR/SPACE by its z_pres probability; ``"kept"`` — only the candidates the model counts.
  The count errors always use the kept candidates (SAID: "the index of the iteration that
  the KL term of the VAE is smaller than improvements on the mean squared error as the
  number of objects", §6.4.1).
- ``matching`` and ``ties``: :data:`~factorbench.metrics.detection.MATCHING_RULES` (default
  the released SPAIR/SPACE codes' rule) and :data:`~factorbench.metrics.detection.TIE_RULES`
  (default: equal confidences form one precision/recall point, so AP does not depend on the
  image order; SAID's glimpse-order scores tie across images).
- ``gt_boxes``: the ground-truth convention, ``"tight"`` (default; the dataset's ``boxes``)
  or ``"frame"`` (the digits' placed 20x20 frames, ``frame_boxes``, the thesis's convention
  for Multi-MNIST, §6.4.1). A dataset without frames (Multi-dSprites, whose boxes are its
  shapes' extents) is scored on its tight boxes; ``gt_boxes_used`` says so.

Confidence is the model's ``Detections.scores`` (SAID: glimpse order, earlier = higher).
``k`` (glimpses at evaluation) is passed as ``model.glimpse(x, k)`` only when the model's
``glimpse`` takes a ``k``; ``None`` keeps the model's default (SAID: ``eval_glimpses``, 9 in
the thesis's AP measurement). With figures on, ``boxes.png`` shows the first 8 test images
with their kept predicted boxes (colour = candidate order, score printed) over the
ground-truth boxes (thin white).
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..figures.boxes import boxes_png, glimpse_steps_png
from ..data import get_dataset
from ..data.convert import convert_dataset
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..models.objects import Detections
from ..data.synthetic.multi_digits import BOX_CONVENTIONS
from ..metrics.detection import (INTERPOLATION, MATCHING_DESCRIPTIONS, MATCHING_RULES, SPACE_THRESHOLDS, SPAIR_THRESHOLDS,
                        TIE_DESCRIPTIONS, TIE_RULES, average_precision, count_errors, detections_to_lists)
from .base import EvalContext, MetricValue, register_evaluator

#: which candidates AP ranks; the first is the default
CANDIDATE_CHOICES = ("all", "kept")
CANDIDATE_DESCRIPTIONS = {
    "all": "every candidate the model proposes (SAID: all K eval glimpses; SPAIR/SPACE: every cell by z_pres)",
    "kept": "only the candidates the model counts (SAID: before the stop rule; SPAIR/SPACE: z_pres > 0.5)",
}
GT_BOX_DESCRIPTIONS = {
    "tight": "tight boxes of each object's pixels",
    "frame": "each digit's placed 20x20 frame (thesis §6.4.1; tight boxes where a dataset has no frames)",
}
N_FIGURE = 8


def glimpse_accepts_k(model) -> bool:
    """Whether ``model.glimpse`` takes a number of glimpses ``k``."""
    try:
        params = inspect.signature(model.glimpse).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return "k" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def is_sequential(model) -> bool:
    """A glimpse-after-glimpse model (SAID): its candidates past the stop rule are not objects."""
    return callable(getattr(model, "trace", None))


def ground_truth_boxes(ds, n: int, convention: str = "tight") -> Tuple[List[np.ndarray], str]:
    """The first ``n`` images' ground-truth boxes, (count_i, 4) float64 pixels xyxy each, under
    box ``convention`` ("tight" or "frame"), and the convention used ("tight" when the
    dataset has no frames)."""
    if "boxes" not in ds.arrays:
        raise FactorbenchError(f"object_discovery needs ground-truth boxes; dataset {ds.name} has none "
                               "(use multi-digits, multi-digits-5, multi-mnist, ...)")
    used = convention if BOX_CONVENTIONS[convention] in ds.arrays else "tight"
    boxes, count = ds.arrays[BOX_CONVENTIONS[used]], ds.arrays["count"]
    return [np.asarray(boxes[i, :int(count[i])], dtype=np.float64).reshape(-1, 4) for i in range(n)], used


#: Fig 6.2's binarisation of the error maps ("if the error is higher than 0.15 ... 1")
ERROR_THRESHOLD = 0.15


def write_glimpse_figures(ctx: EvalContext, test, k: Optional[int], name: str, m: int = 4) -> None:
    """Figs 6.3/6.7: the first ``m`` test images with their glimpses drawn one step more per
    column (every glimpse, kept or not), and, for models with ``error_maps``, the absolute
    residual before each glimpse, thresholded at 0.15 as Fig 6.2 does (``<name>_errors``)."""
    model = ctx.model
    x = test.images(np.arange(min(m, len(test)))).to(ctx.device)
    det = model.glimpse(x, k) if k is not None else model.glimpse(x)
    glimpse_steps_png(x.cpu(), det.boxes.cpu(), ctx.figure_path(name))
    if callable(getattr(model, "error_maps", None)):
        maps = model.error_maps(x, k) if k is not None else model.error_maps(x)  # (B, K+1, C, H, W)
        binary = (maps.abs().amax(dim=2, keepdim=True) > ERROR_THRESHOLD).float().expand(-1, -1, 3, -1, -1)
        image_rows_png([torch.cat([x[i:i + 1].expand(1, 3, -1, -1).cpu(), binary[i].cpu()]) for i in range(len(x))],
                       ctx.figure_path(name.replace(".png", "_errors.png")))


class PredictedBoxes:
    """External predictions (a JSON/CSV file read by :mod:`.detection_io`) standing in for an
    object model: ``glimpse(x)`` returns the next ``len(x)`` images' boxes and scores, padded
    to one K with ``keep = False``; every listed box is kept (counted). Boxes and scores stay
    float64. So anyone's detector is scored by exactly the code that scores SAID, SPAIR and
    SPACE."""

    name = "predictions"
    training = False

    def __init__(self, boxes: List[np.ndarray], scores: List[np.ndarray]):
        self.boxes, self.scores, self.cursor = boxes, scores, 0

    def glimpse(self, x: torch.Tensor) -> Detections:
        b = x.shape[0]
        if self.cursor + b > len(self.boxes):
            raise FactorbenchError(f"the predictions cover {len(self.boxes)} images, fewer than asked for")
        rows = range(self.cursor, self.cursor + b)
        self.cursor += b
        k = max([1] + [len(self.boxes[i]) for i in rows])
        f64 = torch.float64  # a file's scores stay float64 end to end: 0.90000001 and 0.90000002 do not tie
        boxes, scores = torch.zeros(b, k, 4, dtype=f64), torch.zeros(b, k, dtype=f64)
        keep = torch.zeros(b, k, dtype=torch.bool)
        for j, i in enumerate(rows):
            m = len(self.boxes[i])
            boxes[j, :m] = torch.as_tensor(np.asarray(self.boxes[i], dtype=np.float64).reshape(m, 4))
            scores[j, :m] = torch.as_tensor(np.asarray(self.scores[i], dtype=np.float64))
            keep[j, :m] = True
        return Detections(boxes, scores, torch.zeros(b, k, 0), keep)


def _targets(params) -> List[Optional[str]]:
    """The cell's own test split (None) and each dataset of ``datasets`` (§6.4.3)."""
    return [None] + list(params.get("datasets") or [])


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise FactorbenchError(f"object_discovery: {name} must be one of {', '.join(choices)}, got {value!r}")


@register_evaluator("object_discovery", {"ap_spair": "higher", "ap_space": "higher", "count_error_abs": "lower",
                                         "count_error_01": "lower", "count_error_rel": "lower"}, targets=_targets)
@torch.no_grad()
def evaluate_object_discovery(ctx: EvalContext, n: int = 1000, k: Optional[int] = None, candidates: str = "all",
                              matching: str = "reference", ties: str = "merge", gt_boxes: str = "tight",
                              datasets: Optional[List[str]] = None) -> List[MetricValue]:
    """AP (SPAIR and SPACE protocols) and count errors on the first ``n`` test images (module
    docstring): ``candidates``, ``matching``, ``ties`` and ``gt_boxes`` are the conventions
    listed there.

    ``datasets``: also score the model on the test split of each of these datasets (its
    images converted to the model's input shape), the out-of-distribution generalisation of
    §6.4.3 (train on one dataset, find boxes and stop on another); those values carry the
    dataset as their ``target`` and their figure is ``boxes_<dataset>.png``."""
    model = ctx.model
    if not callable(getattr(model, "glimpse", None)):
        raise FactorbenchError(f"object_discovery needs an object model with glimpse() (said, spair, space, ...); "
                               f"{getattr(model, 'name', type(model).__name__)} has none")
    _check_choice("candidates", candidates, CANDIDATE_CHOICES)
    _check_choice("matching", matching, MATCHING_RULES)
    _check_choice("ties", ties, TIE_RULES)
    _check_choice("gt_boxes", gt_boxes, tuple(BOX_CONVENTIONS))
    conventions = {"candidates": candidates, "matching": matching, "ties": ties, "gt_boxes": gt_boxes}
    out = _score(ctx, ctx.test, n, k, conventions, None, "boxes.png")
    for name in datasets or []:
        other = get_dataset(name, "test", n=n)
        if "boxes" not in other.arrays:
            raise FactorbenchError(f"object_discovery: dataset {name} has no ground-truth boxes")
        other = convert_dataset(other, model.image_shape)
        out += _score(ctx, other, n, k, conventions, name, f"boxes_{name}.png")
    return out


def ap_definition(conventions: Dict[str, str]) -> str:
    """One line that states every AP convention (the tables' caption)."""
    return (f"AP = mean over IoU thresholds (ap_spair 0.1:0.1:0.9, ap_space 0.5:0.05:0.95) of the {INTERPOLATION}; "
            f"a prediction is a TP when IoU > threshold; matching: {MATCHING_DESCRIPTIONS[conventions['matching']]}; "
            f"ties: {TIE_DESCRIPTIONS[conventions['ties']]}; predictions ranked: "
            f"{CANDIDATE_DESCRIPTIONS[conventions['candidates']]}; ground truth: "
            f"{GT_BOX_DESCRIPTIONS[conventions['gt_boxes']]}")


def _score(ctx: EvalContext, test, n: int, k: Optional[int], conventions: Dict[str, str], target: Optional[str],
           figure: str) -> List[MetricValue]:
    model = ctx.model
    n = min(int(n), len(test))
    if n < 1:
        raise FactorbenchError("object_discovery needs at least one test image")
    gt, gt_used = ground_truth_boxes(test, n, conventions["gt_boxes"])
    true_count = np.asarray(test.arrays["count"][:n], dtype=np.int64)
    takes_k = glimpse_accepts_k(model)
    kept_only = conventions["candidates"] == "kept"
    kept_boxes, kept_scores, ranked_boxes, ranked_scores, counts = [], [], [], [], []
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        for start in range(0, n, ctx.batch_size):
            x = test.images(np.arange(start, min(start + ctx.batch_size, n))).to(ctx.device)
            det = model.glimpse(x, k) if (takes_k and k is not None) else model.glimpse(x)
            b, s = detections_to_lists(det, keep_only=True)
            kept_boxes += b
            kept_scores += s
            b, s = (b, s) if kept_only else detections_to_lists(det, keep_only=False)
            ranked_boxes += b
            ranked_scores += s
            counts.append(det.count.detach().cpu().numpy())
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    pred_count = np.concatenate(counts).astype(np.int64)
    if len(pred_count) != n:
        raise FactorbenchError(f"object_discovery: the model returned detections for {len(pred_count)} of {n} images")
    matching, ties = conventions["matching"], conventions["ties"]
    ap_spair = average_precision(ranked_boxes, ranked_scores, gt, SPAIR_THRESHOLDS, matching, ties)
    ap_space = average_precision(ranked_boxes, ranked_scores, gt, SPACE_THRESHOLDS, matching, ties)
    errors = count_errors(pred_count, true_count)

    path = ctx.figure_path(figure)
    if path is not None:
        m = min(N_FIGURE, n)
        boxes_png(test.images(np.arange(m)), kept_boxes[:m], path, scores=kept_scores[:m], gt_boxes=gt[:m],
                  labels=[f"{int(pred_count[i])}/{int(true_count[i])}" for i in range(m)])
        if is_sequential(model):
            write_glimpse_figures(ctx, test, k if takes_k else None, figure.replace("boxes", "glimpses"))

    base: Dict[str, Any] = {
        "n": n, "dataset": test.name, "split": test.split,
        "glimpses": (k if (takes_k and k is not None) else "model default") if takes_k else "n/a",
        "confidence": "Detections.scores (SAID: glimpse order, earlier = higher)"}
    ap_base = {**base, **conventions, "matching_rule": MATCHING_DESCRIPTIONS[matching],
               "tie_rule": TIE_DESCRIPTIONS[ties], "candidate_set": CANDIDATE_DESCRIPTIONS[conventions["candidates"]],
               "gt_boxes_used": gt_used, "interpolation": INTERPOLATION, "definition": ap_definition(conventions)}
    out = []
    for name, result in (("ap_spair", ap_spair), ("ap_space", ap_space)):
        out.append(MetricValue(name, result.ap, {**ap_base, "protocol": result.protocol,
                                                 "iou_thresholds": list(result.iou_thresholds),
                                                 "ap_per_threshold": list(result.ap_per_threshold),
                                                 "n_predictions": result.n_predictions,
                                                 "n_ground_truth": result.n_ground_truth}, target=target))
    definitions = {"count_error_abs": "mean over images of |predicted - true| count (SPAIR count_1norm)",
                   "count_error_01": "fraction of images whose predicted count differs from the true count",
                   "count_error_rel": "mean of |predicted - true| / true over images with true count > 0 (SPACE)"}
    for name, definition in definitions.items():
        out.append(MetricValue(name, errors[name], {**base, "definition": definition,
                                                    "predicted_count": "Detections.count (kept candidates: SAID's "
                                                                       "stop rule, SPAIR/SPACE z_pres > 0.5)"},
                               target=target))
    return out
