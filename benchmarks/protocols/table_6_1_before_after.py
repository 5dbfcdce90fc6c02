"""Table 6.1 under the old and the new AP conventions, on the same trained models (issue 15).

Reads the finished cells of a ``said_detection`` run (its records name each checkpoint),
runs each model's ``glimpse`` once on the first ``--n`` test images of its dataset, and
scores the same predictions under:

- *before*: the conventions before issue 15 — matching ``greedy_unmatched`` (a prediction
  falls back to its best *unmatched* box), ties ``listed`` (equal confidences in input
  order), candidates as each model was scored then (SAID: the glimpses its stop rule keeps;
  SPAIR/SPACE: every cell by z_pres), ground truth ``tight`` (the digits' nonzero pixels);
- *after*: the defaults now — ``reference`` matching (SPAIR's auto_yolo since May 2019,
  SPACE's ``compute_ap``), ``merge`` ties, ``all`` candidates (SAID's K = 9 glimpses, every
  SPAIR/SPACE cell), ``frame`` ground truth (each digit's placed frame, §6.4.1);
- and *after* with one convention switched back at a time, to show which moved AP.

Counts (count error) do not depend on these conventions and are not repeated here.

Run: ``python benchmarks/protocols/table_6_1_before_after.py --results RESULTS [--preset quick] [--n 500]``
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from factorbench.bench.store import read_records
from factorbench.data import get_dataset
from factorbench.evaluators.object_discovery import ground_truth_boxes
from factorbench.metrics.detection import SPACE_THRESHOLDS, SPAIR_THRESHOLDS, average_precision, detections_to_lists
from factorbench.models.checkpoint import load_model

BEFORE = {"matching": "greedy_unmatched", "ties": "listed", "candidates": "as scored then", "gt_boxes": "tight"}
#: the candidate sets each model was scored on before issue 15
CANDIDATES_BEFORE = {"said": "kept"}
AFTER = {"matching": "reference", "ties": "merge", "candidates": "all", "gt_boxes": "frame"}


def predictions(model, test, n: int, batch_size: int = 100):
    """(kept boxes, kept scores, all boxes, all scores) per image."""
    kept_b, kept_s, all_b, all_s = [], [], [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, n, batch_size):
            det = model.glimpse(test.images(np.arange(start, min(start + batch_size, n))))
            b, s = detections_to_lists(det, keep_only=True)
            kept_b += b
            kept_s += s
            b, s = detections_to_lists(det, keep_only=False)
            all_b += b
            all_s += s
    return {"kept": (kept_b, kept_s), "all": (all_b, all_s)}


def score(preds, gts, conventions, model: str):
    candidates = conventions["candidates"]
    if candidates == "as scored then":
        candidates = CANDIDATES_BEFORE.get(model, "all")
    boxes, scores = preds[candidates]
    gt = gts[conventions["gt_boxes"]]
    return {name: average_precision(boxes, scores, gt, thresholds, conventions["matching"], conventions["ties"]).ap
            for name, thresholds in (("ap_spair", SPAIR_THRESHOLDS), ("ap_space", SPACE_THRESHOLDS))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--benchmark", default="said_detection")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    cells = {r["cell"]: r for r in read_records(args.results, args.benchmark, args.preset)
             if r["metric"] == "ap_spair" and r.get("target") is None}
    settings = {"before": BEFORE, "after": AFTER}
    for key in AFTER:
        settings[f"after, {key} = {BEFORE[key]}"] = {**AFTER, key: BEFORE[key]}
    values = defaultdict(list)  # (model, setting, metric) -> per-seed values
    for cell, record in sorted(cells.items(), key=lambda kv: (kv[1]["model"], kv[1]["seed"])):
        model = load_model(Path(record["checkpoint"]))
        ds = record["dataset"]
        test = get_dataset(ds["name"], "test", n=ds["n_test"], seed=ds["seed"])
        n = min(args.n, len(test))
        gts = {c: ground_truth_boxes(test, n, c)[0] for c in ("tight", "frame")}
        preds = predictions(model, test, n)
        for name, conventions in settings.items():
            for metric, v in score(preds, gts, conventions, record["model"]).items():
                values[(record["model"], name, metric)].append(v)
        print(f"scored {record['model']} seed {record['seed']} ({cell})", flush=True)
    models = sorted({m for m, _, _ in values})
    print(f"\n{args.benchmark} [{args.preset}], first {args.n} test images, mean ± std over seeds\n")
    print("| conventions | " + " | ".join(f"{m} AP 0.1:0.9 | {m} AP 0.5:0.95" for m in models) + " |")
    print("|---|" + "---|---|" * len(models))
    for name in settings:
        cells_txt = []
        for m in models:
            for metric in ("ap_spair", "ap_space"):
                v = np.asarray(values[(m, name, metric)])
                cells_txt.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
        print(f"| {name} | " + " | ".join(cells_txt) + " |")


if __name__ == "__main__":
    main()
