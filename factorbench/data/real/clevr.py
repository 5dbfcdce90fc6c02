"""``clevr`` and ``clevr-masks``: CLEVR v1.0 scenes at 64x64 (docs/protocols.md §2.2).

The thesis uses CLEVR (Johnson et al., 2017) twice: as a multi-object dataset for BFVAE
(§5.4.1 "Multi-object datasets", Figs 5.6 and 5.8) and for SAID (§6.4, §6.4.5), where it is
"the original CLEVR dataset", not IODINE's CLEVR6, with every image resized to 64x64 and
K = 10 glimpses because a CLEVR scene holds at most 10 objects.

Layout (the official ``CLEVR_v1.0.zip``), under ``<root>/CLEVR_v1.0/``::

    images/train/CLEVR_train_000000.png ...   images/val/CLEVR_val_000000.png ...
    scenes/CLEVR_train_scenes.json            scenes/CLEVR_val_scenes.json

Split rule: ``train`` = ``images/train``; ``test`` = ``images/val`` (the official test split
ships without scenes, so it has no labels or counts). Samples are in ``image_index`` order.
The scenes file is required: ``count`` is part of the contract and an image-only folder would
have to invent it.

Crop/resize: the 480x320 RGBA PNGs lose their alpha channel (CLEVR's is opaque), are cut to
the central 320x320 square (columns 80..399, full height) and resized to 64x64 (PIL
bicubic). A square crop that keeps the middle of the scene is what object-centric work does:
IODINE (google-deepmind/deepmind-research ``iodine/modules/data.py``) and Slot Attention
(google-research ``slot_attention/data.py``, ``apply_crop``) cut the 192x192 window
``[29:221, 64:256]`` out of DeepMind's 240x320 re-render ("CLEVR with masks"). That window
is defined for the re-render only, so on the 480x320 originals we take the plain central
square of full height, which drops the same kind of side margins and keeps the aspect ratio.

Labels and count come from the scenes file, per object, in the file's object order, padded
with -1 to K = 10: ``shape`` (cube 0, sphere 1, cylinder 2), ``colour`` (gray 0, red 1,
blue 2, green 3, brown 4, purple 5, cyan 6, yellow 7), ``material`` (rubber 0, metal 1),
``size`` (large 0, small 1) -- the order of the generator's ``properties.json``
(facebookresearch/clevr-dataset-gen). An object is kept when its projected centre
(``pixel_coords`` x, y: integer pixels, top-left origin, in the rendered image) lies inside
the crop; ``count`` is the number kept, so objects cut away by the crop are not counted.

CLEVR gives no boxes and no masks (``pixel_coords`` is a centre point, not an extent), so
``clevr`` has neither field; none is invented.

``clevr-masks`` adds per-object masks read from a folder that is *factorbench's own
convention*, not an official layout::

    masks/train/CLEVR_train_000000_0.png, ..._1.png, ...   (one per scene object, k = 0..)
    masks/val/CLEVR_val_000000_0.png, ...

Mask ``k`` belongs to object ``k`` of the scenes file and is a greyscale (or RGB) PNG of the
image's size, object where the value is >= 0.5 of full scale. DeepMind's "CLEVR with masks"
is a TFRecord that cannot be read without TensorFlow (not a dependency), so a user who has
masks (exported from that TFRecord or rendered with the CLEVR generator) writes them in this
layout. Masks get the same crop and a bilinear resize to 64x64, thresholded at 0.5; an object
whose mask is empty after the crop is dropped. Fields: ``masks`` (K = 10), tight ``boxes``
of the masks (xyxy output pixels, x1/y1 exclusive), ``mask`` = their union, ``count``, labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from ..synthetic.raster import boxes_from_masks
from .base import RealSource
from .imageio import center_square, open_mask, open_rgb, resize, to_chw

SIZE = 64
MAX_OBJECTS = 10  # CLEVR scenes hold 3..10 objects (thesis §6.2.2: "the maximum number of objects ... is 10")
SPLIT_FOLDER = {"train": "train", "test": "val"}
VALUES = {  # label name -> (scenes-json key, values in the order of clevr-dataset-gen's properties.json)
    "shape": ("shape", ("cube", "sphere", "cylinder")),
    "colour": ("color", ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")),
    "material": ("material", ("rubber", "metal")),
    "size": ("size", ("large", "small")),
}
SOURCE_URL = "https://cs.stanford.edu/people/jcjohns/clevr/ (CLEVR_v1.0.zip)"


def scenes_file(split: str) -> str:
    return f"scenes/CLEVR_{SPLIT_FOLDER[split]}_scenes.json"


def read_scenes(path: Path) -> List[Dict[str, Any]]:
    """The scenes of a CLEVR scenes file, in ``image_index`` order; bad content is a one-line error."""
    try:
        with open(path) as fh:
            scenes = json.load(fh)["scenes"]
        return sorted(scenes, key=lambda s: int(s["image_index"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FactorbenchError(f"{path}: not a readable CLEVR scenes file ({type(exc).__name__}: {exc})") from None


def object_labels(obj: Dict[str, Any], where: str) -> Dict[str, int]:
    out = {}
    for name, (key, values) in VALUES.items():
        value = obj.get(key)
        if value not in values:
            raise FactorbenchError(f"{where}: object {key} {value!r} is not one of {', '.join(values)}")
        out[name] = values.index(value)
    return out


def crop_box(width: int, height: int) -> Tuple[int, int, int, int]:
    """The central square (xyxy, exclusive) that :func:`center_square` cuts."""
    s = min(width, height)
    left, top = (width - s) // 2, (height - s) // 2
    return left, top, left + s, top + s


def binary_resize(mask: np.ndarray, crop: Tuple[int, int, int, int], size: int) -> np.ndarray:
    """A float (H, W) mask in [0, 1] -> cropped, bilinear-resized to size x size, >= 0.5 -> uint8."""
    img = Image.fromarray(mask.astype(np.float32), mode="F").crop(crop)
    return (np.asarray(img.resize((size, size), Image.BILINEAR)) >= 0.5).astype(np.uint8)


@register_dataset("clevr")
class Clevr(RealSource):
    version = 1
    subdir = "CLEVR_v1.0"
    image_shape = (3, SIZE, SIZE)
    description = "CLEVR v1.0, central 320x320 crop -> 64x64, count and per-object labels (Ch. 5 BFVAE, Ch. 6 SAID)"
    fields = ("image", "count", "labels")
    labels = tuple(VALUES)
    layout = "images/{train,val}/CLEVR_{train,val}_NNNNNN.png + scenes/CLEVR_{train,val}_scenes.json (test = val)"
    source_url = SOURCE_URL

    def required(self, split: str) -> List[str]:
        return [f"images/{SPLIT_FOLDER[split]}", scenes_file(split)]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        scenes_path = folder / scenes_file(split)
        scenes = read_scenes(scenes_path)[:n]
        num = len(scenes)
        arrays: ArrayDict = {"image": np.zeros((num, 3, SIZE, SIZE), np.uint8), "count": np.zeros(num, np.int64)}
        for name in VALUES:
            arrays[f"label_{name}"] = np.full((num, MAX_OBJECTS), -1, np.int64)
        self.start(arrays, num)
        for i, scene in enumerate(scenes):
            where = f"{scenes_path} (image_index {scene.get('image_index')})"
            try:
                filename, objects = str(scene["image_filename"]), list(scene["objects"])
            except (KeyError, TypeError) as exc:
                raise FactorbenchError(f"{where}: scene without {exc}") from None
            path = folder / "images" / SPLIT_FOLDER[split] / filename
            if not path.is_file():
                raise FactorbenchError(f"{scenes_path} names image {filename}, which is missing from {path.parent}")
            img = open_rgb(path)  # RGBA -> RGB drops the (opaque) alpha channel
            crop = crop_box(*img.size)
            arrays["image"][i] = to_chw(resize(center_square(img), SIZE))
            kept = self.keep_objects(arrays, i, objects, path, img.size, crop, where)
            for k, obj in enumerate(kept[:MAX_OBJECTS]):
                for name, value in object_labels(obj, where).items():
                    arrays[f"label_{name}"][i, k] = value
            arrays["count"][i] = min(len(kept), MAX_OBJECTS)
        return arrays

    # -- what clevr-masks changes ----------------------------------------------------------------
    def start(self, arrays: ArrayDict, num: int) -> None:
        """Allocate extra fields (none without masks)."""

    def keep_objects(self, arrays: ArrayDict, i: int, objects: List[Any], path: Path,
                     image_size: Tuple[int, int], crop: Tuple[int, int, int, int], where: str) -> List[Any]:
        """The objects of image ``i`` that stay visible after the crop (centre inside it)."""
        x0, y0, x1, y1 = crop
        kept = []
        for obj in objects:
            try:
                px, py = float(obj["pixel_coords"][0]), float(obj["pixel_coords"][1])
            except (KeyError, TypeError, IndexError, ValueError):
                raise FactorbenchError(f"{where}: object without pixel_coords (x, y, depth)") from None
            if x0 <= px < x1 and y0 <= py < y1:
                kept.append(obj)
        return kept


@register_dataset("clevr-masks")
class ClevrMasks(Clevr):
    description = ("CLEVR v1.0 + per-object mask PNGs (factorbench layout masks/<split>/<stem>_<k>.png), "
                   "64x64, masks, boxes, count, labels")
    fields = ("image", "mask", "masks", "boxes", "count", "labels")
    layout = (Clevr.layout + " + masks/{train,val}/CLEVR_{train,val}_NNNNNN_<k>.png "
              "(one PNG per scene object; factorbench's own layout)")
    source_url = (SOURCE_URL + "; masks: export DeepMind's clevr_with_masks TFRecord or render them "
                  "with clevr-dataset-gen")

    def required(self, split: str) -> List[str]:
        return super().required(split) + [f"masks/{SPLIT_FOLDER[split]}"]

    def start(self, arrays: ArrayDict, num: int) -> None:
        arrays["masks"] = np.zeros((num, MAX_OBJECTS, SIZE, SIZE), np.uint8)

    def keep_objects(self, arrays: ArrayDict, i: int, objects: List[Any], path: Path,
                     image_size: Tuple[int, int], crop: Tuple[int, int, int, int], where: str) -> List[Any]:
        """Objects whose mask is non-empty after crop and resize; their masks go to ``masks[i]``."""
        mask_dir = path.parent.parent.parent / "masks" / path.parent.name
        extra = mask_dir / f"{path.stem}_{len(objects)}.png"
        if extra.exists():
            raise FactorbenchError(f"{extra}: more mask files than the {len(objects)} objects of {where}")
        kept = []
        for k, obj in enumerate(objects):
            mask_path = mask_dir / f"{path.stem}_{k}.png"
            if not mask_path.is_file():
                raise FactorbenchError(f"missing mask {mask_path} for object {k} of {len(objects)} in {where}")
            full = open_mask(mask_path)
            if full.shape != (image_size[1], image_size[0]):
                raise FactorbenchError(f"{mask_path}: mask is {full.shape[1]}x{full.shape[0]}, "
                                       f"image is {image_size[0]}x{image_size[1]}")
            small = binary_resize(full, crop, SIZE)
            if small.any() and len(kept) < MAX_OBJECTS:
                arrays["masks"][i, len(kept)] = small
                kept.append(obj)
        return kept

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        arrays = super().read(folder, split, n)
        arrays["boxes"] = boxes_from_masks(arrays["masks"])
        arrays["mask"] = arrays["masks"].max(axis=1, keepdims=True)
        return arrays
