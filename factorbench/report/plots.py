"""The report's plot data, read from records: :func:`group_points` (the figures themselves
are drawn by :mod:`factorbench.figures.plots`)."""

from __future__ import annotations

from typing import Dict, List, Tuple

import pandas as pd


def group_points(stats: pd.DataFrame, metric: str, spread: str) -> Dict[str, List[Tuple[float, float, float]]]:
    """Per model, (row value, mean, spread) of one metric from :func:`..bench.tables.aggregate`'s frame."""
    out: Dict[str, List[Tuple[float, float, float]]] = {}
    sub = stats[stats["metric"] == metric]
    for _, r in sub.iterrows():
        try:
            x = float(r["row"])
        except (TypeError, ValueError):
            continue
        out.setdefault(str(r["model"]), []).append((x, float(r["mean"]), float(r[spread])))
    return out
