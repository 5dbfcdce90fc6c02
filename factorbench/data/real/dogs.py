"""``dogs`` / ``dogs-128``: Stanford Dogs with box masks (docs/protocols.md §2.2).

Thesis §5.4.2 (Tables 5.3/5.4): BFVAE+LSR-GAN against FineGAN/MixNMatch on "12000 images
from Stanford dogs (120 classes x 100 images)" -- exactly the official ``train`` list --
at 64x64 and 128x128. Dogs have no segmentations: "For the Cars and Dogs dataset, we use
bounding box instead of masks", so ``mask`` is the box.

Layout, under ``<data root>/stanford_dogs/`` (images.tar, annotation.tar, lists.tar)::

    train_list.mat, test_list.mat   'file_list' (<breed folder>/<file>.jpg), 'labels' (1-based)
    Images/<breed folder>/<file>.jpg
    Annotation/<breed folder>/<file>    Pascal-VOC XML without extension:
                                        <object><name/><bndbox><xmin/><ymin/><xmax/><ymax/>

Splits: the official train / test lists, in list order. The annotation of
``<breed>/<file>.jpg`` is ``Annotation/<breed>/<file>``.

Boxes: the annotations are ImageNet's, in Pascal VOC's 1-based, inclusive pixel
convention, so a box is xyxy ``(xmin - 1, ymin - 1, xmax, ymax)`` with x1/y1 exclusive,
clipped to the decoded image (a few annotations reach past their image; the XML's
<size> is ignored). An image with several dogs keeps the FIRST <object>'s box: BFVAE
needs one foreground per image, so ``count`` is 1 and the other dogs are background.

Crop: the same as ``cub`` (:func:`~factorbench.data.real.imageio.object_crop`, FineGAN's
1.5·max(w, h) box-centred square, clamped to the image, centred square of the shorter
side), resized to 64 or 128 (PIL bicubic); the box follows the crop and the mask is
:func:`~factorbench.data.real.imageio.box_mask` of the output box.
FID's ``direct`` mode reads ``float_images`` instead of the stored (rounded) crop: the same
crop of the decoded JPEG resized in float (:class:`~.object_crop.FloatObjects`).

Fields: image, mask (box mask), boxes (one box), count (1), labels ``class`` (breed,
0-based; the lists' are 1-based).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource
from .matfile import mat_value, read_mat
from .object_crop import ObjectItem, OneObjectSource, box_masked_object, single_object_arrays

CORNERS = ("xmin", "ymin", "xmax", "ymax")


def read_list(path: Path) -> List[Tuple[str, int]]:
    """(relative image path, 0-based class) for every entry of a train/test list."""
    data = read_mat(path, "file_list", "labels")
    try:
        files = [str(mat_value(cell)) for cell in data["file_list"].reshape(-1)]
        labels = [int(mat_value(v)) for v in np.asarray(data["labels"]).reshape(-1)]
    except (ValueError, TypeError) as exc:
        raise FactorbenchError(f"{path}: 'file_list' / 'labels' are not lists of names / integers ({exc})") from None
    if len(files) != len(labels):
        raise FactorbenchError(f"{path}: {len(files)} files but {len(labels)} labels")
    if labels and min(labels) < 1:
        raise FactorbenchError(f"{path}: labels must be 1-based, found {min(labels)}")
    return [(f, label - 1) for f, label in zip(files, labels)]


def read_first_box(path: Path) -> Tuple[float, float, float, float]:
    """The first object's box of a Pascal-VOC annotation, xyxy with exclusive x1/y1."""
    if not path.is_file():
        raise FactorbenchError(f"{path}: missing annotation")
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FactorbenchError(f"{path}: not a readable Pascal-VOC XML annotation ({exc})") from None
    first = root.find("object")
    try:
        xmin, ymin, xmax, ymax = (float(first.find("bndbox").findtext(corner)) for corner in CORNERS)
    except (AttributeError, TypeError, ValueError):
        raise FactorbenchError(f"{path}: first <object> has no <bndbox> with numeric {', '.join(CORNERS)}") from None
    return xmin - 1, ymin - 1, xmax, ymax


class DogsSource(OneObjectSource, RealSource):
    version = 1
    subdir = "stanford_dogs"
    fields = ("image", "mask", "boxes", "count", "labels")
    labels = ("class",)
    layout = ("stanford_dogs/{train_list.mat, test_list.mat, Images/<breed>/<file>.jpg, "
              "Annotation/<breed>/<file> (Pascal-VOC XML)}")
    source_url = "http://vision.stanford.edu/aditya86/ImageNetDogs/ (images.tar, annotation.tar, lists.tar)"

    def required(self, split: str) -> List[str]:
        return [f"{split}_list.mat", "Images", "Annotation"]

    def object_items(self, folder: Path, split: str, n: Optional[int]) -> List[ObjectItem]:
        items = []
        for rel, _ in read_list(folder / f"{split}_list.mat")[:n]:
            annotation = folder / "Annotation" / Path(rel).with_suffix("")
            items.append(ObjectItem(folder / "Images" / rel, read_first_box(annotation), str(annotation)))
        return items

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        size = self.image_shape[-1]
        entries = read_list(folder / f"{split}_list.mat")[:n]
        images, masks, boxes = [], [], []
        for rel, _ in entries:
            path = folder / "Images" / rel
            if not path.is_file():
                raise FactorbenchError(f"{path}: missing (listed in {folder / f'{split}_list.mat'})")
            annotation = folder / "Annotation" / Path(rel).with_suffix("")
            image, mask, out_box = box_masked_object(path, read_first_box(annotation), size, str(annotation))
            images.append(image)
            masks.append(mask)
            boxes.append(out_box)
        return single_object_arrays(images, masks, boxes, [label for _, label in entries], size)


@register_dataset("dogs")
class Dogs64(DogsSource):
    image_shape = (3, 64, 64)
    description = "Stanford Dogs, FineGAN 1.5x box crop, 64x64, box mask, first box, breed (Ch. 5 §5.4.2)"


@register_dataset("dogs-128")
class Dogs128(DogsSource):
    image_shape = (3, 128, 128)
    description = "Stanford Dogs, FineGAN 1.5x box crop, 128x128, box mask, first box, breed (Table 5.4)"
