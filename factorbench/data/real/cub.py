"""``cub`` / ``cub-128``: Caltech-UCSD Birds-200-2011 with segmentation masks (docs/protocols.md §2.2).

Thesis §5.4.2 (Tables 5.3/5.4): BFVAE+LSR-GAN against FineGAN/MixNMatch on "the whole
dataset of CUB" at 64x64 and 128x128; BFVAE's foreground is the bird's mask.

Layout, under the data root (the two official archives extracted side by side)::

    CUB_200_2011/images.txt              <image_id> <class folder>/<file>.jpg
    CUB_200_2011/image_class_labels.txt  <image_id> <class_id>          (1-based)
    CUB_200_2011/train_test_split.txt    <image_id> <is_training_image> (1 train, 0 test)
    CUB_200_2011/bounding_boxes.txt      <image_id> <x> <y> <width> <height>
    CUB_200_2011/images/<class folder>/<file>.jpg
    segmentations/<class folder>/<file>.png   (segmentations.tgz, distributed separately)

Splits: ``train`` / ``test`` from train_test_split.txt, and ``all`` (the thesis trains on
the whole dataset), each in images.txt order.

Boxes: the README gives a box as the top-left corner plus width and height in pixels
without saying where counting starts; like FineGAN, MixNMatch and StackGAN we read (x, y)
as 0-based pixel offsets, so the box is xyxy ``(x, y, x + w, y + h)`` with x1/y1
exclusive, clipped to the image. (Were they 1-based, the box would be off by one source
pixel, under a third of an output pixel.)

Crop: :func:`~factorbench.data.real.imageio.object_crop` -- FineGAN's square of side
1.5·max(w, h) centred on the box, each side clamped to the image (shrunk, not shifted),
then the centred square of the shorter side -- resized to 64 or 128 (PIL bicubic). The
box goes through the same crop and scale.
The stored image is rounded twice (PIL's uint8 bicubic rounds after each of its two passes);
FID's ``direct`` mode instead reads ``float_images``: the same crop of the decoded JPEG
resized in float (:class:`~.object_crop.FloatObjects`, §5.4.2 "we interpolate the image in
the range from 0-1").

Mask: the segmentation PNG is greyscale with soft values (the fraction of annotators
marking the pixel, times 255). It is cropped like the image, resized as float (PIL
bilinear) and thresholded at > 0.5: a pixel is foreground when most annotators say so.

Fields: image, mask, boxes (one box), count (1), labels ``class`` (species, 0-based).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource
from .imageio import open_mask, open_rgb
from .object_crop import ObjectItem, OneObjectSource, crop_to_object, object_box, single_object_arrays

ROOT = "CUB_200_2011"
SEGMENTATIONS = "segmentations"
TABLES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt")
MASK_THRESHOLD = 0.5


class Record(NamedTuple):
    name: str  # <class folder>/<file>.jpg
    label: int  # 0-based
    train: bool
    box: Tuple[float, float, float, float]  # xyxy, exclusive x1/y1, source pixels


def read_table(path: Path, columns: int) -> Dict[int, List[str]]:
    """``<image_id> <value>...`` lines of ``path`` as {image_id: [values]}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FactorbenchError(f"{path}: unreadable ({exc})") from None
    rows: Dict[int, List[str]] = {}
    for number, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != columns or not parts[0].isdigit():
            raise FactorbenchError(
                f"{path}:{number}: expected <image_id> and {columns - 1} value(s), got {line.strip()!r}")
        rows[int(parts[0])] = parts[1:]
    return rows


def read_records(folder: Path) -> List[Record]:
    """Every image of the dataset, in images.txt order."""
    base = folder / ROOT
    names, labels, train, boxes = (read_table(base / name, cols) for name, cols in zip(TABLES, (2, 2, 2, 5)))
    records = []
    for image_id, (name,) in names.items():
        row = {}
        for table, file in ((labels, TABLES[1]), (train, TABLES[2]), (boxes, TABLES[3])):
            if image_id not in table:
                raise FactorbenchError(f"{base / file}: no line for image {image_id} ({name})")
            row[file] = table[image_id]
        try:
            label = int(row[TABLES[1]][0])
            is_train = int(row[TABLES[2]][0])
            x, y, w, h = (float(v) for v in row[TABLES[3]])
        except ValueError as exc:
            raise FactorbenchError(f"{base}: bad annotation for image {image_id} ({name}): {exc}") from None
        if label < 1 or is_train not in (0, 1):
            raise FactorbenchError(f"{base}: image {image_id} ({name}) has class {label} / split {is_train}")
        records.append(Record(name, label - 1, is_train == 1, (x, y, x + w, y + h)))
    return records


def crop_mask(soft: np.ndarray, crop: Sequence[int], size: int) -> np.ndarray:
    """A soft (H, W) mask cropped to ``crop``, resized as float and thresholded: uint8 {0, 1}."""
    x0, y0, x1, y1 = crop
    patch = Image.fromarray(np.ascontiguousarray(soft[y0:y1, x0:x1], dtype=np.float32))
    resized = np.asarray(patch.resize((size, size), Image.BILINEAR))
    return (resized > MASK_THRESHOLD).astype(np.uint8)


def record_item(folder: Path, record: Record) -> ObjectItem:
    """The image file and box of one record (see :class:`~.object_crop.ObjectItem`)."""
    return ObjectItem(folder / ROOT / "images" / record.name, record.box, f"{folder / ROOT / TABLES[3]} ({record.name})")


class CUBSource(OneObjectSource, RealSource):
    version = 1
    subdir = ""  # the two archives extract to CUB_200_2011/ and segmentations/ in the root
    fields = ("image", "mask", "boxes", "count", "labels")
    labels = ("class",)
    splits = ("train", "test", "all")
    layout = (f"{ROOT}/{{{', '.join(TABLES)}, images/<class>/<file>.jpg}} and "
              f"{SEGMENTATIONS}/<class>/<file>.png (the separate segmentations archive)")
    source_url = ("https://www.vision.caltech.edu/datasets/cub_200_2011/ "
                  "(CUB_200_2011.tgz and segmentations.tgz, both extracted into one folder)")

    def required(self, split: str) -> List[str]:
        return [f"{ROOT}/{name}" for name in TABLES] + [f"{ROOT}/images", SEGMENTATIONS]

    def records(self, folder: Path, split: str, n: Optional[int]) -> List[Record]:
        return [r for r in read_records(folder) if split == "all" or r.train == (split == "train")][:n]

    def object_items(self, folder: Path, split: str, n: Optional[int]) -> List[ObjectItem]:
        return [record_item(folder, r) for r in self.records(folder, split, n)]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        size = self.image_shape[-1]
        records = self.records(folder, split, n)
        images, masks, boxes = [], [], []
        for record, item in ((r, record_item(folder, r)) for r in records):
            mask_path = (folder / SEGMENTATIONS / record.name).with_suffix(".png")
            for path in (item.path, mask_path):
                if not path.is_file():
                    raise FactorbenchError(f"{path}: missing (image {record.name} is listed in {ROOT}/images.txt)")
            img, soft = open_rgb(item.path), open_mask(mask_path)
            if soft.shape != (img.height, img.width):
                raise FactorbenchError(f"{mask_path}: {soft.shape[1]}x{soft.shape[0]} mask for a "
                                       f"{img.width}x{img.height} image")
            box = object_box(item.box, img.width, img.height, item.where)
            image, out_box, crop = crop_to_object(img, box, size)
            images.append(image)
            masks.append(crop_mask(soft, crop, size))
            boxes.append(out_box)
        return single_object_arrays(images, masks, boxes, [r.label for r in records], size)


@register_dataset("cub")
class CUB64(CUBSource):
    image_shape = (3, 64, 64)
    description = "CUB-200-2011 birds, FineGAN 1.5x box crop, 64x64, segmentation mask, box, species (Ch. 5 §5.4.2)"


@register_dataset("cub-128")
class CUB128(CUBSource):
    image_shape = (3, 128, 128)
    description = "CUB-200-2011 birds, FineGAN 1.5x box crop, 128x128, segmentation mask, box, species (Table 5.4)"
