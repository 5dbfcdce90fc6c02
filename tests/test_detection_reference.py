"""The vectorised ``average_precision`` against a plain, one-prediction-at-a-time
transcription of the rules in ``factorbench/metrics/detection.py``'s docstring (docs/protocols.md §4.4;
thesis §6.4.1), on random sets with duplicates, score ties, empty images and images without
ground truth: equal to 1e-12 under every matching rule, tie rule and protocol."""

import numpy as np
import pytest

from factorbench.metrics.detection import (MATCHING_RULES, SPACE_THRESHOLDS, SPAIR_THRESHOLDS, TIE_RULES,
                                           average_precision, box_iou)


def plain_ap_at(pred_boxes, pred_scores, gt_boxes, tau, matching, ties):
    """AP at one threshold, written as the rules read, with Python loops."""
    entries = []  # (score, image, rank, is_tp)
    n_gt = sum(len(g) for g in gt_boxes)
    for i, (pb, ps, gb) in enumerate(zip(pred_boxes, pred_scores, gt_boxes)):
        order = sorted(range(len(ps)), key=lambda j: -ps[j])  # stable: listed order on ties
        used = [False] * len(gb)
        iou = box_iou(pb, gb) if len(gb) else None
        for rank, j in enumerate(order):
            if matching == "spair_2018" and len(gb) and all(used):
                break  # the image's remaining predictions are not scored
            tp = False
            if len(gb):
                if matching == "reference":
                    best = max(range(len(gb)), key=lambda g: (iou[j, g], -g))  # first on an IoU tie
                    tp = iou[j, best] > tau and not used[best]
                else:
                    free = [g for g in range(len(gb)) if not used[g]]
                    best = max(free, key=lambda g: (iou[j, g], -g)) if free else None
                    tp = best is not None and iou[j, best] > tau
                if tp:
                    used[best] = True
            entries.append((float(ps[j]), i, rank, tp))
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    points, tp_count = [], 0
    for k, (score, _, _, tp) in enumerate(entries):
        tp_count += tp
        last_of_tie = k + 1 == len(entries) or entries[k + 1][0] != score
        if ties == "listed" or last_of_tie:
            points.append((tp_count, k + 1))
    values = []
    for tenth in range(11):
        reached = [t / seen for t, seen in points if 10 * t >= tenth * n_gt]
        values.append(max(reached) if reached else 0.0)
    return sum(values) / 11


def plain_ap(pred_boxes, pred_scores, gt_boxes, thresholds, matching, ties):
    return float(np.mean([plain_ap_at(pred_boxes, pred_scores, gt_boxes, t, matching, ties) for t in thresholds]))


def random_set(rng, n_images):
    gts, preds, scores = [], [], []
    for _ in range(n_images):
        g = rng.integers(0, 4)
        corner = rng.uniform(0, 40, (g, 2))
        gt = np.hstack([corner, corner + rng.uniform(4, 16, (g, 2))])
        k = rng.integers(0, 6)
        own = gt[rng.integers(0, g, k)] + rng.normal(0, 2.5, (k, 4)) if g else np.zeros((0, 4))
        noise = rng.uniform(0, 50, (k, 2))
        junk = np.hstack([noise, noise + rng.uniform(2, 12, (k, 2))])
        p = np.where(rng.random((k, 1)) < 0.8, own, junk) if g else junk
        p = np.hstack([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])])
        gts.append(gt)
        preds.append(p)
        scores.append(rng.integers(0, 4, k).astype(float) if rng.random() < 0.5 else rng.random(k))
    return preds, scores, gts


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_equals_the_plain_rules(seed):
    rng = np.random.default_rng(seed)
    preds, scores, gts = random_set(rng, 25)
    if sum(len(g) for g in gts) == 0:  # pragma: no cover - the seeds used all have ground truth
        gts[0] = np.array([[0.0, 0.0, 5.0, 5.0]])
    for matching in MATCHING_RULES:
        for ties in TIE_RULES:
            for thresholds in (SPAIR_THRESHOLDS, SPACE_THRESHOLDS):
                fast = average_precision(preds, scores, gts, thresholds, matching=matching, ties=ties)
                plain = [plain_ap_at(preds, scores, gts, t, matching, ties) for t in thresholds]
                assert np.allclose(fast.ap_per_threshold, plain, rtol=0, atol=1e-12), (matching, ties)
                assert abs(fast.ap - plain_ap(preds, scores, gts, thresholds, matching, ties)) <= 1e-12


def test_the_rules_do_differ_on_these_sets():
    """The comparison above would be empty if all rules agreed on the random sets."""
    rng = np.random.default_rng(0)
    preds, scores, gts = random_set(rng, 25)
    values = {(m, t): average_precision(preds, scores, gts, "spair", matching=m, ties=t).ap
              for m in MATCHING_RULES for t in TIE_RULES}
    assert len(set(values.values())) >= 4
