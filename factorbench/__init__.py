"""factorbench: evaluation and benchmarking for generative models with factorised representations.

Data flows one way: dataset -> model -> outputs -> metric -> result record -> table
(see docs/architecture.md).

The public Python API (README, "Use from Python")::

    import factorbench as fb
    fb.fid(fake, real, mode="saved")              # also fb.kid, fb.precision_recall
    fb.image_metrics(fake, real)                  # FID, KID, precision/recall: one feature pass per side
    metric = fb.FID(); metric.update(batch, real=False); metric.compute()
    fb.sharpness(images); fb.average_precision(boxes, scores, gt); fb.count_errors(n_pred, n_true)
    fb.probe(z_train, y_train, z_test, y_test, kind="linear")
    model = fb.load("runs/train/vae-shapes-fb-seed0"); fb.evaluate(model, "recon_mse", dataset="shapes-fb")
    fb.register_model / fb.register_metric / fb.register_dataset

Every name is imported on first use (module ``__getattr__``), so ``import factorbench`` and
``factorbench --help`` do not import torch (benchmarks/perf/cli_startup.py measures it).
"""

from importlib import import_module

from .versions import __version__  # the version lives in the base layer (versions.py)

#: public name -> the module of factorbench.api that defines it
_EXPORTS = {
    "fid": "image_metrics", "kid": "image_metrics", "precision_recall": "image_metrics",
    "image_metrics": "image_metrics",
    "FID": "streaming",
    "sharpness": "scores", "average_precision": "scores", "count_errors": "scores", "probe": "scores",
    "load": "models", "evaluate": "models",
    "register_model": "models", "register_metric": "models", "register_dataset": "models",
    "Result": "results", "Results": "results",
    "FactorbenchError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'factorbench' has no attribute {name!r}")
    package = ".errors" if module == "errors" else f".api.{module}"
    value = getattr(import_module(package, __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
