"""Evaluators: thin glue from a trained model and its dataset to metric values
(docs/architecture.md, "metrics vs evaluators"; the metric definitions are in
docs/protocols.md §4).

Each module here registers one evaluator family under its registry name (``fid`` registers
``fid`` and ``fid_test_seeded``; ``probe`` registers ``probe_linear`` and ``probe_mlp``).
Importing this package imports every module in it, so adding an evaluator is adding a file:
no import list to keep. :data:`EVALUATORS` maps names to evaluators, :data:`DIRECTIONS`
says per metric value name whether lower or higher is better (tables bold the best by it).
"""

import importlib
import pkgutil

from .base import DIRECTIONS, EVALUATORS, EvalContext, MetricValue, metric_direction, register_evaluator  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
