"""``celeba``: CelebA aligned faces, 3x64x64, all 40 attributes (thesis §3.5, §4, §5; docs/protocols.md §2.2).

Layout: ``<root>/celeba/{img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt}``
(the official "Align&Cropped" JPEGs, 178x218, and the two official annotation files; the
layout torchvision's ``CelebA`` reads). That class is not used: with ``download=False`` it
still checks the md5 of five annotation files, three of which (identities, boxes,
landmarks) this loader does not need, so it would refuse data that lacks them and any file
not byte-identical to the release. This module reads the two files it needs itself, in their
official format, and checks their structure instead of md5s:

- ``list_attr_celeba.txt``: line 1 the number of images, line 2 the 40 attribute names,
  then ``<file>.jpg`` and 40 values in {1, -1} per line (runs of spaces separate fields).
- ``list_eval_partition.txt``: ``<file>.jpg <0|1|2>`` per line.

Split: the official partition, ``train`` = 0 (162,770 images), ``val`` = 1 (19,867),
``test`` = 2 (19,962), each in the order of ``list_eval_partition.txt``; ``n`` takes the
first ``n`` of the split.

Crop/resize: the thesis (§3.5) says only "we also rescale the images to 64x64 and crop the
centre part", next to a comparison with DCGAN (Radford et al. 2015, whose discriminator it
uses). We use the DCGAN-style 64x64 CelebA of the widely used DCGAN implementation
(carpedm20/DCGAN-tensorflow: ``--input_height 108 --crop``): the centred 108x108 square of
the 178x218 aligned image, i.e. pixels x 35..142, y 55..162 (box (35, 55, 143, 163)),
resized to 64x64 with PIL's bicubic filter (antialiased when downscaling). It keeps the
face from forehead to chin and drops most hair and background (the other common choice,
a 148 crop as in many VAE papers, keeps more hair; the thesis does not give the size). An
image that is not 178x218 is an error naming the file, as the crop is defined on that size.

Labels: the 40 attributes, named as in ``list_attr_celeba.txt`` lower-cased
(``label_5_o_clock_shadow``, ..., ``label_young``), value 1 -> 1 and -1 -> 0; count = 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ...errors import FactorbenchError
from ..registry import register_dataset
from ..sample import ArrayDict
from .base import RealSource
from .imageio import center_square, open_rgb, resize, to_chw

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
PARTITION = {"train": 0, "val": 1, "test": 2}
IMAGES = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
ALIGNED_SIZE = (178, 218)  # (width, height) of every aligned image
CROP = 108  # DCGAN's centre crop
SIZE = 64


def read_partition(path: Path) -> List[Tuple[str, int]]:
    """(file name, partition 0/1/2) per line of ``list_eval_partition.txt``, in file order."""
    rows = []
    for i, line in enumerate(_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise FactorbenchError(f"{path}: line {i} is not '<file>.jpg <0|1|2>': {line.strip()!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


def read_attributes(path: Path) -> Dict[str, np.ndarray]:
    """file name -> int64 (40,) attributes in {0, 1} from ``list_attr_celeba.txt``."""
    lines = _lines(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise FactorbenchError(f"{path}: expected the image count on line 1 and the attribute names on line 2")
    names = tuple(lines[1].split())
    if names != ATTRIBUTES:
        raise FactorbenchError(f"{path}: line 2 does not list CelebA's 40 attributes: {' '.join(names)[:120]}")
    rows = [line for line in lines[2:] if line.strip()]
    if int(lines[0]) != len(rows):
        raise FactorbenchError(f"{path}: line 1 says {int(lines[0])} images but {len(rows)} rows follow")
    table = {}
    for i, line in enumerate(rows, 3):
        parts = line.split()
        values = parts[1:]
        if len(values) != len(ATTRIBUTES) or any(v not in ("1", "-1") for v in values):
            raise FactorbenchError(f"{path}: line {i} is not '<file>.jpg' and 40 values in {{1, -1}}")
        table[parts[0]] = (np.array(values, dtype=np.int64) + 1) // 2
    return table


def _lines(path: Path) -> List[str]:
    try:
        return path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FactorbenchError(f"{path}: not a readable CelebA annotation file ({exc})") from None


def crop_face(path: Path) -> np.ndarray:
    """An aligned 178x218 JPEG -> uint8 (3, 64, 64): centre 108x108 crop, bicubic resize."""
    img = open_rgb(path)
    if img.size != ALIGNED_SIZE:
        w, h = img.size
        raise FactorbenchError(f"{path}: expected an aligned CelebA image of 178x218, found {w}x{h}")
    return to_chw(resize(center_square(img, CROP), SIZE))


@register_dataset("celeba")
class CelebASource(RealSource):
    version = 1
    subdir = "celeba"
    image_shape = (3, SIZE, SIZE)
    description = "CelebA aligned faces, centre 108x108 crop -> 3x64x64, 40 binary attributes (thesis §3.5)"
    fields = ("image", "count", "labels")
    labels = tuple(a.lower() for a in ATTRIBUTES)
    layout = f"{IMAGES}/*.jpg, {ATTR_FILE}, {PARTITION_FILE} (official Align&Cropped images and annotations)"
    source_url = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
    splits = ("train", "val", "test")

    def required(self, split: str) -> List[str]:
        return [IMAGES, ATTR_FILE, PARTITION_FILE]

    def read(self, folder: Path, split: str, n: Optional[int]) -> ArrayDict:
        wanted = [name for name, part in read_partition(folder / PARTITION_FILE) if part == PARTITION[split]][:n]
        attributes = read_attributes(folder / ATTR_FILE)
        images = np.empty((len(wanted), 3, SIZE, SIZE), dtype=np.uint8)
        labels = np.empty((len(wanted), len(ATTRIBUTES)), dtype=np.int64)
        for i, name in enumerate(wanted):
            path = folder / IMAGES / name
            if name not in attributes:
                raise FactorbenchError(f"{folder / ATTR_FILE}: no attributes for {name} (listed in {PARTITION_FILE})")
            if not path.is_file():
                raise FactorbenchError(f"{path}: image listed in {PARTITION_FILE} is missing")
            images[i] = crop_face(path)
            labels[i] = attributes[name]
        arrays = {"image": images, "count": np.ones(len(wanted), dtype=np.int64)}
        arrays.update({f"label_{a.lower()}": labels[:, j] for j, a in enumerate(ATTRIBUTES)})
        return arrays
