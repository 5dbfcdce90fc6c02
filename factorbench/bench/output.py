"""Write a benchmark's table files from its stored records."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List

from ..fileio import atomic_write_text
from .spec import BenchmarkSpec, PresetSpec
from .store import read_records
from .tables import EXTENSIONS, RENDERERS, build_table
from ..errors import FactorbenchError


def records_of_spec(spec: BenchmarkSpec, preset: PresetSpec, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The records of the spec's current cells (any number of seeds). Records left in the
    store by an earlier version of the spec (another config, so another cell id) are not
    part of its table."""
    if not records:
        return records
    seeds = max(int(r["seed"]) for r in records) + 1
    current = {c.id for c in spec.cells(preset, seeds)} | {row.id for row in spec.external_rows(preset)}
    return [r for r in records if r["cell"] in current]


def write_tables(spec: BenchmarkSpec, preset: PresetSpec, results: Path, formats: Iterable[str] = ("md", "latex", "csv"),
                 show_thesis: bool = False) -> Dict[str, Path]:
    """Render the table in each format to ``<results>/tables/<benchmark>-<preset>.<ext>``."""
    records = records_of_spec(spec, preset, read_records(results, spec.name, preset.name))
    if not records:
        raise FactorbenchError(f"no results for {spec.name} [{preset.name}] in {results}; run `factorbench bench run "
                               f"{spec.name} --preset {preset.name}` first")
    table = build_table(spec, preset, records, show_thesis)
    out = {}
    for fmt in formats:
        path = Path(results) / "tables" / f"{spec.name}-{preset.name}.{EXTENSIONS[fmt]}"
        atomic_write_text(path, RENDERERS[fmt](table))
        out[fmt] = path
    return out
