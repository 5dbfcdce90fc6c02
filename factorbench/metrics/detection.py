"""Object-discovery metrics: box AP and object-count errors (SPEC §4.4; thesis §6.4.1,
Tables 6.1 and 6.3).

Boxes everywhere are ``(x0, y0, x1, y1)`` in pixels with x1/y1 exclusive (the datasets'
``boxes`` and :class:`~factorbench.models.objects.Detections`), so a box's area is
``(x1 - x0) * (y1 - y0)`` (no VOC-style ``+1``). Pure functions over NumPy arrays; torch
tensors are accepted wherever an array is (they are copied to the CPU).

**Average precision** (:func:`average_precision`, SPEC §4.4, the SPAIR protocol of Crawford
& Pineau 2019 that Table 6.1 reports). For every IoU threshold τ:

1. Pool the predictions of all images and rank them by confidence, highest first. The sort
   is *stable*: equal confidences keep their input order, i.e. image index first, then
   position within the image. Each prediction is its own point of the precision/recall
   curve (ties are not merged or averaged), so with tied scores the result depends on that
   order; for SAID, whose confidence is its glimpse order, an image has no ties.
2. Walk the ranking; a prediction is a true positive when its best-IoU ground truth among
   the *still unmatched* ground truths of its own image has IoU strictly greater than τ
   (``IoU > τ``: IoU exactly τ is a miss); that ground truth is then matched and never
   matched again, so a second detection of the same object is a false positive.
3. Precision and recall after each ranked prediction (recall = TP / number of ground-truth
   boxes of all images); VOC 11-point interpolated precision (Everingham et al. 2010): at
   r ∈ {0, 0.1, …, 1.0}, p(r) = the maximum precision at any recall ≥ r, 0 if recall never
   reaches r; AP(τ) = mean of the 11 values. Recall is compared with r exactly (integers:
   10·TP ≥ k·n_gt), not in floating point.

AP is the mean of AP(τ) over the thresholds: :data:`SPAIR_THRESHOLDS` 0.1:0.1:0.9 (Table
6.1's "AP IoU threshold ∈ [0.1:0.1:0.9]") or :data:`SPACE_THRESHOLDS` 0.5:0.05:0.95
(Lin et al. 2020), by protocol name via :func:`protocol_thresholds`.

``matching`` selects how step 2 treats surplus detections; the default is the rule above.
Two alternatives reproduce the public reference implementations, which differ from it in
ways that matter for a model that detects an object twice (SAID, thesis §6.4.1):

- ``"spair_reference"`` — SPAIR's ``mAP`` (auto_yolo ``models/core.py``): the same
  matching, but once every ground truth of an image is matched, that image's remaining
  (lower-confidence) predictions are not scored at all, neither TP nor FP.
- ``"voc"`` — SPACE's ``compute_ap`` and PASCAL VOC: a prediction's best-IoU ground truth
  is taken over *all* ground truths of its image; if that one is already matched, the
  prediction is a false positive even when another unmatched ground truth overlaps it
  by more than τ.

(Both reference codes also compare recall with ``np.linspace(0, 1, 11)`` in floating point,
which can miss a recall point reached exactly, e.g. 7/10 < 0.7000000000000001; we compare
exactly. The difference is one ranked prediction at most, negligible on a test split.)

**Count errors** (Tables 6.1/6.3, "Object Count Error", Crawford & Pineau 2019): per image,
predicted count vs true count; :func:`count_error_abs` (SPAIR's ``count_1norm``, the number
the thesis reports), :func:`count_error_01` and :func:`count_error_rel` (SPACE's relative
error). Which candidates count is the model's protocol: :func:`detections_to_lists`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from ..errors import FactorbenchError

if TYPE_CHECKING:  # pragma: no cover
    from ..models.objects import Detections

#: IoU thresholds of the SPAIR protocol (Table 6.1: 0.1, 0.2, ..., 0.9)
SPAIR_THRESHOLDS: Tuple[float, ...] = tuple(round(0.1 * i, 2) for i in range(1, 10))
#: IoU thresholds of the SPACE protocol (0.5, 0.55, ..., 0.95)
SPACE_THRESHOLDS: Tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
#: protocol name -> IoU thresholds
PROTOCOL_THRESHOLDS: Dict[str, Tuple[float, ...]] = {"spair": SPAIR_THRESHOLDS, "space": SPACE_THRESHOLDS}
#: the recall points of VOC 11-point interpolation, as tenths (0/10, 1/10, ..., 10/10)
RECALL_TENTHS: Tuple[int, ...] = tuple(range(11))
#: how predictions are matched to ground truth (see the module docstring)
MATCHING_RULES: Tuple[str, ...] = ("greedy_unmatched", "spair_reference", "voc")


@dataclass(frozen=True)
class APResult:
    """Average precision (SPEC §4.4): ``ap`` is the mean of ``ap_per_threshold`` over
    ``iou_thresholds``; ``protocol`` is "spair", "space" or "custom" (the threshold set)."""

    ap: float
    iou_thresholds: Tuple[float, ...]
    ap_per_threshold: Tuple[float, ...]
    protocol: str
    matching: str
    n_predictions: int
    n_ground_truth: int

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready record of the result and its protocol."""
        return {"ap": self.ap, "iou_thresholds": list(self.iou_thresholds),
                "ap_per_threshold": list(self.ap_per_threshold), "protocol": self.protocol,
                "matching": self.matching, "n_predictions": self.n_predictions,
                "n_ground_truth": self.n_ground_truth}


def protocol_thresholds(protocol: str) -> Tuple[float, ...]:
    """The IoU thresholds of a named AP protocol: "spair" (0.1:0.1:0.9) or "space"
    (0.5:0.05:0.95) (SPEC §4.4)."""
    try:
        return PROTOCOL_THRESHOLDS[protocol]
    except KeyError:
        names = ", ".join(PROTOCOL_THRESHOLDS)
        raise FactorbenchError(f"unknown AP protocol {protocol!r}; choose one of {names}") from None


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise FactorbenchError(f"expected numbers, got {type(x).__name__}: {e}") from None


def _as_boxes(x: Any, what: str) -> np.ndarray:
    a = _to_numpy(x)
    if a.size == 0:
        return a.reshape(0, 4)
    if a.ndim != 2 or a.shape[1] != 4:
        raise FactorbenchError(f"{what} must be (K, 4) xyxy boxes, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise FactorbenchError(f"{what} contain NaN or inf")
    return a


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """(N, M) intersection over union of pixel xyxy boxes ``boxes_a`` (N, 4) and ``boxes_b``
    (M, 4) (x1/y1 exclusive, area = (x1-x0)·(y1-y0); SPEC §4.4). A box with x1 <= x0 or
    y1 <= y0 has zero area; a pair whose union is zero has IoU 0, never NaN."""
    a, b = _as_boxes(boxes_a, "boxes"), _as_boxes(boxes_b, "boxes")
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _match_image(iou: np.ndarray, thresholds: np.ndarray, matching: str) -> Tuple[np.ndarray, np.ndarray]:
    """Match one image's predictions (rows of ``iou``, already in rank order) to its ground
    truths (columns) at every threshold at once. Returns (is_tp, is_scored), each (T, K)."""
    n_thr, (k, g) = len(thresholds), iou.shape
    is_tp = np.zeros((n_thr, k), dtype=bool)
    is_scored = np.ones((n_thr, k), dtype=bool)
    if g == 0:
        return is_tp, is_scored
    matched = np.zeros((n_thr, g), dtype=bool)
    rows = np.arange(n_thr)
    for i in range(k):
        if matching == "voc":
            best = np.full(n_thr, int(np.argmax(iou[i])))
            hit = (iou[i, best] > thresholds) & ~matched[rows, best]
        else:
            if matching == "spair_reference":
                is_scored[:, i] = ~matched.all(axis=1)
            candidates = np.where(matched, -1.0, iou[i][None, :])  # matched ground truths are out
            best = np.argmax(candidates, axis=1)
            hit = (candidates[rows, best] > thresholds) & is_scored[:, i]
        is_tp[hit, i] = True
        matched[rows[hit], best[hit]] = True
    return is_tp, is_scored


def _eleven_point_ap(is_tp_ranked: np.ndarray, n_ground_truth: int) -> float:
    """VOC 11-point interpolated AP of a ranked list of TP/FP flags (SPEC §4.4)."""
    if is_tp_ranked.size == 0:
        return 0.0
    tp = np.cumsum(is_tp_ranked)
    precision = tp / np.arange(1, len(tp) + 1)
    values = []
    for k in RECALL_TENTHS:  # recall >= k/10  <=>  10*TP >= k*n_gt, exactly
        reached = 10 * tp >= k * n_ground_truth
        values.append(float(precision[reached].max()) if reached.any() else 0.0)
    return float(np.mean(values))


def average_precision(pred_boxes: Sequence[Any], pred_scores: Sequence[Any], gt_boxes: Sequence[Any],
                      iou_thresholds: Union[Sequence[float], str] = SPAIR_THRESHOLDS,
                      matching: str = "greedy_unmatched") -> APResult:
    """Box AP over a dataset split, SPAIR protocol (SPEC §4.4; thesis §6.4.1, Table 6.1).

    ``pred_boxes[i]`` (K_i, 4) and ``pred_scores[i]`` (K_i,) are image i's predicted pixel
    xyxy boxes and confidences (higher = more confident); ``gt_boxes[i]`` (G_i, 4) its
    ground truth. ``iou_thresholds`` is a sequence in [0, 1) or a protocol name ("spair",
    "space"); ``matching`` one of :data:`MATCHING_RULES`. Ranking, tie order, matching and
    interpolation are as in the module docstring. No ground-truth box in any image is an
    error (recall is undefined); no prediction at all gives AP 0.
    """
    if isinstance(iou_thresholds, str):
        protocol, thresholds = iou_thresholds, protocol_thresholds(iou_thresholds)
    else:
        thresholds = tuple(float(t) for t in iou_thresholds)
        protocol = next((name for name, ts in PROTOCOL_THRESHOLDS.items() if ts == thresholds), "custom")
    if not thresholds or not all(0.0 <= t < 1.0 for t in thresholds):
        raise FactorbenchError(f"IoU thresholds must be a non-empty list of values in [0, 1), got {list(thresholds)}")
    if matching not in MATCHING_RULES:
        raise FactorbenchError(f"unknown matching rule {matching!r}; choose one of {', '.join(MATCHING_RULES)}")
    if not (len(pred_boxes) == len(pred_scores) == len(gt_boxes)):
        raise FactorbenchError(f"average precision needs one entry per image in each list; got "
                               f"{len(pred_boxes)} predicted box sets, {len(pred_scores)} score sets and "
                               f"{len(gt_boxes)} ground-truth sets")
    thr = np.asarray(thresholds, dtype=np.float64)
    scores_all: List[np.ndarray] = []
    tp_all: List[np.ndarray] = []
    scored_all: List[np.ndarray] = []
    n_gt = 0
    for i, (pb, ps, gb) in enumerate(zip(pred_boxes, pred_scores, gt_boxes)):
        boxes = _as_boxes(pb, f"image {i}: predicted boxes")
        gt = _as_boxes(gb, f"image {i}: ground-truth boxes")
        scores = _to_numpy(ps).reshape(-1)
        if len(scores) != len(boxes):
            raise FactorbenchError(f"image {i}: {len(boxes)} predicted boxes but {len(scores)} scores")
        if not np.isfinite(scores).all():
            raise FactorbenchError(f"image {i}: predicted scores contain NaN or inf")
        n_gt += len(gt)
        # the stable within-image order equals the global stable order restricted to the image
        order = np.argsort(-scores, kind="stable")
        is_tp, is_scored = _match_image(box_iou(boxes[order], gt), thr, matching)
        scores_all.append(scores[order])
        tp_all.append(is_tp)
        scored_all.append(is_scored)
    if n_gt == 0:
        raise FactorbenchError("average precision needs ground-truth boxes, but no image has any "
                               "(does this dataset provide 'boxes'?)")
    scores_cat = np.concatenate(scores_all) if scores_all else np.zeros(0)
    tp_cat = np.concatenate(tp_all, axis=1) if tp_all else np.zeros((len(thr), 0), bool)
    scored_cat = np.concatenate(scored_all, axis=1) if scored_all else np.zeros((len(thr), 0), bool)
    rank = np.argsort(-scores_cat, kind="stable")  # ties: image index, then rank within image
    per_threshold = []
    for t in range(len(thr)):
        ranked = rank[scored_cat[t, rank]]
        per_threshold.append(_eleven_point_ap(tp_cat[t, ranked], n_gt))
    return APResult(ap=float(np.mean(per_threshold)), iou_thresholds=thresholds,
                    ap_per_threshold=tuple(per_threshold), protocol=protocol, matching=matching,
                    n_predictions=int(len(scores_cat)), n_ground_truth=int(n_gt))


def _counts(pred: Any, true: Any) -> Tuple[np.ndarray, np.ndarray]:
    p, t = _to_numpy(pred).reshape(-1), _to_numpy(true).reshape(-1)
    if len(p) != len(t):
        raise FactorbenchError(f"count error needs one predicted and one true count per image; "
                               f"got {len(p)} and {len(t)}")
    if len(p) == 0:
        raise FactorbenchError("count error needs at least one image")
    if not (np.isfinite(p).all() and np.isfinite(t).all()) or (p < 0).any() or (t < 0).any():
        raise FactorbenchError("object counts must be finite and non-negative")
    return p, t


def count_error_abs(pred: Any, true: Any) -> float:
    """Mean over images of |predicted count − true count| (objects per image): SPAIR's
    ``count_1norm``, the "Object Count Error" of Tables 6.1/6.3 (SPEC §4.4)."""
    p, t = _counts(pred, true)
    return float(np.abs(p - t).mean())


def count_error_01(pred: Any, true: Any) -> float:
    """Fraction of images whose predicted count differs from the true count (the 0–1 count
    error, SPEC §4.4), in [0, 1]."""
    p, t = _counts(pred, true)
    return float((p != t).mean())


def count_error_rel(pred: Any, true: Any) -> float:
    """SPACE's relative count error (SPEC §4.4): mean over images of
    |predicted − true| / true. The ratio is undefined for an image with no objects, so
    images with true count 0 are left out of the mean (SPACE's code would divide by zero);
    if no image has an object this is an error."""
    p, t = _counts(pred, true)
    has_objects = t > 0
    if not has_objects.any():
        raise FactorbenchError("relative count error is undefined: no image has a true count above 0")
    return float((np.abs(p - t)[has_objects] / t[has_objects]).mean())


def count_errors(pred: Any, true: Any) -> Dict[str, float]:
    """The three count errors of SPEC §4.4 by name: ``count_error_abs``, ``count_error_01``,
    ``count_error_rel`` (the last is NaN when no image has an object)."""
    p, t = _counts(pred, true)
    out = {"count_error_abs": count_error_abs(p, t), "count_error_01": count_error_01(p, t)}
    out["count_error_rel"] = count_error_rel(p, t) if (t > 0).any() else float("nan")
    return out


def detections_to_lists(det: "Detections", keep_only: bool) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Per-image (boxes (K_i, 4) float64 pixels xyxy, scores (K_i,) float64) from a
    :class:`~factorbench.models.objects.Detections` batch, in candidate order (SPEC §4.4).

    ``keep_only=True`` keeps only the candidates the model counts (``det.keep``): SAID's
    protocol (glimpses after the stop rule are dropped) and SPACE's (z_pres > 0.5).
    ``keep_only=False`` scores every candidate with its confidence: SPAIR's protocol
    (every grid cell), where low-confidence cells only add points to the tail of the
    precision/recall curve.
    """
    boxes = det.boxes.detach().cpu().double().numpy()
    scores = det.scores.detach().cpu().double().numpy()
    keep = det.keep.detach().cpu().numpy().astype(bool)
    out_boxes, out_scores = [], []
    for i in range(boxes.shape[0]):
        sel = keep[i] if keep_only else np.ones(boxes.shape[1], dtype=bool)
        out_boxes.append(boxes[i][sel].reshape(-1, 4))
        out_scores.append(scores[i][sel])
    return out_boxes, out_scores
