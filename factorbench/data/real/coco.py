"""``coco``: COCO 2017 instances at 64x64 with boxes, masks and categories (docs/protocols.md §2.2).

The thesis uses COCO (Lin et al., 2014) as the training set of the pre-trained VAE of
Chapter 4 (§4.4, "we resize all the images to 64x64") and as a multi-object dataset for
BFVAE (§5.4.1 "Multi-object datasets", Fig 5.9), whose foreground input needs a mask.

Layout (the official downloads ``train2017.zip``, ``val2017.zip`` and
``annotations_trainval2017.zip``), under ``<root>/coco/``::

    train2017/000000000009.jpg ...    val2017/000000000139.jpg ...
    annotations/instances_train2017.json   annotations/instances_val2017.json

Split rule: ``train`` = train2017, ``test`` = val2017 (test2017 has no annotations). Samples
are the annotation file's ``images`` in increasing image id; an image without annotations is
kept with ``count`` 0. An annotation or image entry that names a missing image file, an
unknown image id or category, or a mask that does not fit the image is a one-line error
naming the file.

Crop/resize: the central square of side min(width, height) is cut out and resized to 64x64
(PIL bicubic); the decoded image must have the ``width`` x ``height`` the file lists.

Objects: ``bbox`` is ``[x, y, w, h]`` in pixels, 0-based, continuous (pixel (i, j) covers
[i, i+1) x [j, j+1)), so it becomes ``(x, y, x + w, y + h)`` xyxy with x1/y1 exclusive as it
is, then is mapped into the crop, scaled to 64 px and clipped to it. An object whose box has
no area left inside the crop is skipped. Of the rest, the K = 10 largest by the annotation's
``area`` (segment area in source pixels; ties by annotation id) are kept, largest first;
crowd annotations (``iscrowd`` 1) are objects like any other.

Masks are rasterised at the source resolution: polygons (lists ``[x1, y1, x2, y2, ...]`` in
continuous coordinates; a pixel is in when its centre is inside, even-odd rule, see
:func:`fill_polygon`; several polygons of one object are OR-ed), uncompressed RLE
(``counts`` a list of ints) or compressed RLE (``counts`` a string, decoded by
:func:`rle_string_counts`). RLE runs alternate 0/1 starting with 0 over the pixels in
column-major order (down the first column, then the next). Each mask gets the image's crop,
a bilinear resize to 64x64 and a threshold at 0.5; a small object can end with an empty mask
and still have its box. ``mask`` is the union of the masks of *all* objects inside the crop,
so it can hold more than the K objects of ``masks`` when an image has more.

Labels: ``category``, per object, the COCO category id mapped to 0..79 in increasing id
order (the 80 ids 1..90 of the 2017 release, :data:`COCO_CATEGORY_IDS`), padded with -1.
pycocotools is not a dependency; RLE decoding follows the format description of its
``maskApi.c`` (``rleToString`` / ``rleFrString``) and is written here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource
from .imageio import center_square, open_rgb, resize, to_chw, transform_box

SIZE = 64
MAX_OBJECTS = 10
SPLIT_NAME = {"train": "train2017", "test": "val2017"}
#: the 80 category ids of COCO 2014/2017 instances (ids 1..90 with gaps); label = index here
COCO_CATEGORY_IDS = (
    tuple(range(1, 12)) + tuple(range(13, 26)) + (27, 28) + tuple(range(31, 45)) + tuple(range(46, 66))
    + (67, 70) + tuple(range(72, 83)) + tuple(range(84, 91))
)
CATEGORY_INDEX = {cid: i for i, cid in enumerate(COCO_CATEGORY_IDS)}


# --------------------------------------------------------------------------- masks


def rle_string_counts(text: str) -> List[int]:
    """The run lengths of a compressed COCO RLE string.

    Each count is written as groups of 5 bits, least significant first, one character per
    group (``chr(48 + bits)``, bit 0x20 set while more groups follow); the last group's bit
    0x10 is the sign. From the fourth count on, the value stored is the difference to the
    count two places before.
    """
    counts: List[int] = []
    value, shift = 0, 0
    for ch in text:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise ValueError(f"character {ch!r} outside the RLE alphabet")
        value |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            value -= 1 << shift  # sign-extend the last group
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
        value, shift = 0, 0
    if shift:
        raise ValueError("string ends inside a count")
    return counts


def rle_mask(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """Bool (height, width) mask of RLE run lengths (0-runs first, column-major pixel order)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() != height * width:
        raise ValueError(f"run lengths must be >= 0 and sum to {height}x{width}={height * width}")
    flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    return flat.reshape(width, height).T


def fill_polygon(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bool (height, width) mask of the pixels whose centre lies inside a polygon (even-odd rule).

    ``points`` is (P, 2) in continuous pixel coordinates (pixel (i, j) covers [i, i+1) x
    [j, j+1), centre (i + 0.5, j + 0.5)). Each edge that crosses a row's centre line toggles
    the pixels right of the crossing, so a rectangle [x0, x1) x [y0, y1) with integer corners
    fills exactly columns x0..x1-1 and rows y0..y1-1.
    """
    out = np.zeros((height, width), bool)
    x, y = points[:, 0], points[:, 1]
    lo, hi = max(0, int(np.floor(y.min()))), min(height, int(np.ceil(y.max())) + 1)  # rows it can touch
    if hi <= lo:
        return out
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    yc = np.arange(lo, hi, dtype=np.float64)[:, None] + 0.5  # row centres
    crosses = (y[None] <= yc) != (yn[None] <= yc)  # half-open in y: no vertex counted twice
    rows, edges = np.nonzero(crosses)
    t = (yc[rows, 0] - y[edges]) / (yn[edges] - y[edges])
    xc = x[edges] + t * (xn[edges] - x[edges])
    start = np.clip(np.ceil(xc - 0.5), 0, width).astype(np.int64)  # first pixel whose centre is >= xc
    toggles = np.bincount(rows * (width + 1) + start, minlength=(hi - lo) * (width + 1)) & 1
    inside = np.bitwise_xor.accumulate(toggles.reshape(hi - lo, width + 1)[:, :width].astype(np.uint8), axis=1)
    out[lo:hi] = inside.astype(bool)
    return out


def polygon_mask(polygons: Sequence[Sequence[float]], crop: Tuple[int, int, int, int]) -> np.ndarray:
    """Bool mask over ``crop`` (xyxy source pixels) of COCO polygons, the parts OR-ed."""
    x0, y0, x1, y1 = crop
    out = np.zeros((y1 - y0, x1 - x0), bool)
    for poly in polygons:
        xy = np.asarray(poly, dtype=np.float64)
        if xy.ndim != 1 or len(xy) % 2:
            raise ValueError("a polygon must be a flat list [x1, y1, x2, y2, ...]")
        if len(xy) >= 6:
            out |= fill_polygon(xy.reshape(-1, 2) - (x0, y0), x1 - x0, y1 - y0)
    return out


def segmentation_mask(seg: Any, height: int, width: int, crop: Tuple[int, int, int, int]) -> np.ndarray:
    """Bool mask over ``crop`` of a COCO ``segmentation`` (polygons, RLE or compressed RLE)."""
    if isinstance(seg, list):
        return polygon_mask(seg, crop)
    if not isinstance(seg, dict) or "counts" not in seg:
        raise ValueError("segmentation is neither a polygon list nor an RLE dict")
    if [int(v) for v in seg.get("size", [height, width])] != [height, width]:
        raise ValueError(f"RLE size {seg.get('size')} is not the image's [{height}, {width}]")
    counts = seg["counts"]
    if isinstance(counts, str):
        counts = rle_string_counts(counts)
    full = rle_mask(counts, height, width)
    x0, y0, x1, y1 = crop
    return full[y0:y1, x0:x1]


def resize_binary(mask: np.ndarray, size: int) -> np.ndarray:
    """Bool (S, S) -> uint8 (size, size): bilinear resize of the 0/1 map, >= 0.5."""
    img = Image.fromarray(mask.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR)
    return (np.asarray(img) >= 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- annotations


def read_instances(path: Path) -> Tuple[List[Dict[str, Any]], Dict[int, List[Dict[str, Any]]]]:
    """(images sorted by id, annotations grouped by image id) of an instances file."""
    try:
        with open(path) as fh:
            data = json.load(fh)
        images = sorted(data["images"], key=lambda im: int(im["id"]))
        known = {int(im["id"]) for im in images}
        by_image: Dict[int, List[Dict[str, Any]]] = defaultdict(list)
        for ann in data.get("annotations", []):
            image_id = int(ann["image_id"])
            if image_id not in known:
                raise FactorbenchError(f"{path}: annotation {ann.get('id')} names image id {image_id}, "
                                       "which the file's images do not list")
            by_image[image_id].append(ann)
        return images, by_image
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FactorbenchError(f"{path}: not a readable COCO instances file ({type(exc).__name__}: {exc})") from None


def object_box(ann: Dict[str, Any], crop: Tuple[int, int, int, int]) -> Tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in ann["bbox"])
    return transform_box((x, y, x + w, y + h), crop, SIZE)


@register_dataset("coco")
class Coco(RealSource):
    version = 1
    subdir = "coco"
    image_shape = (3, SIZE, SIZE)
    description = "COCO 2017 instances, central square -> 64x64, up to 10 objects: masks, boxes, categories (Ch. 4, 5)"
    fields = ("image", "mask", "masks", "boxes", "count", "labels")
    labels = ("category",)
    layout = "{train2017,val2017}/*.jpg + annotations/instances_{train2017,val2017}.json (test = val2017)"
    source_url = "https://cocodataset.org/#download (2017 train/val images, 2017 train/val annotations)"

    def required(self, split: str) -> List[str]:
        name = SPLIT_NAME[split]
        return [name, f"annotations/instances_{name}.json"]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        name = SPLIT_NAME[split]
        ann_path = folder / "annotations" / f"instances_{name}.json"
        images, by_image = read_instances(ann_path)
        images = images[:n]
        num = len(images)
        arrays: ArrayDict = {
            "image": np.zeros((num, 3, SIZE, SIZE), np.uint8),
            "mask": np.zeros((num, 1, SIZE, SIZE), np.uint8),
            "masks": np.zeros((num, MAX_OBJECTS, SIZE, SIZE), np.uint8),
            "boxes": np.zeros((num, MAX_OBJECTS, 4), np.float32),
            "count": np.zeros(num, np.int64),
            "label_category": np.full((num, MAX_OBJECTS), -1, np.int64),
        }
        for i, entry in enumerate(images):
            try:
                file_name, width, height = str(entry["file_name"]), int(entry["width"]), int(entry["height"])
            except (KeyError, TypeError, ValueError) as exc:
                raise FactorbenchError(f"{ann_path}: image entry {entry.get('id')} lacks {exc}") from None
            path = folder / name / file_name
            if not path.is_file():
                raise FactorbenchError(f"{ann_path} lists image {file_name}, which is missing from {path.parent}")
            img = open_rgb(path)
            if img.size != (width, height):
                raise FactorbenchError(f"{path}: image is {img.size[0]}x{img.size[1]}, "
                                       f"{ann_path.name} says {width}x{height}")
            arrays["image"][i] = to_chw(resize(center_square(img), SIZE))
            self.objects(arrays, i, by_image.get(int(entry["id"]), []), width, height, f"{ann_path} ({file_name})")
        return arrays

    def objects(self, arrays: ArrayDict, i: int, anns: List[Dict[str, Any]], width: int, height: int,
                where: str) -> None:
        """Fill masks, boxes, categories, count and the union mask of image ``i``."""
        s = min(width, height)
        left, top = (width - s) // 2, (height - s) // 2
        crop = (left, top, left + s, top + s)
        inside = []
        for ann in anns:
            try:
                box = object_box(ann, crop)
                area, ann_id = float(ann.get("area", 0.0)), int(ann.get("id", 0))
                category = CATEGORY_INDEX.get(int(ann["category_id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise FactorbenchError(f"{where}: annotation {ann.get('id')} is malformed ({exc})") from None
            if category is None:
                raise FactorbenchError(f"{where}: annotation {ann.get('id')} has category id "
                                       f"{ann['category_id']}, not a COCO 2017 instance category")
            if box[2] > box[0] and box[3] > box[1]:
                inside.append((-area, ann_id, box, category, ann))
        inside.sort(key=lambda item: item[:2])
        union = np.zeros((SIZE, SIZE), np.uint8)
        for k, (_, ann_id, box, category, ann) in enumerate(inside):
            try:
                mask = resize_binary(segmentation_mask(ann["segmentation"], height, width, crop), SIZE)
            except (KeyError, TypeError, ValueError) as exc:
                raise FactorbenchError(f"{where}: annotation {ann_id} has an unreadable segmentation "
                                       f"({exc})") from None
            union |= mask
            if k < MAX_OBJECTS:
                arrays["masks"][i, k] = mask
                arrays["boxes"][i, k] = box
                arrays["label_category"][i, k] = category
        arrays["mask"][i, 0] = union
        arrays["count"][i] = min(len(inside), MAX_OBJECTS)
