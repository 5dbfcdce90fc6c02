"""Object-discovery metrics: box AP and object-count errors (docs/protocols.md §4.4; thesis §6.4.1,
Tables 6.1 and 6.3).

Boxes everywhere are ``(x0, y0, x1, y1)`` in pixels with x1/y1 exclusive (the datasets'
``boxes`` and :class:`~factorbench.models.objects.Detections`), so a box's area is
``(x1 - x0) * (y1 - y0)`` (no VOC-style ``+1``). Pure functions over NumPy arrays (float64
throughout); torch tensors are accepted wherever an array is (they are copied to the CPU).

**Average precision** (:func:`average_precision`, docs/protocols.md §4.4; the protocol of SPAIR,
Crawford & Pineau 2019, that Table 6.1 reports, and of SPACE, Lin et al. 2020). For every
IoU threshold τ:

1. Within each image, rank its predictions by confidence, highest first (a stable sort:
   equal confidences keep the order the image lists them in, e.g. SAID's glimpse order).
2. Match (``matching``, default ``"reference"``): walk each image's ranking; a prediction
   takes its best-IoU ground truth over *all* ground truths of its image (the first one on
   an IoU tie); it is a true positive when that IoU is strictly above τ (``IoU > τ``: IoU
   exactly τ is a miss) and that ground truth is not matched yet, which it then is.
   Otherwise it is a false positive: a second detection of a matched object counts against
   the model, with no fallback to another, unmatched box.
3. Pool the predictions of all images, ranked by confidence. Ties (``ties``, default
   ``"merge"``): predictions with the same confidence enter the precision/recall curve
   together, as one point taken after all of them (as scikit-learn's
   ``precision_recall_curve`` does). So AP does not depend on the order the images are
   listed in, which matters for SAID, whose confidence is its glimpse order: glimpse t of
   every image has the same score.
4. Precision and recall at each point (recall = TP / number of ground-truth boxes of all
   images); VOC 11-point interpolated precision (Everingham et al. 2010): at
   r ∈ {0, 0.1, …, 1.0}, p(r) = the maximum precision at any point with recall ≥ r, 0 if
   recall never reaches r; AP(τ) = mean of the 11 values. Recall is compared with r exactly
   (integers: 10·TP ≥ k·n_gt), not in floating point.

AP is the mean of AP(τ) over the thresholds: :data:`SPAIR_THRESHOLDS` 0.1:0.1:0.9 (Table
6.1's "AP IoU threshold ∈ [0.1:0.1:0.9]") or :data:`SPACE_THRESHOLDS` 0.5:0.05:0.95,
by protocol name via :func:`protocol_thresholds`.

Matching rules (:data:`MATCHING_RULES`; they differ for a model that detects an object
twice, as SAID does, thesis §6.4.1):

- ``"reference"`` (default) — step 2 above: the rule of both released codes, SPAIR's
  ``mAP`` (auto_yolo ``models/core.py`` since May 2019) and SPACE's ``compute_ap``
  (``src/eval/ap.py``), and of the PASCAL VOC devkit.
- ``"greedy_unmatched"`` — a prediction takes its best-IoU ground truth among the *still
  unmatched* ones of its image, so a duplicate can fall back to a neighbouring box; this is
  the delete-matched rule of SPAIR's code before May 2019 (matched boxes were deleted from
  the candidates) without that code's early stop.
- ``"spair_2018"`` — that pre-May-2019 SPAIR code in full: the delete-matched rule, and
  once every ground truth of an image is matched, the image's remaining (lower-confidence)
  predictions are not scored at all, neither TP nor FP.

Tie rules (:data:`TIE_RULES`): ``"merge"`` (default, step 3) and ``"listed"``, every
prediction its own point with ties in input order (image index, then rank within the
image), as the released codes' stable sorts do; ``"listed"`` depends on the image order
and is there only to reproduce those codes.

(Both released codes also compare recall with ``np.linspace(0, 1, 11)`` in floating point,
which can miss a recall point reached exactly, e.g. 7/10 < 0.7000000000000001; we compare
exactly. SPAIR's code also holds scores in float32; here they stay float64 end to end.)

The implementation is vectorised over images (one pass per threshold, or per rank position
for the two delete-matched rules), so 10,000 images x 10 predictions take well under a
second per protocol (``benchmarks/perf/ap_scale.py``); ``tests/test_detection_reference.py``
checks it against a plain per-prediction transcription of the rules.

**Count errors** (Tables 6.1/6.3, "Object Count Error", Crawford & Pineau 2019): per image,
predicted count vs true count; :func:`count_error_abs` (SPAIR's ``count_1norm``, the number
the thesis reports), :func:`count_error_01` and :func:`count_error_rel` (SPACE's relative
error). Which candidates count is the model's ``keep``: :func:`detections_to_lists`.
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
#: how predictions are matched to ground truth (see the module docstring); the first is the default
MATCHING_RULES: Tuple[str, ...] = ("reference", "greedy_unmatched", "spair_2018")
#: how equal confidences enter the precision/recall curve; the first is the default
TIE_RULES: Tuple[str, ...] = ("merge", "listed")
#: one line per rule, for records and captions
MATCHING_DESCRIPTIONS: Dict[str, str] = {
    "reference": ("each prediction, in confidence order within its image, takes its best-IoU ground truth over all "
                  "of the image's ground truths; a TP if IoU > threshold and that ground truth is not yet matched, "
                  "else a FP (released SPAIR since May 2019 and SPACE codes, PASCAL VOC)"),
    "greedy_unmatched": ("each prediction takes its best-IoU still-unmatched ground truth; a TP if IoU > threshold "
                         "(delete-matched rule of SPAIR's code before May 2019)"),
    "spair_2018": ("delete-matched rule, and an image's predictions after all its ground truths are matched are not "
                   "scored (SPAIR's code before May 2019)"),
}
TIE_DESCRIPTIONS: Dict[str, str] = {
    "merge": "equal confidences form one precision/recall point (AP independent of image order)",
    "listed": "equal confidences ranked in input order (image index, then rank in the image)",
}
INTERPOLATION = "VOC 11-point interpolated precision, recall compared exactly"


@dataclass(frozen=True)
class APResult:
    """Average precision (docs/protocols.md §4.4): ``ap`` is the mean of ``ap_per_threshold`` over
    ``iou_thresholds``; ``protocol`` is "spair", "space" or "custom" (the threshold set)."""

    ap: float
    iou_thresholds: Tuple[float, ...]
    ap_per_threshold: Tuple[float, ...]
    protocol: str
    matching: str
    n_predictions: int
    n_ground_truth: int
    ties: str = "merge"

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready record of the result and its protocol."""
        return {"ap": self.ap, "iou_thresholds": list(self.iou_thresholds),
                "ap_per_threshold": list(self.ap_per_threshold), "protocol": self.protocol,
                "matching": self.matching, "ties": self.ties, "interpolation": INTERPOLATION,
                "n_predictions": self.n_predictions, "n_ground_truth": self.n_ground_truth}


def protocol_thresholds(protocol: str) -> Tuple[float, ...]:
    """The IoU thresholds of a named AP protocol: "spair" (0.1:0.1:0.9) or "space"
    (0.5:0.05:0.95) (docs/protocols.md §4.4)."""
    try:
        return PROTOCOL_THRESHOLDS[protocol]
    except KeyError:
        names = ", ".join(PROTOCOL_THRESHOLDS)
        raise FactorbenchError(f"unknown AP protocol {protocol!r}; choose one of {names}") from None


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().double().numpy()
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


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a[i] and b[i] (both (Q, 4)), elementwise; a zero union gives 0."""
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    union = area_a + area_b - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """(N, M) intersection over union of pixel xyxy boxes ``boxes_a`` (N, 4) and ``boxes_b``
    (M, 4) (x1/y1 exclusive, area = (x1-x0)·(y1-y0); docs/protocols.md §4.4). A box with x1 <= x0 or
    y1 <= y0 has zero area; a pair whose union is zero has IoU 0, never NaN."""
    a, b = _as_boxes(boxes_a, "boxes"), _as_boxes(boxes_b, "boxes")
    n, m = len(a), len(b)
    return _pair_iou(np.repeat(a, m, axis=0), np.tile(b, (n, 1))).reshape(n, m)


@dataclass
class _Flat:
    """Every image's predictions in one array, sorted by (image, rank within the image), and
    every (prediction, ground truth of its image) pair, grouped by prediction."""

    scores: np.ndarray  # (P,) float64
    image: np.ndarray  # (P,) image index
    rank: np.ndarray  # (P,) rank of the prediction within its image (0 = most confident)
    gt_image: np.ndarray  # (G,) image of each ground truth
    n_gt_of_image: np.ndarray  # (N,)
    pair_pred: np.ndarray  # (Q,) prediction of each pair, non-decreasing
    pair_gt: np.ndarray  # (Q,) ground truth (index into the G flat ground truths)
    pair_iou: np.ndarray  # (Q,)


def _flatten(pred_boxes, pred_scores, gt_boxes) -> _Flat:
    boxes_l, scores_l, gts_l = [], [], []
    for i, (pb, ps, gb) in enumerate(zip(pred_boxes, pred_scores, gt_boxes)):
        boxes = _as_boxes(pb, f"image {i}: predicted boxes")
        scores = _to_numpy(ps).reshape(-1)
        if len(scores) != len(boxes):
            raise FactorbenchError(f"image {i}: {len(boxes)} predicted boxes but {len(scores)} scores")
        if not np.isfinite(scores).all():
            raise FactorbenchError(f"image {i}: predicted scores contain NaN or inf")
        boxes_l.append(boxes)
        scores_l.append(scores)
        gts_l.append(_as_boxes(gb, f"image {i}: ground-truth boxes"))
    n = len(boxes_l)
    k_of = np.array([len(s) for s in scores_l], dtype=np.int64)
    g_of = np.array([len(g) for g in gts_l], dtype=np.int64)
    boxes = np.concatenate(boxes_l) if n else np.zeros((0, 4))
    scores = np.concatenate(scores_l) if n else np.zeros(0)
    gts = np.concatenate(gts_l) if n else np.zeros((0, 4))
    image = np.repeat(np.arange(n), k_of)
    position = np.arange(len(scores)) - np.repeat(np.cumsum(k_of) - k_of, k_of)
    order = np.lexsort((position, -scores, image))  # by image, then confidence, then listed position
    boxes, scores = boxes[order], scores[order]
    rank = position  # image is unchanged by the sort, so rank = position within the image again
    gt_start = np.cumsum(g_of) - g_of
    pairs_of = g_of[image]
    pair_pred = np.repeat(np.arange(len(scores)), pairs_of)
    pair_start = np.cumsum(pairs_of) - pairs_of
    pair_gt = gt_start[image[pair_pred]] + np.arange(len(pair_pred)) - pair_start[pair_pred]
    iou = _pair_iou(boxes[pair_pred], gts[pair_gt])
    return _Flat(scores, image, rank, np.repeat(np.arange(n), g_of), g_of, pair_pred, pair_gt, iou)


def _segment_argmax(values: np.ndarray, seg_start: np.ndarray, n_total: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per contiguous non-empty segment of the last axis starting at ``seg_start``: (max,
    index of its first occurrence). ``values`` (..., Q)."""
    best = np.maximum.reduceat(values, seg_start, axis=-1)
    seg_of = np.repeat(np.arange(len(seg_start)), np.diff(np.append(seg_start, n_total)))
    is_best = values == best[..., seg_of]
    where = np.where(is_best, np.arange(n_total), n_total)
    return best, np.minimum.reduceat(where, seg_start, axis=-1)


def _match_reference(f: _Flat, thr: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(is_tp, is_scored), each (T, P), under the reference rule."""
    p, q = len(f.scores), len(f.pair_iou)
    is_tp = np.zeros((len(thr), p), dtype=bool)
    if q:
        has = np.flatnonzero(np.bincount(f.pair_pred, minlength=p) > 0)
        seg_start = np.searchsorted(f.pair_pred, has)
        best_iou, best_pair = _segment_argmax(f.pair_iou, seg_start, q)
        best_gt = f.pair_gt[best_pair]
        # predictions grouped by their best ground truth, in rank order within each group
        by_gt = np.lexsort((has, best_gt))
        pred_sorted, gt_sorted, iou_sorted = has[by_gt], best_gt[by_gt], best_iou[by_gt]
        for t, tau in enumerate(thr):
            hit = iou_sorted > tau
            cand_gt = gt_sorted[hit]
            first = np.ones(len(cand_gt), dtype=bool)
            first[1:] = cand_gt[1:] != cand_gt[:-1]  # the first candidate of each ground truth takes it
            is_tp[t, pred_sorted[hit][first]] = True
    return is_tp, np.ones((len(thr), p), dtype=bool)


def _match_delete(f: _Flat, thr: np.ndarray, stop_when_all_matched: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(is_tp, is_scored), each (T, P), under the delete-matched rules, one rank at a time
    (every image at once)."""
    n_thr, p, n_gt = len(thr), len(f.scores), len(f.gt_image)
    is_tp = np.zeros((n_thr, p), dtype=bool)
    is_scored = np.ones((n_thr, p), dtype=bool)
    matched = np.zeros((n_thr, n_gt), dtype=bool)
    matched_count = np.zeros((n_thr, len(f.n_gt_of_image)), dtype=np.int64)
    pair_rank = f.rank[f.pair_pred]
    pair_order = np.argsort(pair_rank, kind="stable")  # pairs by rank, still grouped by prediction
    ranks = np.arange(int(f.rank.max(initial=-1)) + 2)
    rank_bounds = np.searchsorted(pair_rank[pair_order], ranks)
    pred_order = np.argsort(f.rank, kind="stable")
    pred_bounds = np.searchsorted(f.rank[pred_order], ranks)
    for r in range(len(ranks) - 1):
        preds = pred_order[pred_bounds[r]:pred_bounds[r + 1]]
        if stop_when_all_matched:
            g = f.n_gt_of_image[f.image[preds]]
            is_scored[:, preds] = (matched_count[:, f.image[preds]] < g) | (g == 0)
        idx = pair_order[rank_bounds[r]:rank_bounds[r + 1]]
        if len(idx) == 0:
            continue
        pp, pg = f.pair_pred[idx], f.pair_gt[idx]
        seg_start = np.flatnonzero(np.r_[True, pp[1:] != pp[:-1]])
        owners = pp[seg_start]
        values = np.where(matched[:, pg], -1.0, f.pair_iou[idx][None, :])  # matched ground truths are out
        best, at = _segment_argmax(values, seg_start, len(idx))
        hit = (best > thr[:, None]) & is_scored[:, owners]
        rows, cols = np.nonzero(hit)
        is_tp[rows, owners[cols]] = True
        matched[rows, pg[at[rows, cols]]] = True
        np.add.at(matched_count, (rows, f.image[owners[cols]]), 1)
    return is_tp, is_scored


def _eleven_point(tp: np.ndarray, scores: np.ndarray, n_ground_truth: int, merge_ties: bool) -> float:
    """VOC 11-point interpolated AP of ranked TP/FP flags ``tp`` with their ``scores``
    (non-increasing); with ``merge_ties`` a run of equal scores is one point."""
    if tp.size == 0:
        return 0.0
    cum_tp = np.cumsum(tp)
    seen = np.arange(1, len(tp) + 1)
    if merge_ties:
        ends = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
        cum_tp, seen = cum_tp[ends], seen[ends]
    precision = cum_tp / seen
    best_after = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at this point or later
    first = np.searchsorted(10 * cum_tp, np.asarray(RECALL_TENTHS) * n_ground_truth, side="left")
    values = np.where(first < len(cum_tp), best_after[np.minimum(first, len(cum_tp) - 1)], 0.0)
    return float(values.mean())


def average_precision(pred_boxes: Sequence[Any], pred_scores: Sequence[Any], gt_boxes: Sequence[Any],
                      iou_thresholds: Union[Sequence[float], str] = SPAIR_THRESHOLDS,
                      matching: str = "reference", ties: str = "merge") -> APResult:
    """Box AP over a dataset split (docs/protocols.md §4.4; thesis §6.4.1, Table 6.1).

    ``pred_boxes[i]`` (K_i, 4) and ``pred_scores[i]`` (K_i,) are image i's predicted pixel
    xyxy boxes and confidences (higher = more confident); ``gt_boxes[i]`` (G_i, 4) its
    ground truth. ``iou_thresholds`` is a sequence in [0, 1) or a protocol name ("spair",
    "space"); ``matching`` one of :data:`MATCHING_RULES`, ``ties`` one of
    :data:`TIE_RULES`. Ranking, ties, matching and interpolation are as in the module
    docstring. No ground-truth box in any image is an error (recall is undefined); no
    prediction at all gives AP 0.
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
    if ties not in TIE_RULES:
        raise FactorbenchError(f"unknown tie rule {ties!r}; choose one of {', '.join(TIE_RULES)}")
    if not (len(pred_boxes) == len(pred_scores) == len(gt_boxes)):
        raise FactorbenchError(f"average precision needs one entry per image in each list; got "
                               f"{len(pred_boxes)} predicted box sets, {len(pred_scores)} score sets and "
                               f"{len(gt_boxes)} ground-truth sets")
    f = _flatten(pred_boxes, pred_scores, gt_boxes)
    n_gt = len(f.gt_image)
    if n_gt == 0:
        raise FactorbenchError("average precision needs ground-truth boxes, but no image has any "
                               "(does this dataset provide 'boxes'?)")
    thr = np.asarray(thresholds, dtype=np.float64)
    if matching == "reference":
        is_tp, is_scored = _match_reference(f, thr)
    else:
        is_tp, is_scored = _match_delete(f, thr, stop_when_all_matched=matching == "spair_2018")
    rank = np.lexsort((f.rank, f.image, -f.scores))  # confidence, then image index, then rank in the image
    per_threshold = []
    for t in range(len(thr)):
        ranked = rank[is_scored[t, rank]]
        per_threshold.append(_eleven_point(is_tp[t, ranked], f.scores[ranked], n_gt, ties == "merge"))
    return APResult(ap=float(np.mean(per_threshold)), iou_thresholds=thresholds,
                    ap_per_threshold=tuple(per_threshold), protocol=protocol, matching=matching,
                    n_predictions=int(len(f.scores)), n_ground_truth=int(n_gt), ties=ties)


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
    ``count_1norm``, the "Object Count Error" of Tables 6.1/6.3 (docs/protocols.md §4.4)."""
    p, t = _counts(pred, true)
    return float(np.abs(p - t).mean())


def count_error_01(pred: Any, true: Any) -> float:
    """Fraction of images whose predicted count differs from the true count (the 0–1 count
    error, docs/protocols.md §4.4), in [0, 1]."""
    p, t = _counts(pred, true)
    return float((p != t).mean())


def count_error_rel(pred: Any, true: Any) -> float:
    """SPACE's relative count error (docs/protocols.md §4.4): mean over images of
    |predicted − true| / true. The ratio is undefined for an image with no objects, so
    images with true count 0 are left out of the mean (SPACE's code would divide by zero);
    if no image has an object this is an error."""
    p, t = _counts(pred, true)
    has_objects = t > 0
    if not has_objects.any():
        raise FactorbenchError("relative count error is undefined: no image has a true count above 0")
    return float((np.abs(p - t)[has_objects] / t[has_objects]).mean())


def count_errors(pred: Any, true: Any) -> Dict[str, float]:
    """The three count errors of docs/protocols.md §4.4 by name: ``count_error_abs``, ``count_error_01``,
    ``count_error_rel`` (the last is NaN when no image has an object)."""
    p, t = _counts(pred, true)
    out = {"count_error_abs": count_error_abs(p, t), "count_error_01": count_error_01(p, t)}
    out["count_error_rel"] = count_error_rel(p, t) if (t > 0).any() else float("nan")
    return out


def detections_to_lists(det: "Detections", keep_only: bool) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Per-image (boxes (K_i, 4) float64 pixels xyxy, scores (K_i,) float64) from a
    :class:`~factorbench.models.objects.Detections` batch, in candidate order (docs/protocols.md §4.4).

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
