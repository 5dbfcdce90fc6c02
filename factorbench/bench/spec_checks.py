"""Checks a benchmark spec must pass when it is loaded, before anything trains.

- Every spec value that becomes part of an output path is a plain name
  (:func:`~factorbench.paths.safe_component`): the spec's ``name`` (records, tables and
  figures folders), model and variant names (checkpoint and figure folders), external row
  names and metric targets (record file names). ``name = "../../x"`` is refused.
- Every metric is a registered evaluator, and every table column (and ``collapse``) is a
  value one of the spec's evaluators produces: a misspelt column would otherwise print a
  column of "—" with exit status 0.
- Every cell's model config builds: types and ranges are checked by the model's config
  dataclass, so ``grid = { beta = ["x"] }`` or ``lr = -1`` is one line at load, not a
  traceback in the middle of a grid.
"""

from __future__ import annotations

from typing import Set

from ..config import config_from_dict
from ..errors import FactorbenchError
from ..paths import safe_component


def check_spec(spec) -> None:
    """``spec``: a :class:`.spec.BenchmarkSpec` (not imported here: spec.py imports this module)."""
    from ..evaluators import EVALUATORS
    from ..models import MODELS

    where = spec.path.name
    safe_component(spec.name, f"{where}: name")
    produced: Set[str] = set()
    for name, p in spec.presets.items():
        at = f"{where} preset {name}"
        for model in list(p.models) + list(p.pretrain.values()) + list(p.variants):
            safe_component(model, f"{at}: model name")
        for row in p.external:
            safe_component(row, f"{at}: external row name")
        metrics = set(p.metrics) | set(p.external_metrics if p.external else ()) | \
            {m for ms in p.model_metrics.values() for m in ms}
        for metric in sorted(metrics):
            if metric not in EVALUATORS:
                raise FactorbenchError(f"{at}: unknown metric {metric!r}; metrics: {', '.join(EVALUATORS.names())}")
            evaluator = EVALUATORS.get(metric)
            produced.update(evaluator.outputs)
            for target in evaluator.targets(p.metric_params.get(metric, {})):
                if target is not None:
                    safe_component(target, f"{at}: metric_params.{metric} target")
        for cell in spec.cells(name):
            try:
                config_from_dict(MODELS.get(cell.registered).config_class, cell.model_config,
                                 where=f"{at} model {cell.model}")
            except FactorbenchError as exc:  # a range check names the model, not the spec
                if str(exc).startswith(at):
                    raise
                raise FactorbenchError(f"{at} model {cell.model} {cell.grid or ''}: {exc}".replace(" :", ":")) from None
    table = spec.table
    for column in list(table.columns) + ([table.collapse] if table.collapse else []):
        if column not in produced:
            raise FactorbenchError(f"{where} table: column {column!r} is no value of the spec's metrics "
                                   f"(they produce: {', '.join(sorted(produced))})")
