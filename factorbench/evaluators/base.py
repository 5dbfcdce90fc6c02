"""The evaluator contract: context in, metric values with protocols out.

An *evaluator* is thin glue registered by name (``@register_evaluator``): it pulls images,
latents or boxes from a model and its dataset splits (an :class:`EvalContext`), calls the
pure functions of :mod:`factorbench.metrics`, and returns :class:`MetricValue`s, each with
its protocol (docs/protocols.md). Every module of ``factorbench/evaluators/`` is imported
by the package, so a new evaluator needs no import line anywhere (CONTRIBUTING.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional


from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from ..models import GenerativeModel
from ..registry import Registry

#: name -> evaluator(ctx, **params) -> list[MetricValue]
EVALUATORS: Registry = Registry("metric")
#: metric value name -> "lower" | "higher" | "none"
DIRECTIONS: Dict[str, str] = {}


@dataclass
class MetricValue:
    metric: str
    value: float
    protocol: Dict[str, Any] = field(default_factory=dict)
    #: the dataset the value is about when it is not the cell's own (Table 4.1's columns:
    #: one source model evaluated on several target datasets); None: the cell's dataset
    target: Optional[str] = None


@dataclass
class EvalContext:
    model: GenerativeModel
    train: ArrayDataset
    test: ArrayDataset
    device: str = "cpu"
    seed: int = 0
    batch_size: int = 256
    progress: bool = False
    #: folder for the evaluator's figures (PNG/CSV); None: write none
    figures: Optional[Path] = None
    #: the model's checkpoint folder; runs derived from it (fine-tuning) go beneath it
    checkpoint: Optional[Path] = None

    def figure_path(self, name: str) -> Optional[Path]:
        """Where to write figure ``name``, or None when figures are off."""
        return None if self.figures is None else Path(self.figures) / name


def no_targets(params: Dict[str, Any]) -> List[Optional[str]]:
    return [None]


def targets_from(key: str) -> Callable[[Dict[str, Any]], List[Optional[str]]]:
    """``targets`` for an evaluator whose target datasets (or labels) are its parameter
    ``key``: a list of names, or one name."""

    def targets(params: Dict[str, Any]) -> List[Optional[str]]:
        value = params.get(key)
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)

    return targets


def no_derived(params: Dict[str, Any]) -> list:
    return []


def register_evaluator(name: str, directions: Dict[str, str],
                       targets: Callable[[Dict[str, Any]], List[Optional[str]]] = no_targets,
                       derived: Callable[[Dict[str, Any]], list] = no_derived):
    """Register evaluator ``name``, producing the metric values named in ``directions``.

    ``derived(params)`` lists the runs derived from the model's checkpoint that the
    evaluator loads (:class:`factorbench.models.derived.DerivedRun`: fine-tuning, §4.4.2);
    the benchmark runner and ``fb.evaluate`` train them before calling the evaluator, which
    never trains.

    ``targets(params)`` lists the target datasets the evaluator reports each value for,
    given its parameters (see :attr:`MetricValue.target`); by default one value each, for
    the cell's own dataset. The runner uses it to know which records are still missing.
    """

    def add(fn: Callable[..., List[MetricValue]]):
        DIRECTIONS.update(directions)
        fn.outputs = tuple(directions)
        fn.targets = targets
        fn.derived = derived
        return EVALUATORS.register(name)(fn)

    return add


def derived_runs(evaluator: Callable, params: Dict[str, Any]) -> list:
    """The derived runs ``evaluator`` loads under ``params`` (none for a plain function)."""
    return getattr(evaluator, "derived", no_derived)(params)


def metric_direction(metric: str) -> str:
    return DIRECTIONS.get(metric, "none")


def check_label(ds: ArrayDataset, label: Optional[str]) -> str:
    if label is None:
        if len(ds.label_names) != 1:
            raise FactorbenchError(f"dataset {ds.name} has labels {ds.label_names}; say which one to probe")
        return ds.label_names[0]
    ds.labels(label)  # raises a clear error if absent
    return label
