"""Table 6.2 under the old and the new digit-sum conventions, on the same trained models (issue 15).

Reads the finished cells of a ``said_digit_sum`` run (its records name each checkpoint and
the evaluator's parameters) and runs the ``digit_sum`` evaluator again on each model with:

- *before*: ``glimpse_set = "kept"`` (the model row sums the glimpses its stop rule keeps)
  and ``gt_boxes = "tight"`` (the GT row crops the digits' nonzero pixels);
- *after*: the defaults now, ``glimpse_set = "first"`` (§6.4.2: "the first 5 predictions
  are the inputs that we use ... while we do not have any presence parameters") and
  ``gt_boxes = "frame"`` (each digit's placed frame, §6.4.1);
- and *after* with one of the two switched back.

The evaluator's seed is the one the benchmark used, so *after* reproduces the stored table.

Each setting retrains the digit-sum regressors (both rows, both modes), so the full
comparison costs 4 × the benchmark's evaluation time; ``--models`` and ``--rows`` narrow it
(``--rows model --settings before,after`` compares only the glimpse sets).

Run: ``python benchmarks/protocols/table_6_2_before_after.py --results RESULTS [--preset quick]
[--models said] [--rows gt,model] [--settings before,after,...]``
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from factorbench.bench.spec import load_spec
from factorbench.bench.store import read_records
from factorbench.data import get_dataset
from factorbench.evaluators import EVALUATORS, EvalContext
from factorbench.models.checkpoint import load_model
from factorbench.seeding import stage_seed

SETTINGS = {
    "before": {"glimpse_set": "kept", "gt_boxes": "tight"},
    "after": {"glimpse_set": "first", "gt_boxes": "frame"},
    "after, glimpse_set = kept": {"glimpse_set": "kept", "gt_boxes": "frame"},
    "after, gt_boxes = tight": {"glimpse_set": "first", "gt_boxes": "tight"},
}
COLUMNS = ("digit_sum_fixed_test_acc", "digit_sum_unfixed_test_acc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--benchmark", default="said_digit_sum")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--models", default="", help="comma-separated models (default: every model of the run)")
    parser.add_argument("--rows", default="gt,model", help="digit_sum rows to evaluate")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    args = parser.parse_args()
    preset = load_spec(args.benchmark).preset(args.preset)
    params = {**preset.metric_params.get("digit_sum", {}), "rows": args.rows.split(",")}
    settings = {name: SETTINGS[name] for name in args.settings.split(",")}
    models = set(args.models.split(",")) if args.models else None
    cells = {r["cell"]: r for r in read_records(args.results, args.benchmark, args.preset)
             if models is None or r["model"] in models}
    values = defaultdict(list)  # (row, setting, column) -> per-seed values
    for cell, record in sorted(cells.items(), key=lambda kv: (kv[1]["model"], kv[1]["seed"])):
        model = load_model(Path(record["checkpoint"]))
        ds = record["dataset"]
        train = get_dataset(ds["name"], "train", n=ds["n_train"], seed=ds["seed"])
        test = get_dataset(ds["name"], "test", n=ds["n_test"], seed=ds["seed"])
        for name, conventions in settings.items():
            ctx = EvalContext(model, train, test, seed=stage_seed(record["seed"], "eval/digit_sum"),
                              batch_size=preset.eval_batch_size)
            for v in EVALUATORS.get("digit_sum")(ctx, **{**params, **conventions}):
                if v.metric in COLUMNS:
                    row = record["model"] if v.target == "model" else f"GT boxes ({record['model']} cell)"
                    values[(row, name, v.metric)].append(v.value)
        print(f"evaluated {record['model']} seed {record['seed']} ({cell})", flush=True)
    rows = sorted({r for r, _, _ in values})
    print(f"\n{args.benchmark} [{args.preset}]: digit-sum test accuracy (fixed | unfixed), mean ± std over seeds\n")
    print("| row | " + " | ".join(settings) + " |")
    print("|---|" + "---|" * len(settings))
    for row in rows:
        cells_txt = []
        for name in settings:
            parts = []
            for column in COLUMNS:
                v = np.asarray(values[(row, name, column)])
                parts.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}" if len(v) else "—")
            cells_txt.append(" \\| ".join(parts))
        print(f"| {row} | " + " | ".join(cells_txt) + " |")


if __name__ == "__main__":
    main()
