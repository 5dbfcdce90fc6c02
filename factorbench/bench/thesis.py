"""The thesis's published numbers (SPEC §6), kept as data in ``results/thesis/thesis_numbers.csv``.

Columns: ``table`` (thesis table id, e.g. "3.1"), ``model``, ``row_param`` and ``row_value``
(the hyper-parameter and value of the row, or "dataset" and a dataset name), ``metric``
(factorbench's metric value name), ``value`` (as printed), ``unit`` ("%" or empty),
``text`` (a non-numeric entry such as "collapse").
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import pandas as pd

from ..errors import FactorbenchError
from ..paths import thesis_file

COLUMNS = ["table", "model", "row_param", "row_value", "metric", "value", "unit", "text"]


@lru_cache(maxsize=None)
def _read(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise FactorbenchError(f"thesis numbers file {p} is missing")
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    if list(df.columns) != COLUMNS:
        raise FactorbenchError(f"{p}: expected columns {','.join(COLUMNS)}")
    return df


def thesis_numbers(table: Optional[str] = None, path: Optional[Path] = None) -> pd.DataFrame:
    df = _read(str(path or thesis_file()))
    return df if table is None else df[df["table"] == table]


def thesis_entry(df: pd.DataFrame, model: str, row_value, metric: str) -> Optional[str]:
    """The thesis's entry for one cell, formatted as printed, or None (``row_value`` None:
    any row, for tables whose rows are the models)."""
    match = df[(df["model"] == model) & (df["metric"] == metric)]
    if row_value is not None:
        match = match[match["row_value"].map(lambda v: _same(v, row_value))]
    if match.empty:
        return None
    row = match.iloc[0]
    return row["text"] if row["text"] else f"{row['value']}"


def _same(a: str, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
