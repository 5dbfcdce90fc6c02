"""Protocol cards: how each number of a table was computed, read from its records.

A record's ``protocol`` dict is what its evaluator says about the computation (for FID: the
mode, N per side, evaluation size, both resize filters, the rounding steps, the extractor's
SHA-1; for AP: the IoU thresholds, the matching rule, the candidate set, the tie rule, the
box convention). A card shows, per metric of the table, each distinct protocol with the
number of records that used it, plus the library versions those records name, so a reader
sees at once when two rows were computed differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple


@dataclass
class Card:
    metric: str
    #: (protocol items, number of records) per distinct protocol, most used first
    protocols: List[Tuple[List[Tuple[str, str]], int]] = field(default_factory=list)
    versions: List[Tuple[str, str]] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 12:
        return f"{_text(value[0])} … {_text(value[-1])} ({len(value)} values)"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def protocol_cards(records: Sequence[Dict[str, Any]], metrics: Sequence[str]) -> List[Card]:
    cards = []
    for metric in metrics:
        mine = [r for r in records if r["metric"] == metric]
        if not mine:
            continue
        counts: Dict[str, int] = {}
        items: Dict[str, List[Tuple[str, str]]] = {}
        for r in mine:
            proto = r.get("protocol") or {}
            key = json.dumps(proto, sort_keys=True, default=str)
            counts[key] = counts.get(key, 0) + 1
            items[key] = [(k, _text(v)) for k, v in sorted(proto.items())]
        versions: Dict[str, set] = {}
        for r in mine:
            for k, v in (r.get("versions") or {}).items():
                versions.setdefault(k, set()).add(str(v))
        card = Card(metric, [(items[k], n) for k, n in sorted(counts.items(), key=lambda kv: -kv[1])],
                    [(k, ", ".join(sorted(v))) for k, v in sorted(versions.items())])
        cards.append(card)
    return cards
