"""Parse a FAKE/REAL argument of ``factorbench run`` into images or a statistics file.

Accepted forms, tried in this order:

- ``PATH.npz``: precomputed statistics (``mu``, ``sigma``), FID only;
- a checkpoint folder (it has ``config.json``): images sampled from it, from random z
  (``--sampling random``) or reconstructions of its test images (``--sampling test``);
- a folder of image files;
- ``DATASET`` or ``DATASET:SPLIT`` (split defaults to ``test``): a registered dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..errors import FactorbenchError
from .image_sources import Images, checkpoint_images, dataset_images, folder_images

Side = Union[Images, Path]
#: files only a checkpoint folder holds (factorbench/models/checkpoint.py)
CHECKPOINT_FILES = ("model.pt", "trainer.pt")


@dataclass
class SourceOptions:
    n: Optional[int] = None
    sampling: str = "random"
    seed: int = 0
    batch_size: int = 64
    device: str = "cpu"


def kind_of(spec: str) -> str:
    path = Path(spec)
    if spec.endswith(".npz"):
        if not path.is_file():
            raise FactorbenchError(f"statistics file {spec} does not exist")
        return "stats"
    if path.is_dir():
        if (path / "config.json").exists():
            return "checkpoint"
        weights = [f for f in CHECKPOINT_FILES if (path / f).exists()]
        if weights:
            raise FactorbenchError(f"{spec} is not a checkpoint: it holds {', '.join(weights)} but no config.json "
                                   "(the file that says which model to build)")
        return "folder"
    from ..data import DATASETS

    name = spec.split(":", 1)[0]
    if name in DATASETS:
        return "dataset"
    raise FactorbenchError(
        f"{spec!r} is neither a .npz statistics file, a checkpoint folder, an image folder nor a dataset "
        f"(datasets: {', '.join(DATASETS.names())})"
    )


def check_counts(opts: SourceOptions) -> None:
    """``n`` and ``batch_size`` are positive whole numbers (a negative ``n`` would slice from
    the end, 0 would mean "all" for some sources and fail for others)."""
    for name, value in (("n", opts.n), ("batch_size", opts.batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise FactorbenchError(f"{name} must be a positive whole number, got {value!r}")


def resolve(spec: str, opts: SourceOptions, default_n: Optional[int] = None) -> Side:
    """Images (or a stats path) for ``spec``; checkpoints produce ``opts.n`` or ``default_n`` images.
    An explicit ``opts.n`` is the count used, exactly: a source with fewer images is an error."""
    check_counts(opts)
    kind = kind_of(spec)
    if kind == "stats":
        return Path(spec)
    if kind == "folder":
        images = folder_images(Path(spec), opts.n)
    elif kind == "dataset":
        name, _, split = spec.partition(":")
        images = dataset_images(name, split or "test", opts.n)
    else:
        n = opts.n or default_n or 1000
        images = checkpoint_images(Path(spec), n, opts.sampling, opts.seed, opts.batch_size, opts.device)
    if opts.n is not None and images.n < opts.n:
        raise FactorbenchError(f"{spec} has {images.n} images; --n {opts.n} asks for more (lower --n)")
    return images


def resolve_pair(fake: str, real: str, opts: SourceOptions):
    """Resolve both sides; a checkpoint side defaults to as many images as the other side has."""
    first_fake = kind_of(fake) != "checkpoint"
    if first_fake:
        f = resolve(fake, opts)
        r = resolve(real, opts, default_n=f.n if isinstance(f, Images) else None)
    else:
        r = resolve(real, opts)
        f = resolve(fake, opts, default_n=r.n if isinstance(r, Images) else None)
    return f, r
