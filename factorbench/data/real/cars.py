"""``cars`` / ``cars-128``: Stanford Cars with box masks (docs/protocols.md §2.2).

Thesis §5.4.2 (Tables 5.3/5.4): BFVAE+LSR-GAN against FineGAN/MixNMatch on "the training
set of Stanford cars" at 64x64 and 128x128. Cars have no segmentations: "For the Cars and
Dogs dataset, we use bounding box instead of masks", so ``mask`` is the box.

Layout, under ``<data root>/stanford_cars/`` (torchvision's ``StanfordCars`` layout)::

    devkit/cars_train_annos.mat          struct array 'annotations' (train)
    devkit/cars_meta.mat                 cell array 'class_names'
    cars_test_annos_withlabels.mat       struct array 'annotations' (test, with classes)
    cars_train/<fname>.jpg, cars_test/<fname>.jpg

Each annotation has fields bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname. The files
are read with ``scipy.io.loadmat`` without squeezing: the official 1xN struct array comes
back as a structured array whose leaves are 1x1 arrays; a cell array of 1x1 structs (what
``scipy.io.savemat`` writes for a list of dicts) is accepted too. torchvision's
``StanfordCars`` is not used because it drops the boxes.

Boxes: the devkit gives min/max pixel coordinates in MATLAB's 1-based, inclusive
convention, so the box is xyxy ``(x1 - 1, y1 - 1, x2, y2)`` with x1/y1 exclusive, clipped
to the image. Splits: the official train / test lists, in file order.

Crop: the same as ``cub`` (:func:`~factorbench.data.real.imageio.object_crop`, FineGAN's
1.5·max(w, h) box-centred square, clamped to the image, centred square of the shorter
side), resized to 64 or 128 (PIL bicubic); the box follows the crop and the mask is
:func:`~factorbench.data.real.imageio.box_mask` of the output box.
FID's ``direct`` mode reads ``float_images`` instead of the stored (rounded) crop: the same
crop of the decoded JPEG resized in float (:class:`~.object_crop.FloatObjects`).

Fields: image, mask (box mask), boxes (one box), count (1), labels ``class`` (model,
0-based; the devkit's are 1-based).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource
from .matfile import mat_value, read_mat
from .object_crop import ObjectItem, OneObjectSource, box_masked_object, single_object_arrays

META = "devkit/cars_meta.mat"
SPLIT_FILES = {  # split -> (annotations, image folder)
    "train": ("devkit/cars_train_annos.mat", "cars_train"),
    "test": ("cars_test_annos_withlabels.mat", "cars_test"),
}
FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")


def annotation_entries(annotations: np.ndarray) -> list:
    """The records of a loadmat'ed struct array (or of a cell array of 1x1 structs)."""
    if annotations.dtype.names:
        return list(annotations.reshape(-1))
    return [np.asarray(cell).reshape(-1)[0] for cell in annotations.reshape(-1)]


def read_annotations(path: Path, n_classes: int) -> List[Tuple[str, int, Tuple[float, float, float, float]]]:
    """(fname, 0-based class, xyxy box with exclusive x1/y1) for every annotation in ``path``."""
    rows = []
    for i, entry in enumerate(annotation_entries(read_mat(path, "annotations")["annotations"]), 1):
        try:
            x1, y1, x2, y2, label, fname = (mat_value(entry[field]) for field in FIELDS)
            box = (float(x1) - 1, float(y1) - 1, float(x2), float(y2))
            label = int(label)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise FactorbenchError(f"{path}: annotation {i} is not a struct with {', '.join(FIELDS)} ({exc})") from None
        if not 1 <= label <= n_classes:
            raise FactorbenchError(f"{path}: annotation {i} ({fname}) has class {label}, outside 1..{n_classes}")
        rows.append((str(fname), label - 1, box))
    return rows


class CarsSource(OneObjectSource, RealSource):
    version = 1
    subdir = "stanford_cars"
    fields = ("image", "mask", "boxes", "count", "labels")
    labels = ("class",)
    layout = ("stanford_cars/{devkit/cars_train_annos.mat, devkit/cars_meta.mat, cars_train/*.jpg, "
              "cars_test_annos_withlabels.mat, cars_test/*.jpg} (torchvision's StanfordCars layout)")
    source_url = ("https://ai.stanford.edu/~jkrause/cars/car_dataset.html (offline; mirrors are listed in "
                  "torchvision's StanfordCars documentation)")

    def required(self, split: str) -> List[str]:
        return [META, *SPLIT_FILES[split]]

    def rows(self, folder: Path, split: str, n: Optional[int]) -> List[Tuple[str, int, Tuple[float, float, float, float]]]:
        n_classes = np.asarray(read_mat(folder / META, "class_names")["class_names"]).size
        return read_annotations(folder / SPLIT_FILES[split][0], n_classes)[:n]

    def object_items(self, folder: Path, split: str, n: Optional[int]) -> List[ObjectItem]:
        annotations, image_dir = (folder / p for p in SPLIT_FILES[split])
        return [ObjectItem(image_dir / fname, box, f"{annotations} ({fname})") for fname, _, box in self.rows(folder, split, n)]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        size = self.image_shape[-1]
        annotations = folder / SPLIT_FILES[split][0]
        rows = self.rows(folder, split, n)
        images, masks, boxes = [], [], []
        for fname, _, box in rows:
            path = folder / SPLIT_FILES[split][1] / fname
            if not path.is_file():
                raise FactorbenchError(f"{path}: missing (named in {annotations})")
            image, mask, out_box = box_masked_object(path, box, size, f"{annotations} ({fname})")
            images.append(image)
            masks.append(mask)
            boxes.append(out_box)
        return single_object_arrays(images, masks, boxes, [label for _, label, _ in rows], size)


@register_dataset("cars")
class Cars64(CarsSource):
    image_shape = (3, 64, 64)
    description = "Stanford Cars, FineGAN 1.5x box crop, 64x64, box mask, box, model class (Ch. 5 §5.4.2)"


@register_dataset("cars-128")
class Cars128(CarsSource):
    image_shape = (3, 128, 128)
    description = "Stanford Cars, FineGAN 1.5x box crop, 128x128, box mask, box, model class (Table 5.4)"
