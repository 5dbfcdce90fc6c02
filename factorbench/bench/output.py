"""Write a benchmark's table files from its stored records."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable

from ..fileio import atomic_write_text
from .spec import BenchmarkSpec
from .store import read_records
from .tables import EXTENSIONS, RENDERERS, build_table
from ..errors import FactorbenchError


def write_tables(spec: BenchmarkSpec, preset: str, results: Path, formats: Iterable[str] = ("md", "latex", "csv"),
                 show_thesis: bool = False) -> Dict[str, Path]:
    """Render the table in each format to ``<results>/tables/<benchmark>-<preset>.<ext>``."""
    records = read_records(results, spec.name, preset)
    if not records:
        raise FactorbenchError(f"no results for {spec.name} [{preset}] in {results}; run `factorbench bench run {spec.name} "
                               f"--preset {preset}` first")
    table = build_table(spec, preset, records, show_thesis)
    out = {}
    for fmt in formats:
        path = Path(results) / "tables" / f"{spec.name}-{preset}.{EXTENSIONS[fmt]}"
        atomic_write_text(path, RENDERERS[fmt](table))
        out[fmt] = path
    return out
