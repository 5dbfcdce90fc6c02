"""Where the images for an image metric come from: a folder, a dataset, a checkpoint.

Every source yields its images as one tensor: uint8 (N, C, H, W) for images that already are
8-bit (files, datasets) and float32 in [0, 1] for what a model produces, so that the FID
modes can decide where rounding happens (docs/protocols.md §4.1). Bad input is a one-line
:class:`~factorbench.errors.FactorbenchError`: an empty folder, an unreadable or truncated
file, mixed image sizes, NaN/inf from a model.

Colour handling for files: greyscale is converted to RGB by repeating the channel, 16-bit
(I;16 in any byte order) taking its top 8 bits and float (F) in [0, 1] rounded to 8 bits;
32-bit integer (I) images and float images outside [0, 1] are refused, never clipped
(:func:`~factorbench.data.real.imageio.to_8bit`). Palette images are converted to RGB;
RGBA/LA/PA are accepted when the alpha channel is fully opaque (it is dropped) and refused
otherwise, since the colour of a translucent pixel depends on a background the file does
not state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol

import numpy as np
import torch
from PIL import Image

from ..data.real.imageio import READ_ERRORS, to_8bit
from ..errors import FactorbenchError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class FloatPixels(Protocol):
    """A dataset's images before the loader rounded them (for FID's ``direct`` mode):
    ``batch(start, stop, size)`` is float32 (B, 3, size, size) in [0, 255], resized to
    ``size`` from the decoded source pixels; ``source_steps`` lists the roundings that
    remain (e.g. the JPEG decode) and ``resize`` says how (``{size}`` is filled in)."""

    source_steps: List[str]
    resize: str

    def batch(self, start: int, stop: int, size: int) -> np.ndarray: ...


@dataclass
class Images:
    """A set of images with a description of where they came from (for the protocol)."""

    data: torch.Tensor
    source: Dict[str, Any] = field(default_factory=dict)
    #: how uint8 ``data`` was rounded on its way here (None: "source is uint8")
    stored_steps: Optional[List[str]] = None
    #: the same images before that rounding, where the dataset can give them (None: it cannot)
    float_pixels: Optional[FloatPixels] = None

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])

    @property
    def quantised(self) -> bool:
        return self.data.dtype == torch.uint8


def _to_rgb_array(img: Image.Image, path: Path) -> np.ndarray:
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            raise FactorbenchError(f"{path}: image has transparent pixels; flatten it onto a background first")
        img = rgba
    return np.asarray(to_8bit(img, path).convert("RGB"), dtype=np.uint8)


def load_image_file(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W, 3); unreadable or truncated files are an error."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb_array(img, path)
    except READ_ERRORS as exc:
        raise FactorbenchError(f"{path}: not a readable image ({exc})") from None


def folder_images(folder: Path, n: Optional[int] = None) -> Images:
    """The image files of ``folder`` (sorted by name, non-recursive), the first ``n`` if given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FactorbenchError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise FactorbenchError(f"{folder} contains no image files ({', '.join(IMAGE_EXTENSIONS)})")
    if n is not None:
        files = files[:n]
    arrays = []
    for path in files:
        arr = load_image_file(path)
        if arrays and arr.shape != arrays[0].shape:
            raise FactorbenchError(
                f"{folder}: images have different sizes ({files[0].name} is {arrays[0].shape[1]}x{arrays[0].shape[0]}, "
                f"{path.name} is {arr.shape[1]}x{arr.shape[0]}); resize them to one size first"
            )
        arrays.append(arr)
    data = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return Images(data, {"kind": "folder", "path": str(folder), "n": len(files)})


def dataset_images(name: str, split: str = "test", n: Optional[int] = None, seed: int = 0) -> Images:
    """The first ``n`` images of a registered dataset's split, as stored (uint8)."""
    from ..data import get_dataset

    return images_of_dataset(get_dataset(name, split, seed=seed), n, seed)


def images_of_dataset(ds, n: Optional[int] = None, seed: Optional[int] = None) -> Images:
    """The first ``n`` images of a loaded split (an ``ArrayDataset``) as stored (uint8), with
    how the loader rounded them and, where the loader can give them (CUB, Cars, Dogs), the
    same images before rounding for FID's ``direct`` mode (docs/protocols.md §4.1, thesis §5.4.2)."""
    from ..data import DATASETS

    data = torch.from_numpy(ds.arrays["image"][: n or len(ds)])
    loader = DATASETS.get(ds.name) if ds.name in DATASETS else None
    steps = list(loader.stored_steps()) if hasattr(loader, "stored_steps") else None
    floats = loader.float_images(ds.split, int(data.shape[0])) if hasattr(loader, "float_images") else None
    if "converted_from" in ds.info:  # data/convert.py resized/re-coloured and rounded it again
        steps = (steps or ["source is uint8"]) + [
            f"converted from {'x'.join(map(str, ds.info['converted_from']))} to "
            f"{'x'.join(map(str, ds.image_shape))} and rounded to uint8"]
        floats = None
    seed = ds.info.get("seed", 0) if seed is None else seed
    return Images(data, {"kind": "dataset", "name": ds.name, "split": ds.split, "seed": seed, "n": int(data.shape[0])},
                  steps, floats)


def check_finite(images: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(images).all():
        raise FactorbenchError(f"{what} produced NaN or inf values; the checkpoint is likely diverged")
    return images


@torch.no_grad()
def model_images(model, sampling: str, n: int, seed: int = 0, batch_size: int = 64, device: str = "cpu",
                 test_images: Optional[torch.Tensor] = None, what: str = "the model") -> torch.Tensor:
    """``n`` float images in [0, 1] from ``model``: decoded from z ~ N(0, I) (``random``,
    seeded) or reconstructions of ``test_images`` (uint8, ``test``). NaN/inf or values
    outside [0, 1] are an error."""
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    outs = []
    if sampling == "random":
        for start in range(0, n, batch_size):
            outs.append(model.sample(min(batch_size, n - start), generator=generator).float().cpu())
    elif sampling == "test":
        for start in range(0, len(test_images), batch_size):
            x = test_images[start:start + batch_size].float().div(255).to(device)
            outs.append(model.reconstruct(x).float().cpu())
    else:
        raise FactorbenchError(f"unknown sampling {sampling!r}; use random or test")
    data = check_finite(torch.cat(outs), what)
    low, high = float(data.min()), float(data.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise FactorbenchError(f"{what} produced values in [{low:.3g}, {high:.3g}]; images must be in [0, 1]")
    return data.clamp(0, 1)  # only float rounding past the bounds remains


def checkpoint_images(folder: Path, n: int, sampling: str = "random", seed: int = 0, batch_size: int = 64,
                      device: str = "cpu") -> Images:
    """``n`` images from a checkpoint: decoded from z ~ N(0, I) (``random``) or
    reconstructions of the first ``n`` test images of its training dataset (``test``)."""
    from ..models.checkpoint import load_model, read_run_config

    config = read_run_config(folder)
    model = load_model(folder, device)
    test = None
    if sampling == "test":
        test = dataset_images(config["dataset"]["name"], "test", n, seed=config["dataset"].get("seed", 0)).data
        if tuple(test.shape[1:]) != tuple(model.image_shape):  # trained on converted images: convert alike
            from ..data.convert import convert_images

            test = convert_images(test, model.image_shape)
    data = model_images(model, sampling, n, seed, batch_size, device, test, what=f"checkpoint {folder}")
    return Images(data, {"kind": "checkpoint", "path": str(folder), "model": config["model"], "sampling": sampling,
                         "seed": seed, "n": int(data.shape[0])})
