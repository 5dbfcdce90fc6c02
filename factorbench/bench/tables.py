"""Paper-style tables as views over result records (docs/protocols.md §5).

:func:`aggregate` groups records by (model, row value, metric) and computes mean, sample
standard deviation (ddof = 1) over seeds, standard error (std/√n) and n. :func:`render`
writes Markdown, LaTeX or CSV: "mean ± std" (or ± stderr), the best mean of each column in
bold according to the metric's direction, missing cells as "—", and optionally the
thesis's published number beside ours. Accuracies (``*_acc``, ``*_chance``) are shown in %.

A cell is *complete* when every seed of the table has a finite value in it. An incomplete
cell says so: its mean is over the values it has, followed by "(2/3 seeds)" or "(2/3
seeds; 1 NaN)", and "NaN" when no seed has a finite value; it is never bold, so a row with
a failed seed is not shown as the best one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pandas as pd

from ..errors import FactorbenchError
from ..evaluators import metric_direction
from .spec import BenchmarkSpec, PresetSpec, TableSpec
from .store import record_row
from .thesis import thesis_entry, thesis_label, thesis_numbers

MISSING = "—"


def is_fraction(metric: str) -> bool:
    return metric.endswith("_acc") or metric.endswith("_chance")


def aggregate(records: List[Dict[str, Any]], rows: str, groups: Optional[str] = None) -> pd.DataFrame:
    """Per (model, row, column group, metric): mean, std (ddof=1, NaN for one seed) and
    stderr over the finite values, ``n`` (how many are finite), ``seeds`` (how many records)
    and ``n_nan`` (records whose value is NaN or null). Without ``groups`` the group is ""
    everywhere."""
    if not records:
        raise FactorbenchError("no records to aggregate")
    df = pd.DataFrame(
        {"model": r["model"], "row": record_row(r, rows), "group": record_row(r, groups) if groups else "",
         "metric": r["metric"], "seed": r["seed"], "value": _number(r)}
        for r in records
    )
    for key, param in (("row", rows), ("group", groups)):
        if df[key].isna().any():
            what = "target dataset" if param == "target" else f"grid parameter {param!r}"
            raise FactorbenchError(f"some records have no {what} (the table's {key}s)")
    g = df.groupby(["model", "row", "group", "metric"])["value"]
    out = g.agg(mean="mean", std=lambda v: v.std(ddof=1), n="count", seeds="size").reset_index()
    out["n_nan"] = out["seeds"] - out["n"]
    out["stderr"] = out["std"] / out["n"].map(lambda n: math.sqrt(n) if n else math.nan)
    return out


def _number(record: Dict[str, Any]) -> float:
    """A record's value as a float (null: NaN); anything else is a one-line error."""
    value = record.get("value", "(no value)")
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FactorbenchError(f"record {record.get('cell', '?')}.{record.get('metric', '?')} (seed "
                               f"{record.get('seed', '?')}): value must be a number, found {value!r}")
    return float(value)


@dataclass
class Column:
    model: str
    metric: str
    label: str
    direction: str
    thesis: Dict[Any, str] = field(default_factory=dict)
    #: the value of the table's column_groups parameter this column shows ("" for none)
    group: Any = ""


@dataclass
class Table:
    title: str
    caption: str
    row_label: str
    rows: List[Any]
    columns: List[Column]
    stats: pd.DataFrame
    spread: str
    #: bold the best value of each column (off when rows are not comparable)
    bold: bool = True
    #: metric holding a 0/1 collapse flag; where most seeds collapsed the cell says "collapse"
    collapse: Optional[str] = None
    #: heading suffix of the thesis columns: the thesis's data and scale when ours differ
    thesis_label: str = "thesis"
    #: model -> how many seeds a complete cell of it has (the table's seeds; 1 for an
    #: external row); a model not listed: its cells are never marked incomplete
    expected_seeds: Dict[str, int] = field(default_factory=dict)

    def expected(self, c: pd.Series) -> int:
        return int(self.expected_seeds.get(c["model"], c["seeds"]))

    def complete(self, c: pd.Series) -> bool:
        return int(c["n"]) >= self.expected(c)

    def cell(self, row, col: Column, metric: Optional[str] = None) -> Optional[pd.Series]:
        s = self.stats
        sel = (s["metric"] == (metric or col.metric)) & (s["row"] == row) & (s["group"] == col.group)
        if col.model is not None:  # None: the rows are the models
            sel &= s["model"] == col.model
        hit = s[sel]
        return None if hit.empty else hit.iloc[0]

    def collapsed(self, row, col: Column) -> bool:
        if self.collapse is None:
            return False
        flag = self.cell(row, col, self.collapse)
        return flag is not None and flag["mean"] >= 0.5


def preset_columns(spec: BenchmarkSpec, p: PresetSpec, recorded=()) -> List[str]:
    """The table's columns that some evaluator of this preset produces or that have records:
    a column only another preset's metric fills (vae_beta_sweep's classifier, off in ci) is
    left out rather than shown empty; a column the preset should fill but did not stays, as "—"."""
    from ..evaluators import EVALUATORS

    names = set(p.metrics) | set(p.external_metrics if p.external else ())
    for model in list(p.models):
        names |= set(p.metrics_for(model))
    produced = {out for name in names if name in EVALUATORS for out in EVALUATORS.get(name).outputs}
    return [c for c in spec.table.columns if c in produced or c in set(recorded)]


def build_table(spec: BenchmarkSpec, preset: PresetSpec, records: List[Dict[str, Any]], show_thesis: bool) -> Table:
    t: TableSpec = spec.table
    stats = aggregate(records, t.rows, t.column_groups)
    models = preset.models + list(preset.external)
    by_model = t.rows == "model"
    if by_model:  # rows are the models, in the spec's order; one column per metric
        rows = [m for m in models if m in set(stats["row"])]
    else:
        rows = sorted(stats["row"].unique(), key=_sort_key)
    thesis = thesis_numbers(t.thesis) if (show_thesis and t.thesis) else None
    groups = sorted(stats["group"].unique(), key=_sort_key)
    columns = []
    for metric in preset_columns(spec, preset, {r["metric"] for r in records}):
        for group in groups:
            for model in [None] if by_model else models:
                label = t.labels.get(metric, metric) + (f" {group}" if group != "" else "")
                label += f" {model}" if model is not None and len(models) > 1 else ""
                col = Column(model, metric, label + (" (%)" if is_fraction(metric) else ""), metric_direction(metric),
                             group=group)
                if thesis is not None:
                    col.thesis = {r: e for r in rows if (e := (
                        thesis_entry(thesis, r, group if group != "" else None, metric) if by_model else
                        thesis_entry(thesis, model, r, metric))) is not None}
                columns.append(col)
    external = set(preset.external)
    trained_seeds = len({r["seed"] for r in records if r["model"] not in external})
    expected = {m: (len({r["seed"] for r in records if r["model"] == m}) if m in external else trained_seeds)
                for m in set(stats["model"])}
    label = thesis_label(t.thesis, preset.name, {r["dataset"]["name"] for r in records})
    return Table(spec.title, _caption(spec, preset, records, stats), t.row_label or t.rows, rows, columns, stats,
                 t.spread, t.bold, t.collapse, label, expected)


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v))


def _caption(spec: BenchmarkSpec, preset: PresetSpec, records: List[Dict[str, Any]], stats: pd.DataFrame) -> str:
    seeds = sorted({r["seed"] for r in records})
    ds = dict(records[0]["dataset"])
    if spec.table.column_groups:  # one dataset per column group: name them all
        ds["name"] = ", ".join(sorted({r["dataset"]["name"] for r in records}))
    defs = {}
    for r in records:
        d = r["protocol"].get("definition")
        if d and r["metric"] not in defs:
            defs[r["metric"]] = d
    spread = "standard deviation" if spec.table.spread == "std" else "standard error"
    parts = [
        f"{spec.table.caption or spec.title}.",
        f"Preset {preset.name}; {'source ' if spec.table.rows == 'target' else ''}dataset {ds['name']} (train n={ds['n_train'] or 'default'}, test n={ds['n_test'] or 'default'}).",
        f"Mean ± {spread} over {len(seeds)} seed(s) ({', '.join(map(str, seeds))})"
        + ("; best per column in bold." if spec.table.bold else "."),
    ]
    by_definition: Dict[str, List[str]] = {}
    for m, d in defs.items():
        by_definition.setdefault(d, []).append(m)
    parts += [f"{', '.join(sorted(ms))}: {d}." for d, ms in by_definition.items()]
    return " ".join(parts)


def _decimals(mean: float, metric: str) -> int:
    """3 decimals for small unscaled values (AP, sharpness), else 2; the spread follows its mean."""
    return 3 if abs(mean) < 1 and not is_fraction(metric) else 2


def _fmt_number(value: float, metric: str, decimals: int) -> str:
    return f"{value * 100 if is_fraction(metric) else value:.{decimals}f}"


def _best_rows(table: Table, col: Column) -> set:
    if not table.bold or col.direction not in ("lower", "higher"):
        return set()
    means = {r: c["mean"] for r in table.rows
             if (c := table.cell(r, col)) is not None and not table.collapsed(r, col) and table.complete(c)}
    if not means:
        return set()
    best = (min if col.direction == "lower" else max)(means.values())
    return {r for r, m in means.items() if m == best}


def _cells(table: Table) -> List[List[Tuple[str, bool]]]:
    """Header and body as (text, is_best) pairs; renderers add their own markup."""
    header = [(table.row_label, False)]
    for col in table.columns:
        header.append((col.label, False))
        if col.thesis:
            header.append((f"{col.label} ({table.thesis_label})", False))
    body = []
    best = {id(col): _best_rows(table, col) for col in table.columns}
    for r in table.rows:
        line = [(str(r), False)]
        for col in table.columns:
            c = table.cell(r, col)
            if c is None:
                line.append((MISSING, False))
            elif table.collapsed(r, col):
                line.append(("collapse", False))
            else:
                line.append((_cell_text(table, c, col), r in best[id(col)]))
            if col.thesis:
                line.append((col.thesis.get(r, MISSING), False))
        body.append(line)
    return [header] + body


def _cell_text(table: Table, c: pd.Series, col: Column) -> str:
    """"mean ± spread", and for an incomplete cell how many seeds the mean is over."""
    if int(c["n"]) == 0:
        text = "NaN"
    else:
        decimals = _decimals(c["mean"], col.metric)
        text = _fmt_number(c["mean"], col.metric, decimals)
        spread = c["std"] if table.spread == "std" else c["stderr"]
        if not math.isnan(spread):
            text += f" ± {_fmt_number(spread, col.metric, decimals)}"
    if not table.complete(c):
        nan = f"; {int(c['n_nan'])} NaN" if c["n_nan"] else ""
        text += f" ({int(c['n'])}/{table.expected(c)} seeds{nan})"
    return text


def render_markdown(table: Table) -> str:
    rows = [[f"**{t}**" if b else t for t, b in r] for r in _cells(table)]
    lines = [f"### {table.title}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    lines += ["", table.caption, ""]
    return "\n".join(lines)


LATEX_ESCAPES = (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("—", "--"), ("β", r"$\beta$"), ("λ", r"$\lambda$"), ("Σ", r"$\Sigma$"),
                 ("μ", r"$\mu$"))


def latex_escape(s: str) -> str:
    for a, b in LATEX_ESCAPES:
        s = s.replace(a, b)
    return s


def render_latex(table: Table) -> str:
    def line(cells):
        return " & ".join(r"\textbf{" + latex_escape(t) + "}" if b else latex_escape(t) for t, b in cells) + r" \\"
    rows = _cells(table)
    out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "c" * (len(rows[0]) - 1) + "}", r"\toprule",
           line(rows[0]), r"\midrule"]
    out += [line(r) for r in rows[1:]]
    out += [r"\bottomrule", r"\end{tabular}", r"\caption{" + latex_escape(table.caption) + "}", r"\end{table}", ""]
    return "\n".join(out)


def render_csv(table: Table) -> str:
    """Machine-readable: one line per (row, column) with mean, std, stderr, n and thesis."""
    lines = []
    for r in table.rows:
        for col in table.columns:
            c = table.cell(r, col)
            values = (c["mean"], c["std"], c["stderr"], int(c["n"])) if c is not None else ("", "", "", 0)
            lines.append({"row_param": table.row_label, "row": r, "model": r if col.model is None else col.model,
                          "group": col.group, "metric": col.metric, "mean": values[0], "std": values[1], "stderr": values[2], "n": values[3],
                          "collapsed": table.collapsed(r, col), "thesis": col.thesis.get(r, ""),
                          "n_nan": int(c["n_nan"]) if c is not None else 0,
                          "seeds_expected": table.expected(c) if c is not None else ""})
    return pd.DataFrame(lines).to_csv(index=False)


def table_cells(table: Table) -> List[List[Tuple[str, bool]]]:
    """Header and body as (text, is_best) pairs, for renderers outside this module (the report)."""
    return _cells(table)


RENDERERS = {"md": render_markdown, "latex": render_latex, "csv": render_csv}
EXTENSIONS = {"md": "md", "latex": "tex", "csv": "csv"}
