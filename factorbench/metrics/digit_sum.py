"""The digit-sum downstream task (docs/protocols.md §4.4; thesis §6.4.2, Table 6.2).

Task: return the sum of the digits of a Multi-MNIST image (``multi-digits-5``: exactly 5
digits per image, image label ``sum``). A 3-layer MLP (:class:`DigitMLP`) maps each glimpse
latent z(t) to one number, "the same numerical value as the digit"; the image's prediction
is the *rounded sum* of the MLP outputs over its first :data:`MAX_GLIMPSES` = 5 glimpses,
and accuracy is the fraction of images whose rounded sum equals the true sum.

**Which glimpses** (``glimpse_set``, :data:`GLIMPSE_SETS`). ``"first"`` (default): the
first 5 candidates in the model's confidence order (``Detections.scores``, stable: SAID's
glimpse order; SPAIR/SPACE: the 5 cells with the highest z_pres), *whatever the stop rule
or presence says*: §6.4.2, "the first 5 predictions are the inputs that we use for the
downstream task while we do not have any presence parameters to indicate whether the
bounding box has covered an object". ``"kept"``: the first 5 candidates the model keeps
(SAID: before the stop rule; SPAIR/SPACE: z_pres > 0.5), in candidate order; an image
whose model stops early sums fewer than 5.

**Supervision (our reading of §6.4.2).** The MLP is trained on the image sum only:
loss = MSE(Σ_t m_t · MLP(z_t), sum), m_t = 1 for the glimpses used. There are no
per-digit targets and no matching of glimpses to ground-truth digits. The thesis says so
twice: "the training process is adding 2.37 and 8.33, which returns 10.70" and "Since we
do not have the label for every single digit, we cannot try to predict each digit
separately in this simple downstream test setting". "Train to have the same numerical
value as the digit" is the intended *effect*: a per-glimpse function whose sum over every
5-digit image equals the digit sum must equal the digit value (f(d) = d + c with 5c = 0).

**Order invariance.** The prediction is a masked sum of per-glimpse outputs, so permuting
the glimpses that are used (with their masks) leaves it unchanged; only *which* glimpses
are used depends on order (the thesis's "first 5 glimpses").

**Rows** (``MetricValue.target``): ``"gt"`` — ground-truth boxes (``gt_boxes``: "tight",
or "frame", the digits' placed 20x20 frames, the thesis's boxes, §6.4.1) cropped as the model
crops its glimpses (``model.crop_boxes``; for models without it, the boxes are resampled
with :func:`~factorbench.models.objects.crop_patches` to the size of the model's own
patches) and encoded by the same encoder; ``"model"`` — the model's own glimpses
(``model.glimpse_patches``). Boxes are found once by the frozen model in both modes.

**Modes.** ``fixed``: z = the encoder's posterior means, computed once from the frozen
model, only the MLP is trained. ``unfixed``: a deep copy of the model (the checkpoint is
not changed) is fine-tuned through ``encode_patches`` (μ) together with the MLP.

Defaults and the thesis: 100 MLP epochs on 80k/20k images (thesis); defaults here are
``epochs = 20``, ``n_train = 10000``, ``n_test = 2000`` (the ``multi-digits-5`` split sizes);
Adam, ``lr = 1e-3``, minibatches of ``ctx.batch_size`` images. The MLP is
latent_dim → 256 → 256 → 1 with ReLUs (:data:`HIDDEN`; the thesis gives no width).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..errors import FactorbenchError
from ..data.synthetic.multi_digits import BOX_CONVENTIONS
from ..models.objects import crop_patches, pixels_to_boxes
from .evaluate import EvalContext, MetricValue, register_evaluator

#: the first this many kept glimpses of an image are summed ("the first 5 glimpses")
MAX_GLIMPSES = 5
#: hidden width of the 3-layer MLP (not given in the thesis)
HIDDEN = 256
#: which 5 glimpses are summed (module docstring); the first is the default
GLIMPSE_SETS = ("first", "kept")
GLIMPSE_SET_DESCRIPTIONS = {
    "first": ("the first 5 candidates in confidence order (SAID: glimpse order; SPAIR/SPACE: highest z_pres), "
              "kept or not"),
    "kept": "the first 5 candidates the model keeps (SAID: before the stop rule; SPAIR/SPACE: z_pres > 0.5)",
}
MODES = ("fixed", "unfixed")
ROWS = ("gt", "model")
SUPERVISION = ("MSE between the sum over used glimpses of MLP(z_t) and the image's digit sum; no per-digit "
               "targets (thesis §6.4.2)")


class DigitMLP(nn.Module):
    """3-layer MLP: latent (…, D) → one number per glimpse (…,) — the digit's value."""

    def __init__(self, latent_dim: int, hidden: int = HIDDEN):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def first_kept(keep: torch.Tensor, max_glimpses: int = MAX_GLIMPSES) -> torch.Tensor:
    """(N, K) bool: the first ``max_glimpses`` kept glimpses of each image."""
    keep = keep.bool()
    return keep & (keep.long().cumsum(dim=1) <= max_glimpses)


def first_ranked(scores: torch.Tensor, max_glimpses: int = MAX_GLIMPSES) -> torch.Tensor:
    """(N, K) bool: each image's first ``max_glimpses`` candidates in confidence order
    (``scores`` (N, K), higher first; equal scores keep candidate order), kept or not."""
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :max_glimpses]
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, order, True)


def predict_sums(mlp: nn.Module, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) unrounded predicted sums: Σ_t mask_t · MLP(z_t) for z (N, K, D), mask (N, K)."""
    return (mlp(z) * mask.to(z.dtype)).sum(dim=1)


def sum_accuracy(pred: torch.Tensor, sums: torch.Tensor) -> float:
    """Fraction of images whose rounded predicted sum equals the true sum."""
    return float((torch.round(pred).long() == sums.long().to(pred.device)).float().mean())


@dataclass
class DigitRegressor:
    """A trained digit-sum predictor: the MLP and, when unfixed, the fine-tuned encoder
    (patches (…, C, s, s) → z (…, D))."""

    mlp: DigitMLP
    encoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, mask: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N,) unrounded sums for latents (N, K, D), or patches (N, K, C, s, s) when the
        regressor has an encoder."""
        was = self.mlp.training
        self.mlp.eval()
        out = []
        for s in range(0, len(inputs), batch_size):
            z = inputs[s:s + batch_size]
            z = self.encoder(z) if self.encoder is not None else z
            out.append(predict_sums(self.mlp, z, mask[s:s + batch_size]))
        self.mlp.train(was)
        return torch.cat(out) if out else torch.zeros(0)


def train_digit_regressor(z_train: Optional[torch.Tensor], mask_train: torch.Tensor, sums_train: torch.Tensor,
                          epochs: int = 20, lr: float = 1e-3, seed: int = 0,
                          encoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                          patches: Optional[torch.Tensor] = None,
                          encoder_params: Optional[Iterable[nn.Parameter]] = None,
                          batch_size: int = 256, hidden: int = HIDDEN) -> DigitRegressor:
    """Train the per-glimpse MLP so that Σ_t mask_t · MLP(z_t) ≈ sum (MSE; module docstring).

    Fixed: ``z_train`` (N, K, D) precomputed latents. Unfixed: ``encoder`` maps ``patches``
    (N, K, C, s, s) to z (…, D) with gradient, and ``encoder_params`` are optimised with
    the MLP (``z_train`` is then ignored and may be None). ``mask_train`` (N, K) bool picks
    the glimpses summed; ``sums_train`` (N,) the targets. Deterministic given ``seed``
    (MLP initialisation and minibatch order); the global RNG is left as it was.
    """
    unfixed = encoder is not None
    if unfixed and patches is None:
        raise FactorbenchError("train_digit_regressor: an encoder needs the patches to encode")
    inputs = patches if unfixed else z_train
    if inputs is None:
        raise FactorbenchError("train_digit_regressor: give z_train (fixed) or encoder and patches (unfixed)")
    n = len(inputs)
    if not (len(mask_train) == len(sums_train) == n) or n == 0:
        raise FactorbenchError(f"train_digit_regressor: {n} inputs, {len(mask_train)} masks and {len(sums_train)} "
                               "sums; they must agree and be non-empty")
    if tuple(mask_train.shape) != tuple(inputs.shape[:2]):
        raise FactorbenchError(f"train_digit_regressor: mask {tuple(mask_train.shape)} does not match inputs "
                               f"{tuple(inputs.shape)} (N, K, ...)")
    device = inputs.device
    with torch.no_grad():
        latent_dim = int(encoder(inputs[:1]).shape[-1]) if unfixed else int(inputs.shape[-1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = DigitMLP(latent_dim, hidden).to(device)
    params = list(mlp.parameters()) + (list(encoder_params) if (unfixed and encoder_params is not None) else [])
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    mask = mask_train.to(device)
    target = sums_train.to(device=device, dtype=torch.float32)
    for _ in range(int(epochs)):
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            idx = idx.to(device)
            z = encoder(inputs[idx]) if unfixed else inputs[idx]
            loss = (predict_sums(mlp, z, mask[idx]) - target[idx]).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return DigitRegressor(mlp, encoder if unfixed else None)


# --------------------------------------------------------------------------- the evaluator
def _accepts_k(fn) -> bool:
    try:
        return "k" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def check_digit_sum_dataset(ds, needs_boxes: bool) -> None:
    """The task needs the image label ``sum``, at most :data:`MAX_GLIMPSES` digits per image
    and, for the GT row, ``boxes`` (dataset ``multi-digits-5``)."""
    if "sum" not in ds.label_names:
        have = ", ".join(ds.label_names) or "none"
        raise FactorbenchError(f"digit_sum needs a dataset with the image label 'sum' (multi-digits-5); "
                               f"dataset {ds.name} has labels: {have}")
    if needs_boxes and "boxes" not in ds.arrays:
        raise FactorbenchError(f"digit_sum's 'gt' row needs ground-truth boxes; dataset {ds.name} has none")
    if len(ds) and int(ds.arrays["count"].max()) > MAX_GLIMPSES:
        raise FactorbenchError(f"digit_sum sums the first {MAX_GLIMPSES} glimpses, but dataset {ds.name} has "
                               f"images with {int(ds.arrays['count'].max())} digits")


@torch.no_grad()
def gt_patches(model, x: torch.Tensor, boxes: torch.Tensor, patch_shape: Optional[Sequence[int]]) -> torch.Tensor:
    """Ground-truth boxes (B, K, 4) cropped as the model crops its glimpses (B, K, C, s, s)."""
    if callable(getattr(model, "crop_boxes", None)):
        return model.crop_boxes(x, boxes)
    b, k = boxes.shape[:2]
    center, half = pixels_to_boxes(boxes.to(x), tuple(x.shape[-2:]))
    half = half.clamp_min(1e-3)  # padded (empty) boxes: masked out anyway
    images = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
    patches = crop_patches(images, center.reshape(-1, 2), half.reshape(-1, 2), tuple(patch_shape[-2:]))
    return patches.reshape(b, k, *patches.shape[1:])


def _model_mask(model, x: torch.Tensor, keep: torch.Tensor, k: Optional[int], glimpse_set: str) -> torch.Tensor:
    """The glimpses of the model row that are summed (module docstring, ``glimpse_set``)."""
    if glimpse_set == "kept":
        return first_kept(keep)
    det = model.glimpse(x, k) if (k is not None and _accepts_k(model.glimpse)) else model.glimpse(x)
    if tuple(det.scores.shape) != tuple(keep.shape):
        raise FactorbenchError(f"digit_sum: glimpse() gave {tuple(det.scores.shape)} candidates but glimpse_patches() "
                               f"{tuple(keep.shape)}; they must agree")
    return first_ranked(det.scores.to(keep.device))


@torch.no_grad()
def collect_patches(ctx: EvalContext, ds, n: int, row: str, k: Optional[int], glimpse_set: str = "first",
                    gt_boxes: str = "tight") -> Dict[str, torch.Tensor]:
    """Patches (n, K, C, s, s), the mask of glimpses summed (n, K) and the sums (n,) of the
    first ``n`` images of ``ds`` for ``row`` ("gt" or "model"), on ``ctx.device``. The GT row
    crops the ``gt_boxes`` convention ("tight" or "frame", as object_discovery's)."""
    model = ctx.model
    takes_k = _accepts_k(model.glimpse_patches)
    box_key = BOX_CONVENTIONS[gt_boxes] if BOX_CONVENTIONS[gt_boxes] in ds.arrays else "boxes"
    patches, masks = [], []
    for start in range(0, n, ctx.batch_size):
        idx = np.arange(start, min(start + ctx.batch_size, n))
        x = ds.images(idx).to(ctx.device)
        own = keep = None
        if row == "model" or not callable(getattr(model, "crop_boxes", None)):
            own, keep = model.glimpse_patches(x, k) if (takes_k and k is not None) else model.glimpse_patches(x)
        if row == "gt":
            count = torch.as_tensor(ds.arrays["count"][idx], device=ctx.device)
            boxes = torch.as_tensor(ds.arrays[box_key][idx], dtype=torch.float32, device=ctx.device)
            p = gt_patches(model, x, boxes, None if own is None else own.shape)
            mask = first_kept(torch.arange(boxes.shape[1], device=ctx.device)[None, :] < count[:, None])
        else:
            p = own
            mask = _model_mask(model, x, keep.to(ctx.device), k, glimpse_set)
        patches.append(p)
        masks.append(mask)
    sums = torch.as_tensor(np.asarray(ds.labels("sum")[:n], dtype=np.int64), device=ctx.device)
    return {"patches": torch.cat(patches), "mask": torch.cat(masks), "sums": sums}


def _encode_mu(model) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda p: model.encode_patches(p)[0]


@torch.no_grad()
def _encode_all(model, patches: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.encode_patches(patches[s:s + batch_size])[0] for s in range(0, len(patches), batch_size)])


def _rows_param(rows) -> List[str]:
    return [rows] if isinstance(rows, str) else list(ROWS if rows is None else rows)


def _targets(params: Dict[str, Any]) -> List[Optional[str]]:
    return list(_rows_param(params.get("rows")))


_OUTPUTS = {f"digit_sum_{mode}_{split}_acc": "higher" for mode in MODES for split in ("train", "test")}


@register_evaluator("digit_sum", _OUTPUTS, targets=_targets)
def evaluate_digit_sum(ctx: EvalContext, n_train: int = 10000, n_test: int = 2000, epochs: int = 20,
                       lr: float = 1e-3, modes: Sequence[str] = MODES, rows: Sequence[str] = ROWS,
                       k: Optional[int] = None, glimpse_set: str = "first", gt_boxes: str = "tight"
                       ) -> List[MetricValue]:
    """Table 6.2 (module docstring): for each row ("gt", "model") and mode ("fixed",
    "unfixed"), train on the first ``n_train`` training images and report exact-sum accuracy
    on them and on the first ``n_test`` test images. ``k``: glimpses the model takes (passed
    to ``glimpse_patches`` when it accepts one; default: the model's own). ``glimpse_set``:
    which 5 of the model's glimpses are summed (:data:`GLIMPSE_SETS`); ``gt_boxes``: the
    ground-truth convention the GT row crops ("tight" or "frame", thesis §6.4.1)."""
    model = ctx.model
    for needed in ("glimpse_patches", "encode_patches"):
        if not callable(getattr(model, needed, None)):
            raise FactorbenchError(f"digit_sum needs an object model with glimpse_patches() and encode_patches() "
                                   f"(said, spair, space); {getattr(model, 'name', type(model).__name__)} has no "
                                   f"{needed}()")
    modes, rows = [modes] if isinstance(modes, str) else list(modes), _rows_param(rows)
    for m in modes:
        if m not in MODES:
            raise FactorbenchError(f"digit_sum: unknown mode {m!r}; choose from {', '.join(MODES)}")
    for r in rows:
        if r not in ROWS:
            raise FactorbenchError(f"digit_sum: unknown row {r!r}; choose from {', '.join(ROWS)}")
    if glimpse_set not in GLIMPSE_SETS:
        raise FactorbenchError(f"digit_sum: glimpse_set must be one of {', '.join(GLIMPSE_SETS)}, got {glimpse_set!r}")
    if gt_boxes not in BOX_CONVENTIONS:
        raise FactorbenchError(f"digit_sum: gt_boxes must be one of {', '.join(BOX_CONVENTIONS)}, got {gt_boxes!r}")
    for ds in (ctx.train, ctx.test):
        check_digit_sum_dataset(ds, needs_boxes="gt" in rows)
    n_train, n_test = min(int(n_train), len(ctx.train)), min(int(n_test), len(ctx.test))
    if n_train < 1 or n_test < 1:
        raise FactorbenchError("digit_sum needs at least one training and one test image")
    was_training = getattr(model, "training", False)
    model.eval()
    out: List[MetricValue] = []
    try:
        for row in rows:
            train = collect_patches(ctx, ctx.train, n_train, row, k, glimpse_set, gt_boxes)
            test = collect_patches(ctx, ctx.test, n_test, row, k, glimpse_set, gt_boxes)
            for mode in modes:
                if mode == "fixed":
                    z_tr = _encode_all(model, train["patches"], ctx.batch_size)
                    z_te = _encode_all(model, test["patches"], ctx.batch_size)
                    reg = train_digit_regressor(z_tr, train["mask"], train["sums"], epochs, lr, ctx.seed,
                                                batch_size=ctx.batch_size)
                    acc_tr = sum_accuracy(reg.predict(z_tr, train["mask"], ctx.batch_size), train["sums"])
                    acc_te = sum_accuracy(reg.predict(z_te, test["mask"], ctx.batch_size), test["sums"])
                else:
                    tuned = copy.deepcopy(model).to(ctx.device)  # the checkpoint stays as it was
                    tuned.eval()
                    reg = train_digit_regressor(None, train["mask"], train["sums"], epochs, lr, ctx.seed,
                                                encoder=_encode_mu(tuned), patches=train["patches"],
                                                encoder_params=tuned.parameters(), batch_size=ctx.batch_size)
                    acc_tr = sum_accuracy(reg.predict(train["patches"], train["mask"], ctx.batch_size),
                                          train["sums"])
                    acc_te = sum_accuracy(reg.predict(test["patches"], test["mask"], ctx.batch_size), test["sums"])
                    del tuned
                protocol = {"row": row, "mode": mode, "n_train": n_train, "n_test": n_test, "epochs": int(epochs),
                            "lr": float(lr), "optimizer": "adam", "batch_size": ctx.batch_size,
                            "mlp": f"latent->{HIDDEN}->{HIDDEN}->1 ReLU", "glimpses_summed": MAX_GLIMPSES,
                            "supervision": SUPERVISION,
                            "prediction": "round(sum of MLP outputs over the glimpses used)",
                            "glimpse_set": glimpse_set if row == "model" else "n/a",
                            "glimpses_used": (GLIMPSE_SET_DESCRIPTIONS[glimpse_set] if row == "model"
                                              else "the image's ground-truth boxes (at most 5)"),
                            "gt_boxes": gt_boxes if row == "gt" else "n/a",
                            "gt_boxes_used": ((gt_boxes if BOX_CONVENTIONS[gt_boxes] in ctx.train.arrays else
                                               "tight") if row == "gt" else "n/a"),
                            "latent": "encoder posterior mean",
                            "encoder": "frozen" if mode == "fixed" else "fine-tuned copy (encode_patches mu)",
                            "boxes": ("ground-truth boxes cropped like the model's glimpses" if row == "gt"
                                      else "the model's own glimpses"),
                            "glimpses": "model default" if k is None else int(k)}
                out.append(MetricValue(f"digit_sum_{mode}_train_acc", acc_tr, {**protocol, "split": ctx.train.split},
                                       target=row))
                out.append(MetricValue(f"digit_sum_{mode}_test_acc", acc_te, {**protocol, "split": ctx.test.split},
                                       target=row))
    finally:
        model.train(was_training)
    return out
