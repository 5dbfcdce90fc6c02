"""``fb.sharpness``, ``fb.average_precision``, ``fb.count_errors``, ``fb.probe``: the pure
metrics of :mod:`factorbench.metrics`, taking tensors/arrays and returning :class:`Result`."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from ..errors import FactorbenchError
from .results import Result, Results


def sharpness(images: Any, n: Optional[int] = None) -> Result:
    """Laplacian sharpness (thesis eq. 3.4, OpenIMAJ): the mean over images, with the
    population std over images as ``.std``. ``images``: anything :mod:`.inputs` accepts
    (tensor/array (N, C, H, W) uint8 or float in [0, 1], batches, a folder, a dataset)."""
    from ..metrics.image_sources import Images
    from ..metrics.sharpness import sharpness as per_image, sharpness_protocol, sharpness_summary
    from .inputs import resolve_side

    side = resolve_side(images, "images", n)
    if not isinstance(side, Images):
        raise FactorbenchError("sharpness needs images, not a statistics file")
    x = side.data.float() / 255 if side.quantised else side.data
    values = per_image(x)
    mean, std = sharpness_summary(values)
    protocol = sharpness_protocol(values, f"{side.source.get('kind', 'images')}: "
                                          f"{'uint8 / 255' if side.quantised else 'float as given'}")
    return Result("sharpness", mean, protocol, std=std)


def average_precision(pred_boxes: Sequence[Any], scores: Sequence[Any], gt_boxes: Sequence[Any],
                      protocol: Union[str, Sequence[float]] = "spair", matching: str = "greedy_unmatched") -> Result:
    """Box AP over a set of images (docs/protocols.md §4.4; thesis §6.4.1): ``pred_boxes[i]`` (K_i, 4)
    pixel xyxy boxes with confidences ``scores[i]`` (K_i,), against ``gt_boxes[i]`` (G_i, 4).
    ``protocol``: ``"spair"`` (IoU 0.1:0.1:0.9), ``"space"`` (0.5:0.05:0.95) or a list of
    IoU thresholds; per-threshold APs are in the protocol."""
    from ..metrics.detection import average_precision as ap_of

    result = ap_of(pred_boxes, scores, gt_boxes, protocol, matching)
    return Result(f"ap_{result.protocol}", result.ap, result.as_dict())


def count_errors(n_pred: Any, n_true: Any) -> Results:
    """Object-count errors per image (docs/protocols.md §4.4, Tables 6.1/6.3): ``count_error_abs`` (mean
    |pred − true|), ``count_error_01`` (fraction wrong) and ``count_error_rel`` (SPACE's
    relative error over images with objects; NaN when none has one)."""
    import numpy as np

    from ..metrics.detection import count_errors as errors_of

    values = errors_of(n_pred, n_true)
    n = int(np.asarray(n_pred).reshape(-1).size)
    return Results({k: Result(k, v, {"n_images": n, "definition": DEFINITIONS[k]}) for k, v in values.items()})


DEFINITIONS = {
    "count_error_abs": "mean over images of |predicted count - true count| (SPAIR count_1norm)",
    "count_error_01": "fraction of images whose predicted count differs from the true count",
    "count_error_rel": "mean over images with objects of |predicted - true| / true (SPACE)",
}


def probe(train_codes: Any, train_labels: Any, test_codes: Any, test_labels: Any, kind: str = "linear",
          seed: int = 0) -> Results:
    """How much of a label a classifier reads off latent codes (docs/protocols.md §4.3): fit a
    ``linear`` (logistic regression) or ``mlp`` (one hidden layer of 256) probe on
    standardised train codes; :class:`Results` ``train_acc``, ``test_acc`` and ``chance``
    (the most common test label's frequency)."""
    from ..metrics.probes import linear_probe, mlp_probe

    fits = {"linear": linear_probe, "mlp": mlp_probe}
    if kind not in fits:
        raise FactorbenchError(f"unknown probe kind {kind!r}; kinds: {', '.join(fits)}")
    result = fits[kind](train_codes, train_labels, test_codes, test_labels, seed=seed)
    protocol = {"probe": kind, "seed": seed, "n_train": len(train_labels), "n_test": len(test_labels),
                "features": "standardised (StandardScaler fitted on the train codes)"}
    return Results({name: Result(f"{kind}_probe_{name}", getattr(result, name), protocol)
                    for name in ("train_acc", "test_acc", "chance")})
