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

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch
import torch.nn as nn

from ..errors import FactorbenchError

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
