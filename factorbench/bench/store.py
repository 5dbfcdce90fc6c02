"""The results store: every metric value is one JSON record in its own file.

Layout: ``<results>/records/<benchmark>/<preset>/<cell id>.<metric>.json``. One file per
record, written atomically, means concurrent writers never corrupt each other and a
re-run overwrites a record instead of duplicating it. Tables are views over these records
(:mod:`factorbench.bench.tables`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import FactorbenchError
from ..fileio import atomic_write_json
from ..paths import safe_component
from ..versions import __version__, git_commit, package_versions


def records_dir(results: Path, benchmark: str, preset: str) -> Path:
    return Path(results) / "records" / benchmark / preset


def record_path(results: Path, benchmark: str, preset: str, cell_id: str, metric: str,
                target: Optional[str] = None) -> Path:
    parts = [cell_id, metric] + ([] if target is None else [target])
    for part, what in zip([benchmark, preset] + parts, ("benchmark", "preset", "cell id", "metric", "target")):
        safe_component(part, f"record {what}")
    name = f"{cell_id}.{metric}" + ("" if target is None else f"@{target}")
    return records_dir(results, benchmark, preset) / f"{name}.json"


def record_row(record: Dict[str, Any], rows: str) -> Any:
    """The table row a record belongs to: its target (dataset or label) when the table's rows
    are ``"target"`` (a value without one is about the cell's own dataset), its model for
    ``"model"``, else its grid value ``rows``."""
    if rows == "target":
        return record.get("target") or record["dataset"]["name"]
    if rows == "model":
        return record["model"]
    return record["grid"].get(rows)


def make_record(*, benchmark: str, preset: str, cell_id: str, metric: str, value: float, model: str,
                dataset: Dict[str, Any], hparams: Dict[str, Any], train: Dict[str, Any], grid: Dict[str, Any],
                seed: int, protocol: Dict[str, Any], checkpoint: str,
                target: Optional[str] = None) -> Dict[str, Any]:
    """One result record: the value and everything needed to trace it (docs/protocols.md §5)."""
    return {
        "benchmark": benchmark, "preset": preset, "cell": cell_id, "metric": metric, "value": value,
        "target": target,
        "model": model, "dataset": dataset, "hparams": hparams, "train": train, "grid": grid, "seed": seed,
        "protocol": protocol, "checkpoint": checkpoint, "versions": package_versions(),
        "factorbench": __version__, "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_record(results: Path, record: Dict[str, Any]) -> Path:
    path = record_path(results, record["benchmark"], record["preset"], record["cell"], record["metric"],
                       record.get("target"))
    return atomic_write_json(path, record)


def has_record(results: Path, benchmark: str, preset: str, cell_id: str, metric: str,
               target: Optional[str] = None) -> bool:
    return record_path(results, benchmark, preset, cell_id, metric, target).exists()


#: keys every record has, and what their values must be (checked when records are read)
RECORD_KEYS = {"model": "a name", "metric": "a name", "seed": "a whole number",
               "value": "a number (null or NaN for a value that could not be computed)"}


def check_record(record: Any, path: Path) -> Dict[str, Any]:
    """``record`` if it is a result record, else a one-line error naming the file and field."""
    if not isinstance(record, dict) or not {"metric", "value", "cell"} <= set(record):
        raise FactorbenchError(f"{path} is not a result record (expected a JSON object with cell, metric, value, "
                               "...; records are <cell id>.<metric>.json): move it out of the records folder")
    for key, expected in RECORD_KEYS.items():
        value = record.get(key)
        if not _fits(value, expected):
            raise FactorbenchError(f"result record {path}: {key!r} must be {expected}, found {value!r}")
    return record


def _fits(value: Any, expected: str) -> bool:
    if expected == "a name":
        return isinstance(value, str)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if expected == "a whole number":
        return is_int
    return value is None or is_int or isinstance(value, float)


def read_records(results: Path, benchmark: str, preset: str) -> List[Dict[str, Any]]:
    folder = records_dir(results, benchmark, preset)
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FactorbenchError(f"result record {path} is corrupt ({exc}); delete it and re-run") from None
        out.append(check_record(record, path))
    return out
