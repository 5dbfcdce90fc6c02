"""Strict dataclass configs: an unknown key is an error, never silently ignored.

Configs are saved as JSON beside every output (``config.json`` in a checkpoint folder) so
a result can always be traced to the exact settings that produced it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Mapping, Type, TypeVar

from .errors import FactorbenchError

C = TypeVar("C")


def config_from_dict(cls: Type[C], values: Mapping[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from ``values``; unknown keys and bad types are errors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    label = where or cls.__name__
    if unknown:
        raise FactorbenchError(
            f"{label}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{label}.{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise FactorbenchError(f"{where}: expected float, got {value!r}")
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise FactorbenchError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    if origin is typing.Union:  # Optional[...]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise FactorbenchError(f"{where}: expected a list, got {value!r}")
        items = [_coerce(inner, v, where) if inner is not Any else v for v in value]
        return tuple(items) if origin is tuple else items
    return value


def config_to_dict(config: Any) -> Dict[str, Any]:
    out = dataclasses.asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def config_diff(saved: Mapping[str, Any], requested: Mapping[str, Any]) -> Dict[str, tuple]:
    """Fields whose values differ between two config dicts: name -> (saved, requested)."""
    keys = set(saved) | set(requested)
    return {k: (saved.get(k), requested.get(k)) for k in sorted(keys) if saved.get(k) != requested.get(k)}
