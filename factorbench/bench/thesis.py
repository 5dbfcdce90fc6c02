"""The thesis's published numbers (docs/protocols.md §6), kept as data in ``results/thesis/thesis_numbers.csv``.

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


#: per thesis table: the data the thesis measured on, in words, and the registry names of
#: the datasets that are that data (a table on other data says so beside the thesis column)
THESIS_DATA = {
    "3.1": ("CIFAR-10", {"cifar10"}),
    "3.2": ("CIFAR-10", {"cifar10"}),
    "3.2.1": ("CIFAR-10", {"cifar10"}),
    "4.1": ("pre-trained on COCO", {"coco"}),
    "5.2": ("the toy shapes set", {"shapes-fb", "shapes-fb-black"}),
    "5.3": ("CUB, Cars, Dogs at 64x64", {"cub", "cars", "dogs"}),
    "5.4": ("CUB, Cars, Dogs at 128x128", {"cub-128", "cars-128", "dogs-128"}),
    "5.7": ("MNIST", {"mnist"}),
    "6.1": ("Multi-MNIST", {"multi-mnist"}),
    "6.2": ("Multi-MNIST, 5 digits", {"multi-mnist-5"}),
    "6.3": ("Multi-MNIST", {"multi-mnist"}),
}


def thesis_label(table: Optional[str], preset: str, datasets) -> str:
    """The heading of a thesis column: "thesis", plus the thesis's data when ours differs and
    "paper scale" when ours is not the paper preset (e.g. "thesis, CIFAR-10, paper scale")."""
    notes = []
    data = THESIS_DATA.get(table or "")
    if data is not None and not set(datasets) <= data[1]:
        notes.append(data[0])
    if preset != "paper":
        notes.append("paper scale")
    return ", ".join(["thesis"] + notes)


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
