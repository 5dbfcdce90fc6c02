"""Does the foreground/background swap work? Figures and two numbers for z_b/z_f models
(thesis §5.4: Figs 5.4–5.8, 5.11–5.13; BFVAE, ``bfvae_ef``, BFVAE + LSR-GAN).

Figures (PNG, in the cell's figure folder), all from posterior means on test images:

- ``swap.png`` (Figs 5.4, 5.6, 5.8, 5.11): top row x (whose z_b is used), first column f
  (whose z_f is used), entry (i, j) decode(z_b of x_j, z_f of f_i);
- ``background.png`` (Figs 5.8, 5.12): x, then decode(z_b of x, z_f of a blank f);
- ``addition.png`` (Fig 5.7; datasets with per-object ``masks``): per image, the objects
  added to f one at a time;
- ``interpolation.png`` (Fig 5.13): z_b changes down the rows, z_f along the columns;
- ``pca_zb_<label>.png`` (Fig 5.5): the top-2 principal components of z_b coloured by each
  label of the dataset (background colour, shape, object colour).

Numbers — a reference the embedded sets make possible, because their backgrounds are one
flat colour per image: the background colour b(x) is the mean of x outside its mask, so

    background_mse = mean over test images of the squared error, inside the object's mask,
                     between background(x) and b(x) (did the object disappear?)
    swap_mse       = mean squared error between decode(z_b of x_j, z_f of x_i) and the
                     composite x_i⊙m_i + b(x_j)⊙(1−m_i) (x_i's object on x_j's background),
                     over pairs j = i+1 (mod n)

Both are per value with pixels in [0, 1], lower is better. ``swap_mse_same`` is the same
composite error for j = i (the plain reconstruction), the floor a swap can reach. On natural
images (CUB, COCO) the flat-colour reference is only a rough stand-in; look at the figures.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch

from ..device import to_device
from ..errors import FactorbenchError
from ..figures.grids import image_rows_png
from ..figures.plots import scatter_png
from ..metrics.embedding import pca_2d
from .base import EvalContext, MetricValue, register_evaluator

DEFINITION = ("squared error per value (pixels in [0,1]) against a flat-colour reference: the mean colour of x "
              "outside its mask")


def flat_backgrounds(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, 1, 1): each image's mean colour outside its mask (its background colour)."""
    outside = 1.0 - mask
    return (x * outside).sum(dim=(2, 3), keepdim=True) / outside.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)


@torch.no_grad()
def swap_errors(model, x: torch.Tensor, mask: torch.Tensor, labels=None) -> dict:
    """``background_mse``, ``swap_mse`` and ``swap_mse_same`` of the module docstring, on one batch."""
    bg = flat_backgrounds(x, mask)
    pure = model.background(x)
    inside = mask.expand_as(x)
    background_mse = ((pure - bg).pow(2) * inside).sum() / inside.sum().clamp_min(1.0)
    parts = model.encode_parts(x, mask, labels)
    shift = torch.roll(torch.arange(x.shape[0], device=x.device), -1)  # j = i + 1
    swapped = model.decode_parts(parts["zb_mu"][shift], parts["zf_mu"])
    same = model.decode_parts(parts["zb_mu"], parts["zf_mu"])
    target_swap = x * mask + bg[shift] * (1 - mask)
    target_same = x * mask + bg * (1 - mask)
    return {"background_mse": float(background_mse), "swap_mse": float((swapped - target_swap).pow(2).mean()),
            "swap_mse_same": float((same - target_same).pow(2).mean())}


@torch.no_grad()
def write_figures(ctx: EvalContext, batch: dict, labels, n: int) -> None:
    model = ctx.model
    x, mask = batch["image"][:n], batch.get("mask")
    mask = None if mask is None else mask[:n]
    lab = None if labels is None else labels[:n]
    blank = torch.ones_like(x[:1])
    grid = model.swap(x, x, mask, lab)  # [i, j]: z_b of x_j, z_f of x_i
    foregrounds = x if mask is None else x * mask
    rows = [torch.cat([blank, x])] + [torch.cat([foregrounds[i:i + 1], grid[i]]) for i in range(len(x))]
    image_rows_png(rows, ctx.figure_path("swap.png"))
    image_rows_png([x, model.background(x)], ctx.figure_path("background.png"), labels=["x", "background"])
    if "masks" in batch:
        rows = [model.add_objects(batch["image"][i], batch["masks"][i].to(x)) for i in range(min(4, len(x)))]
        width = max(r.shape[0] for r in rows)
        rows = [torch.cat([r, torch.ones(width - len(r), *r.shape[1:])]) for r in rows]
        image_rows_png(rows, ctx.figure_path("addition.png"))
    ma, mb = (None, None) if mask is None else (mask[0], mask[1])
    inter = model.interpolate(x[0], x[1], 6, ma, mb)
    image_rows_png(list(inter), ctx.figure_path("interpolation.png"))


def label_of(model, batch):
    if getattr(model.config, "attribute_mode", False):
        return batch["labels"][model.config.attribute_label]
    return None


@register_evaluator("factor_swap", {"background_mse": "lower", "swap_mse": "lower", "swap_mse_same": "lower"})
@torch.no_grad()
def evaluate_factor_swap(ctx: EvalContext, n: int = 256, n_figure: int = 8, pca_labels: Optional[List[str]] = None
                         ) -> List[MetricValue]:
    """The swap/background numbers and figures of the module docstring on ``n`` test images."""
    model = ctx.model
    if not hasattr(model, "decode_parts"):
        raise FactorbenchError(f"factor_swap needs a model with a foreground and a background code (bfvae, "
                               f"bfvae_ef, bfvae_lsr_gan); {model.name} has none")
    if "mask" not in ctx.test.arrays:
        raise FactorbenchError(f"factor_swap needs foreground masks; dataset {ctx.test.name} has none")
    n = min(n, len(ctx.test))
    was_training = model.training
    model.eval()
    try:
        totals, seen, codes = {}, 0, []
        for start in range(0, n, ctx.batch_size):
            batch = to_device(ctx.test.batch(np.arange(start, min(start + ctx.batch_size, n))), ctx.device)
            labels = label_of(model, batch)
            errors = swap_errors(model, batch["image"], batch["mask"], labels)
            size = batch["image"].shape[0]
            for key, value in errors.items():
                totals[key] = totals.get(key, 0.0) + value * size
            seen += size
            codes.append(model.encode_background(batch["image"])[0].cpu())
            if start == 0 and ctx.figures is not None:
                write_figures(ctx, batch, labels, min(n_figure, size))
        if ctx.figures is not None:
            zb = torch.cat(codes).numpy()
            points, _ = pca_2d(zb)
            for name in pca_labels if pca_labels is not None else ctx.test.label_names:
                values = ctx.test.labels(name)[:n]
                if values.ndim != 1:
                    continue  # per-object labels do not colour one point
                kinds = sorted(set(values.tolist()))
                index = np.searchsorted(kinds, values)
                scatter_png(points, index, [str(k) for k in kinds], ctx.figure_path(f"pca_zb_{name}.png"),
                            title=f"PCA of z_b coloured by {name}")
    finally:
        model.train(was_training)
    protocol = {"n": seen, "definition": DEFINITION, "codes": "posterior means", "split": ctx.test.split}
    return [MetricValue(key, total / seen, protocol) for key, total in totals.items()]
