"""AP at scale (issue: speed, item 6): ``average_precision`` on 10,000 images x 10
predictions under both protocols (SPAIR IoU 0.1:0.1:0.9, SPACE 0.5:0.05:0.95), every
matching rule, against the plain one-prediction-at-a-time transcription of the rules that
``tests/test_detection_reference.py`` checks it with (run on a subset: the plain code takes
minutes on all 10,000 images), and their largest difference.

Run: ``python benchmarks/perf/ap_scale.py [--images 10000] [--per-image 10] [--plain-images 500]``.
Times depend on the machine; the ratio is from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from factorbench.metrics.detection import MATCHING_RULES, average_precision  # noqa: E402
from test_detection_reference import plain_ap  # noqa: E402


def make_set(rng: np.random.Generator, n_images: int, per_image: int):
    """Multi-MNIST-like: 1-5 objects per image, ``per_image`` predictions near them (with
    duplicates) or anywhere, SAID-like scores (glimpse order: ties across images)."""
    preds, scores, gts = [], [], []
    for _ in range(n_images):
        g = int(rng.integers(1, 6))
        corner = rng.uniform(0, 48, (g, 2))
        gt = np.hstack([corner, corner + rng.uniform(10, 16, (g, 2))])
        near = gt[rng.integers(0, g, per_image)] + rng.normal(0, 2.0, (per_image, 4))
        corner = rng.uniform(0, 50, (per_image, 2))
        far = np.hstack([corner, corner + 12])
        p = np.where(rng.random((per_image, 1)) < 0.7, near, far)
        preds.append(np.hstack([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])]))
        scores.append(np.arange(per_image, 0, -1, dtype=np.float64))
        gts.append(gt)
    return preds, scores, gts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--plain-images", type=int, default=500)
    args = parser.parse_args()
    preds, scores, gts = make_set(np.random.default_rng(0), args.images, args.per_image)
    print(f"{args.images} images x {args.per_image} predictions ({sum(len(g) for g in gts)} ground-truth boxes)")
    for matching in MATCHING_RULES:
        for protocol in ("spair", "space"):
            start = time.perf_counter()
            full = average_precision(preds, scores, gts, protocol, matching=matching)
            fast_s = time.perf_counter() - start
            m = args.plain_images
            start = time.perf_counter()
            sub_fast = average_precision(preds[:m], scores[:m], gts[:m], protocol, matching=matching)
            sub_fast_s = time.perf_counter() - start
            start = time.perf_counter()
            sub_plain = plain_ap(preds[:m], scores[:m], gts[:m], full.iou_thresholds, matching, "merge")
            plain_s = time.perf_counter() - start
            print(f"{matching:16s} {protocol:5s}  AP {full.ap:.6f} in {fast_s:6.2f} s   "
                  f"first {m}: vectorised {sub_fast_s:.3f} s, plain {plain_s:.2f} s "
                  f"({plain_s / max(sub_fast_s, 1e-9):.0f}x), |diff| {abs(sub_fast.ap - sub_plain):.1e}")


if __name__ == "__main__":
    main()
