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

Values at chance are refused. An accuracy whose band [mean − tol, mean + tol] reaches its
chance level (the cell's ``<stem>_chance`` value: ``probe_linear_test_acc`` →
``probe_linear_chance``, ``probe_linear_zb_test_acc`` → ``probe_chance``) cannot tell a
working encoder from a broken one: an encoder at chance would pass. Such a value is not
compared; the baseline lists it under ``refused`` with its band and chance level, and
``regress`` shows it as ``REFUSED``. More seeds cannot rescue it when the model itself
is at chance (the ci VAE's probe, 0.1445 ± 0.0465 against 0.1328, would need ~50 seeds for a
band clear of chance); the probe's code is checked instead by the metric goldens on fixed
codes (:mod:`.goldens`), and the preset's other values (e.g. the reconstruction error) still
catch a broken encoder.

Checkpoints: ``regress --workdir W`` trains into ``W/checkpoints/`` exactly as ``bench run
--workdir W`` does (same cells, same folders), so either reuses the other's finished runs;
its records always go to a fresh temporary folder, so every value is re-evaluated by the
code under test.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd

from ..errors import FactorbenchError
from ..fileio import atomic_write_json
from ..versions import git_commit, package_versions
from .spec import BenchmarkSpec, TableSpec
from .store import record_row

TOLERANCE_RULE = "tol = max(3 * pooled_seed_std * sqrt(2/n_seeds), 1e-6 * max(1, |value|))"
REL_FLOOR = 1e-6
REFUSE_RULE = "an accuracy whose band mean ± tol reaches its cell's <stem>_chance value is refused (not compared)"


def table_row(record: Dict[str, Any], table: TableSpec) -> Any:
    """The record's row, joined with its column group ("row @ group") when the table has one."""
    row = record_row(record, table.rows)
    return row if table.column_groups is None else f"{row} @ {record_row(record, table.column_groups)}"


def _per_cell(records: List[Dict[str, Any]], table: TableSpec) -> pd.DataFrame:
    df = pd.DataFrame({"model": r["model"], "row": table_row(r, table), "metric": r["metric"], "seed": r["seed"],
                       "value": r["value"]} for r in records)
    return df.sort_values("seed").groupby(["model", "row", "metric"])["value"].agg(list).reset_index(name="values")


ACCURACY_SUFFIXES = ("_train_acc", "_test_acc", "_acc")


def chance_metric(metric: str, available) -> Optional[str]:
    """The chance-level metric of accuracy ``metric`` among ``available``: ``<stem>_chance``
    for the longest prefix ``stem`` of the accuracy's name (None: not an accuracy, or no
    chance level recorded beside it)."""
    suffix = next((s for s in ACCURACY_SUFFIXES if metric.endswith(s)), None)
    if suffix is None:
        return None
    parts = metric[:-len(suffix)].split("_")
    for k in range(len(parts), 0, -1):
        name = "_".join(parts[:k]) + "_chance"
        if name in available:
            return name
    return None


def at_chance(values: List[Dict[str, Any]], metrics: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The entries of ``values`` whose tolerance band reaches their cell's chance level."""
    by_cell: Dict[tuple, Dict[str, float]] = {}
    for v in values:
        by_cell.setdefault((v["model"], v["row"]), {})[v["metric"]] = v["mean"]
    out = []
    for v in values:
        cell = by_cell[(v["model"], v["row"])]
        chance = chance_metric(v["metric"], cell)
        if chance is None:
            continue
        tol = max(metrics[v["metric"]]["seed_tolerance"], REL_FLOOR * max(1.0, abs(v["mean"])))
        if abs(v["mean"] - cell[chance]) <= tol:
            out.append({**v, "chance_metric": chance, "chance": cell[chance], "tol": tol,
                        "reason": f"band {v['mean']:.4g} ± {tol:.3g} reaches chance {cell[chance]:.4g}"})
    return out


def make_baseline(spec: BenchmarkSpec, records: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The baseline of a ci run's records; values whose band reaches chance go to ``refused``."""
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
    refused = at_chance(values, metrics)
    refused_keys = {(r["model"], r["row"], r["metric"]) for r in refused}
    values = [v for v in values if (v["model"], v["row"], v["metric"]) not in refused_keys]
    return {"benchmark": spec.name, "preset": "ci", "row_param": spec.table.rows, "n_seeds": n,
            "tolerance_rule": TOLERANCE_RULE, "refuse_rule": REFUSE_RULE, "metrics": metrics, "values": values,
            "refused": refused,
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
    #: a value the baseline refused to check (its band reaches chance): shown, never failing
    refused: bool = False

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "REFUSED")

    @property
    def status(self) -> str:
        if self.refused:
            return "REFUSED"
        if math.isnan(self.now):
            return "MISSING"
        if math.isnan(self.baseline):
            return "NEW"
        return "ok" if abs(self.now - self.baseline) <= self.tol else "DRIFT"


def compare(spec: BenchmarkSpec, baseline: Dict[str, Any], records: List[Dict[str, Any]]) -> List[Drift]:
    now = {(c.model, c.row, c.metric): sum(c.values) / len(c.values)
           for c in _per_cell(records, spec.table).itertuples()}
    # a baseline written before the refuse rule lists its values at chance among the others
    refused = baseline.get("refused", []) + at_chance(baseline["values"], baseline["metrics"])
    refused_keys = {(r["model"], r["row"], r["metric"]) for r in refused}
    out = []
    seen = set()
    for b in baseline["values"]:
        key = (b["model"], b["row"], b["metric"])
        if key in refused_keys:
            continue
        seen.add(key)
        value = now.get(key, math.nan)
        out.append(Drift(spec.name, *key, b["mean"], value, tolerance(baseline, b["metric"], b["mean"])))
    for r in refused:
        key = (r["model"], r["row"], r["metric"])
        seen.add(key)
        out.append(Drift(spec.name, *key, r["mean"], now.get(key, math.nan), r["tol"], refused=True))
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


def regress_names(names) -> List[str]:
    """The benchmarks to regress: ``names`` (``metrics`` = the goldens), or the goldens and
    every spec with a ci preset."""
    from .goldens import GOLDENS
    from .spec import load_spec, spec_names

    if names:
        return list(names)
    return [GOLDENS] + [n for n in spec_names() if "ci" in load_spec(n).presets]


def run_regress(names, base_dir: Path, workdir: Optional[Path], device: str, progress: bool,
                update: bool) -> Tuple[List[Drift], List[Path]]:
    """Compute the goldens and re-run the ci presets of ``names``; (drifts, baselines written).

    With ``update`` each baseline is rewritten instead of compared (no drifts). Checkpoints go
    to ``workdir/checkpoints`` (default: a temporary folder), records to a fresh temporary
    folder (see the module docstring)."""
    from .goldens import GOLDENS, compute_goldens, make_goldens
    from .output import records_of_spec
    from .run_options import RunOptions
    from .runner import run_benchmark
    from .spec import load_spec
    from .store import read_records

    drifts: List[Drift] = []
    written: List[Path] = []
    with tempfile.TemporaryDirectory(prefix="factorbench-regress-") as tmp:
        root = Path(workdir) if workdir else Path(tmp) / "runs"
        for name in names:
            path = base_dir / f"{name}.json"
            if name == GOLDENS:
                values = compute_goldens()
                if update:
                    write_baseline(path, make_goldens(values))
                    written.append(path)
                else:
                    drifts += compare_goldens(read_baseline(path), values)
                continue
            spec = load_spec(name)
            if "ci" not in spec.presets:
                raise FactorbenchError(f"benchmark {name} has no ci preset to regress")
            opts = RunOptions(spec.preset("ci"), root, Path(tmp) / "results", None, device, progress)
            run_benchmark(spec, opts)
            records = records_of_spec(spec, opts.preset, read_records(opts.results, spec.name, opts.preset.name))
            if update:
                write_baseline(path, make_baseline(spec, records))
                written.append(path)
            else:
                drifts += compare(spec, read_baseline(path), records)
    return drifts, written


def compare_goldens(baseline: Dict[str, Any], values: Dict[Key, float]) -> list:
    """:class:`Drift` rows of the goldens (model column: the group; row: the inputs)."""
    from .goldens import GOLDENS, golden_tolerance

    if baseline.get("benchmark") != GOLDENS or not isinstance(baseline.get("values"), list):
        raise FactorbenchError(f"the metric goldens file is not a {GOLDENS!r} baseline; rewrite it with "
                               f"`factorbench regress --bench {GOLDENS} --update`")
    out, seen = [], set()
    for b in baseline["values"]:
        key = (b["group"], b["inputs"], b["metric"])
        seen.add(key)
        out.append(Drift(GOLDENS, *key, b["value"], values.get(key, float("nan")), golden_tolerance(b["value"])))
    out += [Drift(GOLDENS, *key, float("nan"), v, float("nan")) for key, v in values.items() if key not in seen]
    return out
