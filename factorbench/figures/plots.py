"""Every matplotlib figure: line plots, scatter plots of embeddings, and the report's plots.

- :func:`curves_png`: named curves (fine-tune loss curves, Fig 4.5);
- :func:`scatter_png`: 2-D embeddings coloured by a label (t-SNE/PCA, Figs 4.3, 5.5);
- :func:`loss_curves_png`: training-loss curves per model, one line per grid point, the mean
  over seeds with a ± one-standard-deviation band (steps on x; each curve smoothed by a
  centred moving average over 1/50 of its steps, stated in the axis label);
- :func:`metric_vs_grid_png`: a metric against the grid parameter (β, λ) per model, seed
  means with error bars (the table's spread: std or standard error over seeds);
- :func:`fid_modes_png`: FID from saved PNGs beside FID fed directly, per model and dataset
  (thesis §5.4.2, Tables 5.3/5.4), bars with the seed spread.

Every function writes its PNG atomically and returns the path. No pyplot: figures are made
on their own Agg canvas, so nothing global changes in the calling process; matplotlib is
imported inside :func:`new_figure`, so importing this module costs nothing. Colours come
from :data:`factorbench.figures.style.PALETTE`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import FactorbenchError
from ..fileio import atomic_write_bytes
from .style import colour_hex

if TYPE_CHECKING:  # the report's curves are pandas frames; pandas is not imported to draw
    import pandas as pd


def new_figure(figsize: Tuple[float, float] = (6.0, 4.0), dpi: int = 100):
    """A matplotlib Figure on its own Agg canvas (no pyplot: no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure_png(fig, path, dpi: Optional[int] = None) -> Path:
    """Lay out ``fig`` tightly and write it atomically as a PNG (at the figure's dpi by default)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return Path(atomic_write_bytes(path, buf.getvalue()))


def curves_png(curves: Dict[str, Sequence[float]], path, xlabel: str, ylabel: str, title: str = "",
               figsize: Tuple[float, float] = (6.0, 4.0), dpi: int = 100) -> Path:
    """Line plot of named curves (x = 1, 2, ... per point), written atomically as a PNG."""
    if not curves or any(len(v) == 0 for v in curves.values()):
        raise FactorbenchError("curves_png needs at least one non-empty curve")
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    for i, (name, values) in enumerate(curves.items()):
        ax.plot(range(1, len(values) + 1), list(values), label=name, color=colour_hex(i))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return save_figure_png(fig, path, dpi)


def scatter_png(points, labels, label_names: Sequence[str], path, title: str = "",
                figsize: Tuple[float, float] = (6.0, 6.0), dpi: int = 100) -> Path:
    """Scatter plot of (N, 2) ``points`` coloured by ``labels`` (ints indexing
    ``label_names``), with a legend, written atomically as a PNG of
    ``figsize · dpi`` pixels. Returns the path."""
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise FactorbenchError(f"points must be an (N, 2) array, got shape {points.shape}")
    if labels.shape != (len(points),):
        raise FactorbenchError(f"labels must be one per point: {labels.shape} for {len(points)} points")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer)
                        or labels.min() < 0 or labels.max() >= len(label_names)):
        raise FactorbenchError(f"labels must be integers in [0, {len(label_names)}) indexing label_names")

    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    for i, name in enumerate(label_names):
        sel = labels == i
        ax.scatter(points[sel, 0], points[sel, 1], s=6, alpha=0.7, color=colour_hex(i), label=str(name))
    ax.legend(markerscale=3, fontsize="small")
    if title:
        ax.set_title(title)
    return save_figure_png(fig, path, dpi)


def _figure(width: float = 6.0, height: float = 3.6):
    return new_figure((width, height), 100)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the window shrunk at the ends (same length as the input)."""
    if window <= 1 or len(values) < 3:
        return values
    kernel = np.ones(window)
    num = np.convolve(values, kernel, mode="same")
    den = np.convolve(np.ones_like(values), kernel, mode="same")
    return num / den


def seed_band(curves: Sequence[pd.Series]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, std) over the seeds' curves, on the steps every seed logged."""
    common = sorted(set.intersection(*(set(c.index) for c in curves)))
    stack = np.stack([c.loc[common].to_numpy(dtype=float) for c in curves])
    std = stack.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(len(common))
    return np.asarray(common), stack.mean(axis=0), std


def loss_curves_png(runs: Mapping[str, Sequence[pd.DataFrame]], path: Path, title: str,
                    columns: Sequence[str]) -> Path:
    """``runs``: label (a grid point) -> the ``losses.csv`` frames of its seeds; one panel per
    loss column."""
    fig = _figure(min(4.0 * len(columns), 12.0), 3.4)
    for k, col in enumerate(columns):
        ax = fig.add_subplot(1, len(columns), k + 1)
        window = 1
        for i, (label, frames) in enumerate(runs.items()):
            series = [f.set_index("step")[col].astype(float) for f in frames if col in f.columns]
            if not series:
                continue
            steps, mean, std = seed_band(series)
            window = max(1, len(steps) // 50)
            m, s = smooth(mean, window), smooth(std, window)
            colour = colour_hex(i)
            ax.plot(steps, m, color=colour, label=f"{label} ({len(series)} seeds)", linewidth=1.2)
            ax.fill_between(steps, m - s, m + s, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(col, fontsize=9)
        ax.set_xlabel(f"step (moving average over {window})", fontsize=8)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure_png(fig, path)


def metric_vs_grid_png(points: Mapping[str, Sequence[Tuple[float, float, float]]], path: Path, param: str,
                       metric: str, spread: str) -> Path:
    """``points``: model -> [(grid value, mean, spread)]; a log x-axis when the grid spans
    more than a factor of 20 (β from 0.01 to 20)."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    xs = [x for pts in points.values() for x, _, _ in pts]
    for i, (model, pts) in enumerate(points.items()):
        pts = sorted(pts)
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                    yerr=[0 if math.isnan(p[2]) else p[2] for p in pts], marker="o", capsize=3,
                    color=colour_hex(i), label=model)
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(f"{metric} (mean ± {spread} over seeds)", fontsize=8)
    ax.legend(fontsize=8)
    return save_figure_png(fig, path)


def fid_modes_png(values: Mapping[Tuple[str, str], Mapping[str, Tuple[float, float]]], path: Path) -> Path:
    """``values``: (model, dataset) -> {"fid_saved" | "fid_direct": (mean, std)}."""
    fig = _figure(max(4.0, 1.2 * len(values) + 2), 3.4)
    ax = fig.add_subplot()
    keys = list(values)
    width = 0.38
    for j, (mode, colour) in enumerate((("fid_saved", colour_hex(3)), ("fid_direct", colour_hex(4)))):
        means = [values[k].get(mode, (math.nan, math.nan))[0] for k in keys]
        errs = [values[k].get(mode, (math.nan, math.nan))[1] for k in keys]
        ax.bar(np.arange(len(keys)) + (j - 0.5) * width, means, width, yerr=[0 if math.isnan(e) else e for e in errs],
               capsize=3, color=colour, label=mode.replace("fid_", ""))
    ax.set_xticks(np.arange(len(keys)))
    ax.set_xticklabels([f"{m}\n{d}" for m, d in keys], fontsize=7)
    ax.set_ylabel("FID (mean ± std over seeds)", fontsize=8)
    ax.legend(fontsize=8)
    return save_figure_png(fig, path)
