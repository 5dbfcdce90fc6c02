"""CI regression: re-run each benchmark's ``ci`` preset and compare with ``results/baselines/``.

Baseline file ``<benchmark>.json``: for every (model, row, metric) the mean over seeds and
the per-seed values, and per metric a tolerance derived from the seed-to-seed spread:

    σ_m   = pooled standard deviation over seeds of metric m
            (root mean of the per-cell sample variances, ddof = 1)
    tol_m = max(3 · σ_m · √(2/n), 1e-6 · max(1, |value|))

σ_m·√(2/n) is the standard deviation of the difference between two n-seed means if every
seed were redrawn, so a re-run that only differs by run-to-run noise (e.g. another CPU's
floating point) stays well inside 3 of them, while a change to a metric or a model that
shifts a value by more than seed noise does not. The floor keeps a metric that is
identical across seeds (σ = 0) from getting a zero tolerance.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import pandas as pd

from ..errors import FactorbenchError
from ..fileio import atomic_write_json
from ..versions import git_commit, package_versions
from .spec import BenchmarkSpec, TableSpec
from .store import record_row

TOLERANCE_RULE = "tol = max(3 * pooled_seed_std * sqrt(2/n_seeds), 1e-6 * max(1, |value|))"
REL_FLOOR = 1e-6


def table_row(record: Dict[str, Any], table: TableSpec) -> Any:
    """The record's row, joined with its column group ("row @ group") when the table has one."""
    row = record_row(record, table.rows)
    return row if table.column_groups is None else f"{row} @ {record_row(record, table.column_groups)}"


def _per_cell(records: List[Dict[str, Any]], table: TableSpec) -> pd.DataFrame:
    df = pd.DataFrame({"model": r["model"], "row": table_row(r, table), "metric": r["metric"], "seed": r["seed"],
                       "value": r["value"]} for r in records)
    return df.sort_values("seed").groupby(["model", "row", "metric"])["value"].agg(list).reset_index(name="values")


def make_baseline(spec: BenchmarkSpec, records: List[Dict[str, Any]]) -> Dict[str, Any]:
    cells = _per_cell(records, spec.table)
    n = int(cells["values"].map(len).max())
    if n < 2:
        raise FactorbenchError(f"{spec.name}: a baseline needs at least 2 seeds to estimate the spread")
    metrics = {}
    for metric, group in cells.groupby("metric"):
        variances = [pd.Series(v).var(ddof=1) for v in group["values"]]
        sigma = math.sqrt(sum(variances) / len(variances))
        metrics[metric] = {"pooled_seed_std": sigma, "seed_tolerance": 3 * sigma * math.sqrt(2 / n)}
    values = [{"model": c.model, "row": c.row, "metric": c.metric, "mean": sum(c.values) / len(c.values),
               "per_seed": c.values} for c in cells.itertuples()]
    return {"benchmark": spec.name, "preset": "ci", "row_param": spec.table.rows, "n_seeds": n,
            "tolerance_rule": TOLERANCE_RULE, "metrics": metrics, "values": values,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": git_commit(), "versions": package_versions()}


def tolerance(baseline: Dict[str, Any], metric: str, value: float) -> float:
    return max(baseline["metrics"][metric]["seed_tolerance"], REL_FLOOR * max(1.0, abs(value)))


@dataclass
class Drift:
    benchmark: str
    model: str
    row: Any
    metric: str
    baseline: float
    now: float
    tol: float

    @property
    def status(self) -> str:
        if math.isnan(self.now):
            return "MISSING"
        if math.isnan(self.baseline):
            return "NEW"
        return "ok" if abs(self.now - self.baseline) <= self.tol else "DRIFT"


def compare(spec: BenchmarkSpec, baseline: Dict[str, Any], records: List[Dict[str, Any]]) -> List[Drift]:
    now = {(c.model, c.row, c.metric): sum(c.values) / len(c.values)
           for c in _per_cell(records, spec.table).itertuples()}
    out = []
    seen = set()
    for b in baseline["values"]:
        key = (b["model"], b["row"], b["metric"])
        seen.add(key)
        value = now.get(key, math.nan)
        out.append(Drift(spec.name, *key, b["mean"], value, tolerance(baseline, b["metric"], b["mean"])))
    for key, value in now.items():
        if key not in seen:
            out.append(Drift(spec.name, *key, math.nan, value, math.nan))
    return out


def read_baseline(path: Path) -> Dict[str, Any]:
    if not path.exists():
        raise FactorbenchError(f"no baseline {path}; create it with `factorbench regress --update`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FactorbenchError(f"baseline {path} is corrupt ({exc})") from None


def write_baseline(path: Path, baseline: Dict[str, Any]) -> None:
    atomic_write_json(path, baseline)


def diff_table(drifts: List[Drift]) -> str:
    header = ["benchmark", "model", "row", "metric", "baseline", "now", "diff", "tol", "status"]
    lines = [header]
    for d in drifts:
        diff = d.now - d.baseline
        lines.append([d.benchmark, d.model, str(d.row), d.metric, f"{d.baseline:.6g}", f"{d.now:.6g}",
                      f"{diff:+.3g}", f"{d.tol:.3g}", d.status])
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines)
