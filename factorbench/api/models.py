"""``fb.load``, ``fb.evaluate`` and the ``fb.register_*`` decorators: models, registered
evaluators and datasets from Python, and extending them without editing the package.

``fb.evaluate`` runs any registered evaluator (``factorbench.evaluators.EVALUATORS``: the
metrics a benchmark spec names, e.g. ``fid``, ``recon_mse``, ``sharpness``,
``linear_probe``) exactly as a benchmark cell does (:func:`factorbench.bench.cells.run_cell`):
same context, same values and protocols, without writing records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

from ..errors import FactorbenchError
from .results import Result, Results


def load(checkpoint: Union[str, Path], device: Optional[str] = None):
    """The trained model of a checkpoint folder (``model.pt`` + ``config.json``), in eval
    mode, with the contract's ``encode``/``decode``/``sample``/``reconstruct`` (and
    ``glimpse`` for object models)."""
    from ..device import resolve_device
    from ..models.checkpoint import load_model

    folder = Path(checkpoint)
    if not (folder / "config.json").is_file():
        raise FactorbenchError(f"{folder} is not a checkpoint folder (it has no config.json)")
    return load_model(folder, resolve_device(device))


def _splits(dataset: Optional[str], checkpoint: Optional[Path], n_train: Optional[int], n_test: Optional[int],
            seed: Optional[int]):
    from ..data import get_dataset
    from ..models.checkpoint import read_run_config

    if dataset is None:
        if checkpoint is None:
            raise FactorbenchError("fb.evaluate of a model object needs dataset= (a registered dataset name)")
        ds = read_run_config(checkpoint)["dataset"]
        dataset, n_train = ds["name"], n_train if n_train is not None else ds.get("n")
        seed = ds.get("seed", 0) if seed is None else seed
    seed = 0 if seed is None else seed
    return get_dataset(dataset, "train", n=n_train, seed=seed), get_dataset(dataset, "test", n=n_test, seed=seed)


def evaluate(model_or_checkpoint: Any, metric: str, dataset: Optional[str] = None, n_train: Optional[int] = None,
             n_test: Optional[int] = None, dataset_seed: Optional[int] = None, seed: int = 0,
             device: Optional[str] = None, batch_size: int = 256, figures: Optional[Union[str, Path]] = None,
             progress: bool = False, evaluator_params: Optional[Dict[str, Any]] = None, **params) -> Results:
    """Run registered evaluator ``metric`` on a model (a :class:`GenerativeModel` or a
    checkpoint folder) and ``dataset``'s train/test splits (default for a checkpoint: the
    dataset it was trained on). ``params`` are the evaluator's (as in a spec's
    ``[metric_params]``); a parameter whose name is also one of this function's
    (semantic_latent's ``dataset``, ``n_train``, ``n_test``, ``dataset_seed``; finetune's
    ``n_train``, ...) goes in ``evaluator_params``, e.g.
    ``fb.evaluate(run, "semantic_latent", evaluator_params={"dataset": "shapes-fb", "n_train": 2000}, ...)``.
    Returns :class:`Results` keyed by value name (``name@target`` for values about another
    dataset), each value as a benchmark record stores it."""
    from ..data.convert import convert_dataset
    from ..device import resolve_device
    from ..evaluators import EVALUATORS, EvalContext
    from ..evaluators.base import derived_runs

    dev = resolve_device(device)
    checkpoint = None
    if isinstance(model_or_checkpoint, (str, Path)):
        checkpoint = Path(model_or_checkpoint)
        model = load(checkpoint, dev)
    else:
        model = model_or_checkpoint.to(dev).eval()
    evaluator = EVALUATORS.get(metric)
    params = {**params, **(evaluator_params or {})}
    train, test = _splits(dataset, checkpoint, n_train, n_test, dataset_seed)
    shape = tuple(getattr(model, "image_shape", train.image_shape))
    if shape != tuple(train.image_shape):
        train, test = convert_dataset(train, shape), convert_dataset(test, shape)
    runs = derived_runs(evaluator, params)
    if runs and checkpoint is not None:  # the derived-run stage (fine-tuning, §4.4.2): trained before, never by, the evaluator
        from ..train.derived import train_derived

        train_derived(checkpoint, runs, device=dev, progress=progress)
    ctx = EvalContext(model, train, test, device=dev, seed=seed, batch_size=batch_size, progress=progress,
                      figures=Path(figures) if figures else None, checkpoint=checkpoint)
    out = Results()
    for v in evaluator(ctx, **params):
        key = v.metric if v.target is None else f"{v.metric}@{v.target}"
        out[key] = Result(v.metric, v.value, v.protocol, target=v.target)
    return out


def register_model(name: str):
    """Class decorator: make a :class:`factorbench.models.GenerativeModel` subclass (with
    its ``config_class`` dataclass) trainable and evaluable by ``name``
    (``factorbench train NAME``, benchmark specs)."""
    from ..models import register_model as register

    return register(name)


def register_dataset(name: str):
    """Class decorator: register a dataset *source* under ``name``: a class taking the
    name, with ``describe() -> dict`` and ``load(split, n=None, seed=0) -> ArrayDataset``
    (see :mod:`factorbench.data.registry`)."""
    from ..data.registry import register_dataset as register

    return register(name)


def register_metric(name: str, directions: Union[str, Dict[str, str]] = "none"):
    """Decorator: register ``fn(ctx, **params)`` as evaluator ``name``. ``ctx`` is an
    :class:`factorbench.evaluators.EvalContext` (``ctx.model``, ``ctx.train``, ``ctx.test``,
    ``ctx.device``, ``ctx.seed``). ``fn`` may return a float (one value named ``name``), a
    dict of name -> float, or a list of :class:`factorbench.evaluators.MetricValue`.
    ``directions``: "lower" / "higher" / "none" for the one value, or a dict per value
    name (tables bold the best by it)."""
    from ..evaluators.base import MetricValue, register_evaluator

    def add(fn: Callable[..., Any]):
        dirs = {name: directions} if isinstance(directions, str) else dict(directions)

        def evaluator(ctx, **params):
            out = fn(ctx, **params)
            if isinstance(out, (int, float)):
                return [MetricValue(name, float(out), {"evaluator": name})]
            if isinstance(out, dict):
                return [MetricValue(k, float(v), {"evaluator": name}) for k, v in out.items()]
            if isinstance(out, list) and all(isinstance(v, MetricValue) for v in out):
                return out
            raise FactorbenchError(f"metric {name} returned a {type(out).__name__}; return a float, a dict of "
                                   "floats or a list of MetricValue")

        evaluator.__doc__, evaluator.__name__ = fn.__doc__, getattr(fn, "__name__", name)
        register_evaluator(name, dirs)(evaluator)
        return fn

    return add
