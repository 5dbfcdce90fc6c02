"""Box AP and count errors (docs/protocols.md §4.4; thesis §6.4.1, Tables 6.1/6.3) on hand-made cases."""

import numpy as np
import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.metrics.detection import (MATCHING_RULES, SPACE_THRESHOLDS, SPAIR_THRESHOLDS, average_precision,
                                           box_iou, count_error_01, count_error_abs, count_error_rel, count_errors,
                                           detections_to_lists, protocol_thresholds)
from factorbench.models.objects import Detections

A = [0, 0, 10, 10]
B = [20, 0, 30, 10]
C = [0, 20, 10, 30]
FAR = [40, 40, 50, 50]


def test_box_iou_known_values_and_degenerate_boxes():
    iou = box_iou([A, [5, 0, 15, 10], [0, 0, 0, 0]], [A, B, [0, 0, 0, 0]])
    assert iou.shape == (3, 3)
    assert iou[0, 0] == 1.0 and iou[0, 1] == 0.0
    assert iou[1, 0] == pytest.approx(50 / 150)  # half-shifted box: 5x10 overlap, union 150
    assert iou[2, 2] == 0.0 and not np.isnan(iou).any()  # zero-area pair: IoU 0, not NaN
    assert box_iou(np.zeros((0, 4)), [A]).shape == (0, 1)


def test_perfect_predictions_give_ap_one_at_every_threshold():
    gt = [np.array([A, B], float), np.array([C], float)]
    scores = [np.array([0.9, 0.8]), np.array([0.7])]
    for protocol in ("spair", "space"):
        r = average_precision(gt, scores, gt, protocol)
        assert r.ap == 1.0 and r.ap_per_threshold == (1.0,) * len(r.iou_thresholds)
        assert r.protocol == protocol and r.n_ground_truth == 3 and r.n_predictions == 3


def test_no_predictions_give_zero_and_no_ground_truth_is_an_error():
    gt = [np.array([A], float), np.array([C], float)]
    r = average_precision([np.zeros((0, 4)), []], [np.zeros(0), []], gt)
    assert r.ap == 0.0 and r.ap_per_threshold == (0.0,) * 9
    with pytest.raises(FactorbenchError, match="no image has any"):
        average_precision([np.array([A], float)], [[0.5]], [np.zeros((0, 4))])


def test_mismatched_inputs_are_errors():
    with pytest.raises(FactorbenchError, match="one entry per image"):
        average_precision([[A]], [[0.5]], [[A], [B]])
    with pytest.raises(FactorbenchError, match="2 predicted boxes but 1 scores"):
        average_precision([[A, B]], [[0.5]], [[A]])
    with pytest.raises(FactorbenchError, match="unknown AP protocol"):
        average_precision([[A]], [[0.5]], [[A]], "coco")
    with pytest.raises(FactorbenchError, match="NaN"):
        average_precision([[A]], [[float("nan")]], [[A]])


def hand_case(swap_tie=False):
    # image 0: ground truths A, B; image 1: ground truth C
    # p1 = A (0.9); p2 = A again (0.8, a double detection); p3 = B (0.8, ties with p2)
    # p4 = FAR in image 1 (0.9, ties with p1, a false positive); p5 = C (0.5)
    img0 = [A, A, B] if not swap_tie else [A, B, A]
    return [np.array(img0, float), np.array([FAR, C], float)], [np.array([0.9, 0.8, 0.8]), np.array([0.9, 0.5])], \
        [np.array([A, B], float), np.array([C], float)]


def test_hand_computed_ap_with_score_ties_and_a_double_detection():
    # Default tie rule "merge": equal scores form one point. Points after each distinct score:
    #   0.9 {p1 T, p4 F}: TP 1 of 2 -> precision 1/2, recall 1/3
    #   0.8 {p2 F (A already matched: the reference rule has no fallback; B has IoU 0), p3 T}: 2 of 4 -> 1/2, 2/3
    #   0.5 {p5 T}: 3 of 5 -> 3/5, recall 1
    #   11-point: every r has a point at recall >= r with precision 3/5 -> AP = 3/5, whichever way ties are listed
    for swap in (False, True):
        pred, scores, gt = hand_case(swap_tie=swap)
        r = average_precision(pred, scores, gt, iou_thresholds=[0.5])
        assert r.ap == pytest.approx(0.6) and r.ties == "merge" and r.matching == "reference"
    # "listed" (the released codes' stable sorts): ties in image order, then position: p1, p4, p2, p3, p5
    #   TP/FP:     T   F   F   T   T
    #   precision: 1, 1/2, 1/3, 1/2, 3/5      recall (3 GT): 1/3, 1/3, 1/3, 2/3, 1
    #   11-point:  r = 0, .1, .2, .3 -> 1;  r = .4 .. 1.0 (7 points) -> max(1/2, 3/5) = 3/5
    #   AP = (4 * 1 + 7 * 0.6) / 11 = 8.2 / 11
    pred, scores, gt = hand_case()
    assert average_precision(pred, scores, gt, [0.5], ties="listed").ap == pytest.approx(8.2 / 11)
    # With p3 listed before p2 the tie resolves the other way: p1, p4, p3, p2, p5 ->
    #   precision 1, 1/2, 2/3, 1/2, 3/5; recall 1/3, 1/3, 2/3, 2/3, 1
    #   r = 0..0.3 -> 1; r = .4 .. .6 -> 2/3; r = .7 .. 1 -> 3/5: AP = (4 + 3*2/3 + 4*0.6) / 11 = 8.4 / 11
    pred, scores, gt = hand_case(swap_tie=True)
    assert average_precision(pred, scores, gt, [0.5], ties="listed").ap == pytest.approx(8.4 / 11)
    with pytest.raises(FactorbenchError, match="unknown tie rule"):
        average_precision(pred, scores, gt, ties="random")


def test_cross_image_ties_of_a_glimpse_order_score():
    """SAID-like scores (K - t): glimpse t of every image ties. Image 0 finds its object first,
    image 1 second (its first glimpse misses). Merged: after the score-2 glimpses TP 1 of 2
    (precision 1/2, recall 1/2), after the score-1 glimpses TP 2 of 4 (1/2, recall 1): AP = 1/2
    in either image order. Listed, image 0 first: T, F, F, T -> precision 1 at recall 1/2:
    (6 * 1 + 5 * 1/2) / 11; image 1 first: F, T, T, F -> best 2/3 at recall 1: 2/3."""
    gt = [np.array([A], float), np.array([C], float)]
    pred = [np.array([A, FAR], float), np.array([FAR, C], float)]
    scores = [np.array([2.0, 1.0]), np.array([2.0, 1.0])]
    for order in ([0, 1], [1, 0]):
        args = ([pred[i] for i in order], [scores[i] for i in order], [gt[i] for i in order], [0.5])
        assert average_precision(*args).ap == pytest.approx(0.5)
    assert average_precision(pred, scores, gt, [0.5], ties="listed").ap == pytest.approx(8.5 / 11)
    assert average_precision(pred[::-1], scores[::-1], gt[::-1], [0.5], ties="listed").ap == pytest.approx(2 / 3)


def test_ap_does_not_depend_on_the_order_of_the_images():
    rng = np.random.default_rng(0)
    n = 40
    gt = [rng.uniform(0, 40, (rng.integers(1, 4), 2)) for _ in range(n)]
    gt = [np.hstack([g, g + rng.uniform(5, 15, g.shape)]) for g in gt]
    pred = [np.vstack([g + rng.normal(0, 2, g.shape) for _ in range(2)]) for g in gt]  # every object twice
    scores = [np.arange(len(p), 0, -1, dtype=float) for p in pred]  # glimpse order: massive cross-image ties
    for matching in MATCHING_RULES:
        for protocol in ("spair", "space"):
            base = average_precision(pred, scores, gt, protocol, matching=matching).ap
            for seed in range(3):
                perm = np.random.default_rng(seed).permutation(n)
                moved = average_precision([pred[i] for i in perm], [scores[i] for i in perm], [gt[i] for i in perm],
                                          protocol, matching=matching).ap
                assert moved == base
    listed = {average_precision([pred[i] for i in perm], [scores[i] for i in perm], [gt[i] for i in perm], "spair",
                                ties="listed").ap
              for perm in (np.random.default_rng(s).permutation(n) for s in range(5))}
    assert len(listed) > 1  # the listed rule does depend on it: the test can tell


def test_a_match_needs_iou_strictly_above_the_threshold():
    gt = [np.array([[0, 0, 10, 20]], float)]
    half = [np.array([A], float)]  # IoU exactly 100 / 200 = 0.5
    r = average_precision(half, [[1.0]], gt)  # SPAIR thresholds 0.1 .. 0.9
    assert r.ap_per_threshold == (1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert r.ap == pytest.approx(4 / 9)
    three_tenths = [np.array([[0, 0, 3, 10]], float)]  # IoU with A exactly 30 / 100 = 0.3
    assert average_precision(three_tenths, [[1.0]], [np.array([A], float)], [0.3]).ap == 0.0
    assert average_precision(three_tenths, [[1.0]], [np.array([A], float)], [0.29]).ap == 1.0


def test_predictions_are_pooled_across_images():
    # image 0's only prediction misses (FAR); image 1's prediction is exact.
    gt = [np.array([A], float), np.array([C], float)]
    pred = [np.array([FAR], float), np.array([C], float)]
    # confident miss ranked first: precision 0, 1/2; recall 0, 1/2 -> r = 0 .. .5 give 1/2: AP = 6 * 0.5 / 11
    confident = average_precision(pred, [[0.9], [0.5]], gt, [0.5])
    assert confident.ap == pytest.approx(3 / 11)
    # the same miss with a low score comes after the hit: precision 1, 1/2 -> AP = 6 / 11
    unsure = average_precision(pred, [[0.1], [0.5]], gt, [0.5])
    assert unsure.ap == pytest.approx(6 / 11)


def test_a_duplicate_detection_is_not_rescued_by_a_neighbouring_box():
    # Overlapping ground truths A and A' = (5,0,15,10). p1 = A exact; p2 = (2,0,12,10) has IoU 80/120 with A
    # (taken) and 70/130 = 0.538 with A'. The reference rule (released SPAIR/SPACE codes): p2's best box is
    # A, already matched -> false positive. TP, FP -> precision 1, 1/2; recall 1/2, 1/2 -> r = 0 .. .5
    # give 1, the rest 0: AP = 6 / 11. The delete-matched fallback rescues p2 by matching it to A': AP 1.
    gt = [np.array([A, [5, 0, 15, 10]], float)]
    pred = [np.array([A, [2, 0, 12, 10]], float)]
    assert average_precision(pred, [[0.9, 0.8]], gt, [0.5]).ap == pytest.approx(6 / 11)
    assert average_precision(pred, [[0.9, 0.8]], gt, [0.5], matching="reference").ap == pytest.approx(6 / 11)
    assert average_precision(pred, [[0.9, 0.8]], gt, [0.5], matching="greedy_unmatched").ap == 1.0
    assert average_precision(pred, [[0.9, 0.8]], gt, [0.5], matching="spair_2018").ap == 1.0
    # at IoU 0.6 A' (0.538) is out of reach: every rule gives TP, FP -> 6 / 11
    for matching in MATCHING_RULES:
        assert average_precision(pred, [[0.9, 0.8]], gt, [0.6], matching=matching).ap == pytest.approx(6 / 11)


def test_matching_rules_differ_where_the_reference_codes_do():
    # A surplus detection after every ground truth of its image is matched: image 0 {A: A 0.9, A 0.8},
    # image 1 {C: C 0.7}. Reference and greedy: T, F, T -> precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 ->
    # (6 + 5 * 2/3) / 11. SPAIR's code before May 2019 stops scoring image 0 once A is matched: T, T -> AP 1.
    gt = [np.array([A], float), np.array([C], float)]
    pred = [np.array([A, A], float), np.array([C], float)]
    scores = [[0.9, 0.8], [0.7]]
    assert average_precision(pred, scores, gt, [0.5]).ap == pytest.approx(28 / 33)
    assert average_precision(pred, scores, gt, [0.5], matching="greedy_unmatched").ap == pytest.approx(28 / 33)
    assert average_precision(pred, scores, gt, [0.5], matching="spair_2018").ap == 1.0
    # an image without ground truth: its predictions are false positives under every rule
    gt3, pred3, scores3 = gt + [np.zeros((0, 4))], pred + [np.array([B], float)], scores + [[0.95]]
    for matching in MATCHING_RULES:
        # B 0.95 (F) ranks first, so every precision drops below the one without it
        r = average_precision(pred3, scores3, gt3, [0.5], matching=matching)
        assert r.ap < average_precision(pred, scores, gt, [0.5], matching=matching).ap
    # spair_2018: B F, A T, (A 0.8 not scored), C T -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1: every r
    # has 2/3 at recall >= r -> AP 2/3
    assert average_precision(pred3, scores3, gt3, [0.5], matching="spair_2018").ap == pytest.approx(2 / 3)
    with pytest.raises(FactorbenchError, match="unknown matching rule"):
        average_precision(pred, scores, gt, matching="coco")


def test_threshold_constants_and_protocol_names():
    assert SPAIR_THRESHOLDS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert SPACE_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert protocol_thresholds("space") == SPACE_THRESHOLDS
    # a box with IoU 0.75 counts below 0.75 only: 5 of SPACE's 10 thresholds (0.5 .. 0.7)
    gt = [np.array([[0, 0, 10, 10]], float)]
    pred = [np.array([[0, 0, 10, 7.5]], float)]
    r = average_precision(pred, [[1.0]], gt, SPACE_THRESHOLDS)
    assert r.protocol == "space" and r.ap == pytest.approx(0.5)
    assert average_precision(pred, [[1.0]], gt, [0.2, 0.4]).protocol == "custom"


def test_count_errors_on_a_hand_made_batch():
    pred, true = [3, 2, 5, 0], torch.tensor([3, 3, 4, 1])
    assert count_error_abs(pred, true) == pytest.approx(0.75)  # (0 + 1 + 1 + 1) / 4
    assert count_error_01(pred, true) == pytest.approx(0.75)  # 3 of 4 images wrong
    assert count_error_rel(pred, true) == pytest.approx((0 + 1 / 3 + 1 / 4 + 1) / 4)
    assert count_errors(pred, true) == pytest.approx(
        {"count_error_abs": 0.75, "count_error_01": 0.75, "count_error_rel": (1 / 3 + 1 / 4 + 1) / 4})
    with pytest.raises(FactorbenchError, match="one predicted and one true"):
        count_error_abs([1, 2], [1])


def test_relative_count_error_leaves_out_images_without_objects():
    assert count_error_rel([1, 1], [0, 2]) == pytest.approx(0.5)  # image 0 (true 0) is left out
    with pytest.raises(FactorbenchError, match="undefined"):
        count_error_rel([1, 0], [0, 0])
    assert np.isnan(count_errors([1, 0], [0, 0])["count_error_rel"])


def test_detections_to_lists_keep_only_vs_all_candidates():
    boxes = torch.tensor([[A, B, C], [B, C, FAR]], dtype=torch.float32)
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.8, 0.7, 0.6]])
    keep = torch.tensor([[True, False, True], [False, False, False]])
    det = Detections(boxes=boxes, scores=scores, latents=torch.zeros(2, 3, 4), keep=keep)
    kept_boxes, kept_scores = detections_to_lists(det, keep_only=True)
    assert [b.tolist() for b in kept_boxes] == [[A, C], []]
    assert kept_boxes[1].shape == (0, 4)
    assert kept_scores[0].tolist() == pytest.approx([0.9, 0.1]) and kept_scores[1].size == 0
    all_boxes, all_scores = detections_to_lists(det, keep_only=False)
    assert [b.tolist() for b in all_boxes] == [[A, B, C], [B, C, FAR]]
    assert all_scores[1].tolist() == pytest.approx([0.8, 0.7, 0.6])
    # the lists feed average_precision directly. All candidates, ranked: A .9 (T), img1 B .8 (T), img1 C .7 (F),
    # img1 FAR .6 (F), img0 B .5 (T), img0 C .1 (T); 4 GT -> precision 1, 1, 2/3, 1/2, 3/5, 2/3, recall
    # 1/4, 1/2, 1/2, 1/2, 3/4, 1 -> r = 0 .. .5 give 1, r = .6 .. 1 give 2/3: AP = (6 + 5 * 2/3) / 11
    gt = [np.array([A, B, C], float), np.array([B], float)]
    assert average_precision(all_boxes, all_scores, gt, [0.5]).ap == pytest.approx(28 / 33)
    # kept only: A .9 (T), C .1 (T); recall reaches 1/2 -> AP = 6 / 11
    assert average_precision(kept_boxes, kept_scores, gt, [0.5]).ap == pytest.approx(6 / 11)


def test_recall_points_are_compared_exactly():
    # 10 images with one object each, 7 found exactly: recall reaches 7/10 with precision 1, so the 8 points
    # r = 0 .. 0.7 give 1 and AP = 8/11. (A float comparison with np.linspace(0, 1, 11)[7] =
    # 0.7000000000000001 would miss r = 0.7 and give 7/11.)
    gt = [np.array([A], float) for _ in range(10)]
    pred = [np.array([A], float) if i < 7 else np.zeros((0, 4)) for i in range(10)]
    scores = [np.array([1.0 - 0.1 * i]) if i < 7 else np.zeros(0) for i in range(10)]
    assert average_precision(pred, scores, gt, [0.5]).ap == pytest.approx(8 / 11)


def test_frame_boxes_are_the_placed_frames_and_hold_the_tight_boxes():
    """Both ground-truth conventions of multi-digits (thesis §6.4.1): a digit placed with its
    top-left corner at (21, 42) on the 84x84 canvas has the frame 64/84 * (21, 42, 41, 62) =
    (16, 32, 31.238, 47.238) at 64x64; every frame holds its digit's tight box."""
    from factorbench.data import get_dataset
    from factorbench.data.synthetic.multi_digits import frame_boxes

    f = frame_boxes(np.array([[[21, 42], [-1, -1]]]), np.array([1]))
    assert f[0, 0] == pytest.approx([16.0, 32.0, 41 * 64 / 84, 62 * 64 / 84]) and (f[0, 1] == 0).all()
    ds = get_dataset("multi-digits", "test", n=16)
    tight, frame, count = ds.arrays["boxes"], ds.arrays["frame_boxes"], ds.arrays["count"]
    present = np.arange(tight.shape[1])[None, :] < count[:, None]
    assert np.allclose((frame[..., 2] - frame[..., 0])[present], 20 * 64 / 84)
    assert (frame[..., :2][present] <= tight[..., :2][present] + 1).all()  # within the pixel the frame edge cuts
    assert (frame[..., 2:][present] >= tight[..., 2:][present] - 1).all()
    assert (frame[~present] == 0).all()
    # a perfect detector of one convention is not perfect under the other
    gt_t = [tight[i, :count[i]] for i in range(16)]
    gt_f = [frame[i, :count[i]] for i in range(16)]
    scores = [np.arange(c, 0, -1, dtype=float) for c in count]
    assert average_precision(gt_f, scores, gt_f, "space").ap == 1.0
    assert average_precision(gt_f, scores, gt_t, "space").ap < 0.9
