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
    label = where or cls.__name__
    if not isinstance(values, Mapping):  # e.g. dataset = "digits-rgb" for dataset = { name = "digits-rgb" }
        raise FactorbenchError(f"{label}: expected a table of settings (key = value), got {values!r}")
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise FactorbenchError(
            f"{label}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}"
        )
    missing = [n for n, f in fields.items() if f.init and n not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise FactorbenchError(f"{label}: missing key(s) {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{label}.{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise FactorbenchError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise FactorbenchError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    if origin is typing.Union:  # Optional[...]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if origin is dict and not isinstance(value, Mapping):
        raise FactorbenchError(f"{where}: expected a table (key = value), got {value!r}")
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


def check_adam(where: str, config: Any) -> None:
    """The Adam settings every model config shares: ``lr`` ≥ 0 (0 keeps the weights frozen,
    which tests of fine-tuning use) and both betas in [0, 1) (β = 1 never forgets a
    gradient, β > 1 diverges); one line naming the field."""
    if not config.lr >= 0:
        raise FactorbenchError(f"{where}: lr must not be negative, got {config.lr!r}")
    for name in ("adam_beta1", "adam_beta2"):
        value = getattr(config, name)
        if not 0 <= value < 1:
            raise FactorbenchError(f"{where}: {name} must be in [0, 1), got {value!r}")


def check_at_least_one(where: str, config: Any, *names: str) -> None:
    """Sizes (channels, latent dimensions) that must be whole positive numbers."""
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise FactorbenchError(f"{where}: {name} must be at least 1, got {value!r}")
