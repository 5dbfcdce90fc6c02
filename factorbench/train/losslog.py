"""Per-step loss log: ``losses.csv`` with columns step, epoch, then one per loss name."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from ..fileio import atomic_write_text


class LossLog:
    """Appends one row per optimisation step; on resume, rows past the checkpoint are cut."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.columns: Optional[List[str]] = None
        self._file = None

    def truncate_after(self, step: int) -> None:
        """Keep only rows with ``step <= step`` (a resumed run re-logs the steps it redoes)."""
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        header, body = rows[0], [r for r in rows[1:] if r and int(r[0]) <= step]
        lines = [",".join(header)] + [",".join(r) for r in body]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self.columns = header

    def append(self, step: int, epoch: int, losses: Dict[str, float]) -> None:
        if self._file is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("a", newline="")
            if new:
                self.columns = ["step", "epoch"] + sorted(losses)
                self._file.write(",".join(self.columns) + "\n")
            elif self.columns is None:
                with self.path.open(newline="") as f:
                    self.columns = next(csv.reader(f))
        values = {"step": step, "epoch": epoch, **losses}
        self._file.write(",".join(_fmt(values.get(c, "")) for c in self.columns) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fmt(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)
