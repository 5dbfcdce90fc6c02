"""``factorbench report``: a static site over stored results (it trains nothing).

``build_report(specs, preset, results, out)`` writes ``out/index.html`` (every benchmark,
with the verdicts of all findings) and ``out/<benchmark>.html`` per benchmark:

- the paper-style table with the thesis's numbers beside ours, headed with the thesis's data
  and scale where ours differ (:func:`..bench.thesis.thesis_label`);
- the findings of that table with their verdicts (:mod:`..bench.findings`);
- plots (:mod:`.plots`): training-loss curves per model from the cells' ``losses.csv``
  (mean ± std over seeds), each table metric against the grid parameter when the rows are a
  grid (β, λ), saved against direct FID when the records have both;
- a protocol card per table metric (:mod:`.cards`);
- the figures the evaluators wrote (``<results>/figures/<bench>/<preset>/``), of the seed-0
  cell of each model and grid point, copied beside the page, each with a caption.

Everything comes from the records, the checkpoints' ``losses.csv`` and the figure files; a
missing ``losses.csv`` (a checkpoint folder deleted after evaluation) only drops its curve.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from ..bench.findings import check_findings, load_findings, select
from ..bench.output import records_of_spec
from ..bench.spec import BenchmarkSpec, PresetSpec, load_spec
from ..bench.store import read_records
from ..bench.tables import aggregate, build_table, table_cells
from ..errors import FactorbenchError
from ..fileio import atomic_write_bytes, atomic_write_text
from . import html
from .captions import figure_caption
from .cards import protocol_cards
from ..figures.plots import fid_modes_png, loss_curves_png, metric_vs_grid_png
from .plots import group_points

#: at most this many loss columns per model (the total first)
MAX_LOSS_PANELS = 3


def _grid_label(grid: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(grid.items())) or "one setting"


def read_losses(checkpoint: str) -> Optional[pd.DataFrame]:
    if not checkpoint:  # an external row (samples from elsewhere) has no training run
        return None
    path = Path(checkpoint) / "losses.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, UnicodeDecodeError):
        return None
    return frame if "step" in frame.columns and len(frame) else None


def loss_columns(frames: Sequence[pd.DataFrame]) -> List[str]:
    common = set.intersection(*(set(f.columns) for f in frames)) - {"step", "epoch"}
    ordered = (["loss"] if "loss" in common else []) + sorted(common - {"loss"})
    return ordered[:MAX_LOSS_PANELS]


def _cells_of(records: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """One entry per cell: model, grid, seed, checkpoint."""
    out = {}
    for r in records:
        out.setdefault(r["cell"], {"model": r["model"], "grid": r.get("grid") or {}, "seed": int(r["seed"]),
                                   "checkpoint": r.get("checkpoint") or ""})
    return out


def loss_plots(spec: BenchmarkSpec, records: List[Dict[str, Any]], folder: Path, rel: str) -> List[str]:
    cells = _cells_of(records)
    by_model: Dict[str, Dict[str, List[pd.DataFrame]]] = {}
    for c in sorted(cells.values(), key=lambda c: sorted((k, float(v) if isinstance(v, (int, float)) else 0.0, str(v))
                                                       for k, v in c["grid"].items())):
        frame = read_losses(c["checkpoint"])
        if frame is not None:
            by_model.setdefault(c["model"], {}).setdefault(_grid_label(c["grid"]), []).append(frame)
    out = []
    for model, runs in by_model.items():
        frames = [f for fs in runs.values() for f in fs]
        cols = loss_columns(frames)
        if not cols:
            continue
        name = f"loss-{model}.png"
        loss_curves_png(runs, folder / name, f"{model}: training losses per step", cols)
        out.append(html.figure(f"{rel}/{name}", f"Training losses of {model} ({', '.join(cols)}), one line per grid "
                                                f"point: mean over seeds with a ± one-std band."))
    return out


def metric_plots(spec: BenchmarkSpec, records: List[Dict[str, Any]], folder: Path, rel: str) -> List[str]:
    rows = spec.table.rows
    if rows in ("model", "target"):
        return []
    stats = aggregate(records, rows, spec.table.column_groups)
    if stats["row"].nunique() < 2:
        return []
    out = []
    for metric in (m for m in spec.table.columns if not m.endswith("_chance")):  # chance: not the model's
        points = group_points(stats, metric, spec.table.spread)
        if not points:
            continue
        name = f"{metric}-vs-{rows}.png"
        metric_vs_grid_png(points, folder / name, spec.table.row_label or rows, metric, spec.table.spread)
        out.append(html.figure(f"{rel}/{name}", f"{metric} against {spec.table.row_label or rows}, per model "
                                                f"(mean ± {spec.table.spread} over seeds)."))
    return out


def fid_plot(records: List[Dict[str, Any]], folder: Path, rel: str) -> List[str]:
    values: Dict[tuple, Dict[str, list]] = {}
    for r in records:
        if r["metric"] in ("fid_saved", "fid_direct") and isinstance(r.get("value"), (int, float)):
            key = (r["model"], r.get("target") or r["dataset"]["name"])
            values.setdefault(key, {}).setdefault(r["metric"], []).append(float(r["value"]))
    both = {k: v for k, v in values.items() if "fid_saved" in v and "fid_direct" in v}
    if not both:
        return []
    summary = {k: {m: (float(pd.Series(x).mean()), float(pd.Series(x).std(ddof=1)) if len(x) > 1 else float("nan"))
                   for m, x in v.items()} for k, v in both.items()}
    fid_modes_png(summary, folder / "fid-modes.png")
    return [html.figure(f"{rel}/fid-modes.png", "FID from saved PNGs against FID from images fed directly, per model "
                                                "and dataset (thesis §5.4.2).")]


def evaluator_figures(spec: BenchmarkSpec, preset: PresetSpec, records: List[Dict[str, Any]], results: Path, folder: Path,
                      rel: str) -> List[str]:
    out = []
    for cell_id, c in sorted(_cells_of(records).items(), key=lambda kv: (kv[1]["model"], _grid_label(kv[1]["grid"]))):
        if c["seed"] != 0:
            continue
        src = Path(results) / "figures" / spec.name / preset.name / f"{c['model']}-{cell_id}"
        if not src.is_dir():
            continue
        for png in sorted(src.glob("*.png")):
            target = folder / f"{c['model']}-{cell_id}" / png.name
            atomic_write_bytes(target, png.read_bytes())
            out.append(html.figure(f"{rel}/{c['model']}-{cell_id}/{png.name}",
                                   f"{c['model']}, {_grid_label(c['grid'])}, seed 0: {figure_caption(png.stem)}."))
    return out


def benchmark_page(spec: BenchmarkSpec, preset: PresetSpec, results: Path, out: Path, findings) -> Dict[str, Any]:
    records = records_of_spec(spec, preset, read_records(results, spec.name, preset.name))
    nav = [("index", "index.html")]
    if not records:
        body = [f"<p>No records for preset {html.escape(preset.name)} in {html.escape(str(results))}: run "
                f"<code>factorbench bench run {html.escape(spec.name)} --preset {html.escape(preset.name)}</code>.</p>"]
        atomic_write_text(out / f"{spec.name}.html", html.page(spec.title, body, nav))
        return {"name": spec.name, "title": spec.title, "records": 0}
    table = build_table(spec, preset, records, show_thesis=bool(spec.table.thesis))
    plots_dir, figs_dir = out / spec.name / "plots", out / spec.name / "figures"
    body = [html.section("Table", [html.table(table_cells(table), table.caption, css_id="results-table")])]
    mine = select(findings, [spec.name])
    if mine:
        body.append(html.section("Findings", [html.findings_table(check_findings(mine, preset.name, results))]))
    plots = (loss_plots(spec, records, plots_dir, f"{spec.name}/plots")
             + metric_plots(spec, records, plots_dir, f"{spec.name}/plots")
             + fid_plot(records, plots_dir, f"{spec.name}/plots"))
    if plots:
        body.append(html.section("Plots", plots))
    cards = protocol_cards(records, spec.table.columns)
    shared = len({tuple(c.versions) for c in cards}) == 1  # one set of library versions: shown once
    content = [html.card(c, versions=not shared) for c in cards]
    if shared and cards and cards[0].versions:
        content.append('<div class="card"><strong>library versions (every record)</strong>'
                       + html.plain_table(["library", "version"], cards[0].versions) + "</div>")
    body.append(html.section("Protocols", content))
    figs = evaluator_figures(spec, preset, records, results, figs_dir, f"{spec.name}/figures")
    if figs:
        body.append(html.section("Figures (seed 0 of each model and grid point)", figs))
    atomic_write_text(out / f"{spec.name}.html", html.page(f"{spec.title} [{preset.name}]", body, nav))
    return {"name": spec.name, "title": spec.title, "records": len(records),
            "seeds": len({r["seed"] for r in records})}


def build_report(spec_names: Sequence[str], preset: str, results: Path, out: Path,
                 findings_path: Optional[Path] = None) -> Path:
    """Write the site; returns the index page."""
    from ..bench.spec import spec_names as all_specs

    names = list(spec_names) or all_specs()
    specs = [load_spec(n) for n in names]
    specs = [s for s in specs if preset in s.presets] if not spec_names else specs
    if not specs:
        raise FactorbenchError(f"no benchmark has a {preset} preset")
    out = Path(out)
    findings = load_findings(findings_path)
    pages = [benchmark_page(s, s.preset(preset), Path(results), out, findings) for s in specs]
    rows = [(f'<a href="{html.escape(p["name"])}.html">{html.escape(p["name"])}</a>', html.escape(p["title"]),
             str(p["records"]), str(p.get("seeds", 0))) for p in pages]
    index_rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    bench_table = ('<table id="benchmarks"><thead><tr><th>benchmark</th><th>table</th><th>records</th><th>seeds</th>'
                   f"</tr></thead><tbody>{index_rows}</tbody></table>")
    chosen = select(findings, [s.name for s in specs])
    body = [f"<p>Preset <b>{html.escape(preset)}</b>; results from {html.escape(str(results))}; written "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}.</p>", html.section("Benchmarks", [bench_table])]
    if chosen:
        body.append(html.section("Findings", [html.findings_table(check_findings(chosen, preset, Path(results)),
                                                                  css_id="all-findings")]))
    index = out / "index.html"
    atomic_write_text(index, html.page(f"factorbench report [{preset}]", body))
    return index
