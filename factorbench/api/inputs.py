"""Turn whatever a user passes as one side of an image metric into :class:`Images` (or a stats file).

Accepted, tried in this order:

- :class:`~factorbench.metrics.image_sources.Images` as is;
- a ``str`` or path: a ``.npz`` of statistics, a checkpoint folder, an image folder, or a
  dataset ``NAME[:SPLIT]`` (:mod:`factorbench.metrics.sources`, the CLI's parser);
- a tensor or numpy array (N, C, H, W), C = 1 or 3: uint8 (kept, rounding already done) or
  float in [0, 1] (kept float, so the FID mode decides where rounding happens, docs/protocols.md §4.1);
- a model with ``sample(n, generator=...)`` (a :class:`~factorbench.models.GenerativeModel`,
  e.g. from ``fb.load``): ``n`` images decoded from z ~ N(0, I), seeded by ``seed``
  (``sampling="test"`` is for checkpoint folders, which know their test images);
- a callable ``generate(n) -> batch``: called for batches of ``batch_size`` until ``n``
  images (``n``: the argument, else as many as the other side has);
- any other iterable of such batches (a list, a generator, a DataLoader yielding tensors).

Anything else, or a batch of the wrong shape, range or dtype, is one clear
:class:`~factorbench.errors.FactorbenchError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional, Union

import numpy as np
import torch

from ..errors import FactorbenchError
from ..metrics.image_sources import Images, check_finite
from ..metrics.sources import SourceOptions, kind_of, resolve

Side = Union[Images, Path]


def as_batch(x: Any, what: str) -> torch.Tensor:
    """One (B, C, H, W) batch as a uint8 or float32 CPU tensor, checked (module doc)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise FactorbenchError(f"{what}: expected images as a tensor or array (N, C, H, W), got {type(x).__name__}")
    x = x.detach().cpu()
    if x.dim() != 4:
        raise FactorbenchError(f"{what}: images must be (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        hint = " (channels last? use x.permute(0, 3, 1, 2))" if x.shape[-1] in (1, 3) else ""
        raise FactorbenchError(f"{what}: images must have 1 or 3 channels in dim 1, got shape {tuple(x.shape)}{hint}")
    if x.dtype == torch.uint8:
        return x.contiguous()
    if not x.is_floating_point():
        raise FactorbenchError(f"{what}: images must be uint8 in [0, 255] or float in [0, 1], got {x.dtype}")
    x = check_finite(x.float(), what)
    if x.numel():
        low, high = float(x.min()), float(x.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise FactorbenchError(f"{what}: float images must be in [0, 1], got values in [{low:.3g}, {high:.3g}]"
                                   " (uint8 images: pass them as uint8)")
    return x.clamp(0, 1).contiguous()


def concat_batches(batches: Iterable[Any], n: Optional[int], what: str) -> torch.Tensor:
    """Batches of one side, concatenated (the first ``n`` images if given)."""
    out, have = [], 0
    for i, b in enumerate(batches):
        batch = as_batch(b, f"{what}, batch {i}")
        if out and (batch.dtype != out[0].dtype or batch.shape[1:] != out[0].shape[1:]):
            raise FactorbenchError(f"{what}: batch {i} is {batch.dtype} {tuple(batch.shape[1:])}, the first was "
                                   f"{out[0].dtype} {tuple(out[0].shape[1:])}; all batches must agree")
        out.append(batch)
        have += len(batch)
        if n is not None and have >= n:
            break
    if not out:
        raise FactorbenchError(f"{what}: no images (the iterable was empty)")
    data = torch.cat(out)
    return data if n is None else data[:n]


def generated(generate: Callable[[int], Any], n: int, batch_size: int) -> Iterable[Any]:
    """Batches from ``generate(k)`` until ``n`` images."""
    done = 0
    while done < n:
        k = min(batch_size, n - done)
        batch = generate(k)
        got = len(batch) if hasattr(batch, "__len__") else 0
        if got == 0:
            raise FactorbenchError(f"generate({k}) returned no images")
        done += got
        yield batch


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _is_model(x: Any) -> bool:
    return callable(getattr(x, "sample", None)) and not isinstance(x, (torch.Tensor, np.ndarray, Images))


def needs_other_n(x: Any) -> bool:
    """Whether this side's image count can follow the other side's (models, callables, checkpoints)."""
    if _is_model(x) or (callable(x) and not isinstance(x, (torch.Tensor, np.ndarray, Images))):
        return True
    return _is_path(x) and kind_of(str(x)) == "checkpoint"


def resolve_side(x: Any, what: str, n: Optional[int] = None, default_n: Optional[int] = None, batch_size: int = 32,
                 seed: int = 0, device: str = "cpu", sampling: str = "random") -> Side:
    """One side as :class:`Images` or the path of a statistics file (module doc)."""
    if isinstance(x, Images):
        return x if n is None else Images(x.data[:n], {**x.source, "n": min(n, x.n)})
    if _is_path(x):
        return resolve(str(x), SourceOptions(n, sampling, seed, batch_size, device), default_n)
    source: Dict[str, Any]
    if isinstance(x, (torch.Tensor, np.ndarray)):
        data, source = as_batch(x, what), {"kind": "array"}
        data = data if n is None else data[:n]
    elif _is_model(x):
        from ..metrics.image_sources import model_images

        count = n or default_n
        if count is None:
            raise FactorbenchError(f"{what} is a model: pass n= (how many images to sample)")
        name = getattr(x, "name", type(x).__name__)
        data = model_images(x, "random", count, seed, batch_size, device, what=f"model {name}")
        source = {"kind": "model", "model": name, "sampling": "random", "seed": seed}
    elif callable(x):
        count = n or default_n
        if count is None:
            raise FactorbenchError(f"{what} is a generate(n) callable: pass n= (how many images to generate)")
        data, source = concat_batches(generated(x, count, batch_size), count, what), {"kind": "callable"}
    elif isinstance(x, Iterable):
        data, source = concat_batches(x, n, what), {"kind": "batches"}
    else:
        raise FactorbenchError(f"{what}: cannot read images from a {type(x).__name__}; pass a folder, a dataset "
                               "name, a checkpoint, a .npz, a tensor/array (N, C, H, W), batches or generate(n)")
    source["n"] = int(data.shape[0])
    return Images(data, source)


def resolve_pair(fake: Any, real: Any, n: Optional[int] = None, **kwargs) -> tuple:
    """Both sides; a side that can produce any number of images matches the other's count."""
    if needs_other_n(fake) and not needs_other_n(real):
        r = resolve_side(real, "real", n, **kwargs)
        f = resolve_side(fake, "fake", n, default_n=r.n if isinstance(r, Images) else None, **kwargs)
    else:
        f = resolve_side(fake, "fake", n, **kwargs)
        r = resolve_side(real, "real", n, default_n=f.n if isinstance(f, Images) else None, **kwargs)
    return f, r


def eval_size(size: Optional[int], fake: Side, real: Side) -> int:
    """The evaluation size: ``size`` if given, else the images' size when both sides agree."""
    if size is not None:
        if int(size) < 2:
            raise FactorbenchError(f"size must be at least 2, got {size}")
        return int(size)
    sizes = {name: side.size for name, side in (("fake", fake), ("real", real)) if isinstance(side, Images)}
    if not sizes:
        raise FactorbenchError("both sides are statistics files: pass size= (the evaluation size they were made at)")
    if len(set(sizes.values())) > 1:
        raise FactorbenchError(f"fake images are {sizes['fake']}x{sizes['fake']} and real ones {sizes['real']}x"
                               f"{sizes['real']}: pass size= to resize both to one evaluation size")
    return next(iter(sizes.values()))
