"""What the Python API returns: a value with its protocol, as the CLI's records carry it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Result:
    """One metric value: ``metric`` (e.g. ``fid_saved``), ``value``, and the ``protocol``
    dict that states how it was computed (the same dict ``factorbench run ... --json`` and
    the benchmark records carry). ``std`` is set where the metric has a spread (KID over
    subsets, sharpness over images); ``target`` where the value is about another dataset."""

    metric: str
    value: float
    protocol: Dict[str, Any] = field(default_factory=dict)
    std: Optional[float] = None
    target: Optional[str] = None

    def to_record(self) -> Dict[str, Any]:
        """The JSON-ready record: ``metric``, ``value``, ``protocol`` (+ ``std``, ``target``)."""
        out: Dict[str, Any] = {"metric": self.metric, "value": self.value}
        if self.std is not None:
            out["std"] = self.std
        if self.target is not None:
            out["target"] = self.target
        out["protocol"] = self.protocol
        return out

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        spread = "" if self.std is None or math.isnan(self.std) else f" ± {self.std:.4g}"
        return f"Result({self.metric}={self.value:.6g}{spread})"


class Results(dict):
    """Several :class:`Result` by name (``r["fid"]`` or ``r.fid``), e.g. both FID modes or
    FID, KID, precision and recall from one feature pass."""

    def __getattr__(self, name: str) -> Result:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result {name!r}; results: {', '.join(self)}") from None

    def to_records(self) -> List[Dict[str, Any]]:
        """A list of records, the shape every ``--json`` of the CLI prints."""
        return [r.to_record() for r in self.values()]
