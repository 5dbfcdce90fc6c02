"""Metrics (docs/protocols.md §4): pure functions over tensors/arrays, plus thin evaluators.

An *evaluator* is registered by name in :data:`EVALUATORS` and turns an
:class:`EvalContext` (a trained model and its dataset splits) into metric values, each
with its protocol. :data:`DIRECTIONS` says, per metric value name, whether lower or
higher is better (tables bold the best by it).
"""

from .evaluate import DIRECTIONS, EVALUATORS, EvalContext, MetricValue, metric_direction  # noqa: F401
from . import reconstruction, probes, sharpness, recon_classifier, posterior_variance, fid_evaluator  # noqa: F401  (register their evaluators)
from . import transfer_evaluator, finetune, semantic_evaluator  # noqa: F401  (Chapter 4 evaluators)
from . import samples  # noqa: F401  (samples, collapse)
from . import factor_probes  # noqa: F401  (Chapter 5: probes on z_f and z_b)
from . import factor_swap, model_cost  # noqa: F401  (Chapter 5: swaps, backgrounds; sizes and training time)
from . import object_discovery, digit_sum  # noqa: F401  (Chapter 6: AP, count error, digit-sum task)
