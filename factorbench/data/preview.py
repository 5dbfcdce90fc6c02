"""Preview grids of a registered dataset (``factorbench datasets show NAME --out grid.png``):
the drawing is :func:`factorbench.figures.preview.preview_grid`; this adds the value names
of the dataset's labels from its registered source."""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence

from ..figures.preview import preview_grid as draw_preview_grid


def _source_label_values(dataset) -> Dict[str, Sequence[str]]:
    from .registry import DATASETS

    name = getattr(dataset, "name", None)
    if name is None or name not in DATASETS:
        return {}
    return dict(getattr(DATASETS.get(name), "label_values", {}) or {})


def preview_grid(dataset, n: int = 16, out_path: Optional[os.PathLike] = None, cols: int = 8,
                 scale: Optional[int] = None, label_values: Optional[Mapping[str, Sequence[str]]] = None):
    """:func:`factorbench.figures.preview.preview_grid` with ``label_values`` defaulting to
    the registered source's (captions name label values, e.g. "shape=heart")."""
    names = _source_label_values(dataset) if label_values is None else label_values
    return draw_preview_grid(dataset, n=n, out_path=out_path, cols=cols, scale=scale, label_values=names)
