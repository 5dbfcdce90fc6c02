"""CLEVR and COCO loaders on tiny trees written in the official on-disk formats (docs/protocols.md §2.2)."""

import json

import numpy as np
import pytest
from PIL import Image

from factorbench.data.real.coco import COCO_CATEGORY_IDS, fill_polygon, rle_mask, rle_string_counts
from factorbench.data.real.imageio import box_mask
from factorbench.data.registry import get_dataset
from factorbench.errors import FactorbenchError

RED, BLUE, GREEN = (200, 20, 20), (20, 20, 200), (20, 200, 20)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


# --------------------------------------------------------------------------- CLEVR


def clevr_obj(shape, color, size, material, x, y):
    return {"shape": shape, "color": color, "size": size, "material": material,
            "3d_coords": [0.0, 0.0, 0.5], "rotation": 10.0, "pixel_coords": [x, y, 12.5]}


def write_rgba(path, left, right, margin=None):
    """480x320 RGBA: ``left`` colour for x < 240, ``right`` beyond, ``margin`` for x < 80; alpha 200."""
    arr = np.zeros((320, 480, 4), np.uint8)
    arr[:, :240, :3], arr[:, 240:, :3] = left, right
    if margin is not None:
        arr[:, :80, :3] = margin
    arr[..., 3] = 200
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGBA").save(path)


def write_mask(path, x0, y0, x1, y1):
    arr = np.zeros((320, 480), np.uint8)
    arr[y0:y1, x0:x1] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "L").save(path)


def make_clevr(root, masks=True):
    base = root / "CLEVR_v1.0"
    scenes = {
        "train": [  # listed out of order on purpose: the loader sorts by image_index
            {"image_index": 1, "image_filename": "CLEVR_train_000001.png", "split": "train", "objects": [
                clevr_obj("cylinder", "yellow", "large", "metal", 399, 319),  # inside, at the crop's corner
                clevr_obj("cube", "gray", "small", "rubber", 400, 10),  # just right of the crop
            ]},
            {"image_index": 0, "image_filename": "CLEVR_train_000000.png", "split": "train", "objects": [
                clevr_obj("cube", "red", "large", "rubber", 240, 160),
                clevr_obj("sphere", "blue", "small", "metal", 105, 20),
                clevr_obj("cylinder", "yellow", "small", "rubber", 30, 200),  # in the cropped-away margin
            ]},
        ],
        "val": [
            {"image_index": 0, "image_filename": "CLEVR_val_000000.png", "split": "val", "objects": [
                clevr_obj("sphere", "cyan", "large", "metal", 240, 160)]},
            {"image_index": 1, "image_filename": "CLEVR_val_000001.png", "split": "val", "objects": [
                clevr_obj("cube", "purple", "small", "rubber", 200, 100),
                clevr_obj("cylinder", "brown", "large", "rubber", 300, 250)]},
        ],
    }
    write_rgba(base / "images/train/CLEVR_train_000000.png", RED, BLUE, margin=GREEN)
    write_rgba(base / "images/train/CLEVR_train_000001.png", BLUE, BLUE)
    write_rgba(base / "images/val/CLEVR_val_000000.png", GREEN, GREEN)
    write_rgba(base / "images/val/CLEVR_val_000001.png", RED, RED)
    (base / "scenes").mkdir(parents=True)
    for split, sc in scenes.items():
        (base / f"scenes/CLEVR_{split}_scenes.json").write_text(json.dumps({"info": {"split": split}, "scenes": sc}))
    if masks:
        m = base / "masks/train"
        write_mask(m / "CLEVR_train_000000_0.png", 200, 120, 280, 200)  # -> (24, 24, 40, 40)
        write_mask(m / "CLEVR_train_000000_1.png", 60, 0, 130, 40)  # clipped by the crop -> (0, 0, 10, 8)
        write_mask(m / "CLEVR_train_000000_2.png", 0, 150, 60, 250)  # entirely in the margin -> dropped
        write_mask(m / "CLEVR_train_000001_0.png", 380, 300, 480, 320)  # -> (60, 60, 64, 64), bottom-right border
        write_mask(m / "CLEVR_train_000001_1.png", 400, 0, 480, 60)  # right of the crop -> dropped
    return base


def test_clevr_images_crop_count_and_labels(root):
    make_clevr(root, masks=False)
    ds = get_dataset("clevr", "train")
    a = ds.arrays
    assert a["image"].shape == (2, 3, 64, 64) and a["image"].dtype == np.uint8
    img = a["image"][0].astype(int)
    # Central 320x320 crop = source columns 80..399: red 80..239 -> output 0..31, blue beyond; no green margin.
    assert np.abs(img[:, :, :30] - np.array(RED)[:, None, None]).max() <= 2
    assert np.abs(img[:, :, 34:] - np.array(BLUE)[:, None, None]).max() <= 2
    assert img[1].max() < 60  # the green margin was cut away
    assert set(a) == {"image", "count", "label_shape", "label_colour", "label_material", "label_size"}
    assert a["count"].tolist() == [2, 1]
    assert a["label_shape"][0, :3].tolist() == [0, 1, -1]  # cube, sphere; cylinder (outside) dropped
    assert a["label_colour"][0, :3].tolist() == [1, 2, -1]  # red, blue
    assert a["label_size"][0, :3].tolist() == [0, 1, -1]  # large, small
    assert a["label_material"][0, :3].tolist() == [0, 1, -1]  # rubber, metal
    assert a["label_shape"][1, :2].tolist() == [2, -1] and a["label_colour"][1, 0] == 7  # yellow cylinder
    assert a["label_shape"].shape == (2, 10) and (a["label_shape"][:, 2:] == -1).all()
    test = get_dataset("clevr", "test").arrays
    assert test["count"].tolist() == [1, 2] and test["label_colour"][1, :2].tolist() == [5, 4]
    assert np.abs(test["image"][0].astype(int) - np.array(GREEN)[:, None, None]).max() <= 2
    assert len(get_dataset("clevr", "train", n=1).arrays["image"]) == 1


def test_clevr_masks_boxes_and_union(root):
    make_clevr(root)
    a = get_dataset("clevr-masks", "train").arrays
    assert a["masks"].shape == (2, 10, 64, 64) and a["boxes"].shape == (2, 10, 4)
    assert a["count"].tolist() == [2, 1]
    np.testing.assert_array_equal(a["boxes"][0, :2], [[24, 24, 40, 40], [0, 0, 10, 8]])
    np.testing.assert_array_equal(a["boxes"][1, 0], [60, 60, 64, 64])  # touches the bottom-right border
    assert (a["boxes"][0, 2:] == 0).all() and not a["masks"][0, 2:].any()
    np.testing.assert_array_equal(a["masks"][0, 0], box_mask((24, 24, 40, 40), 64))
    np.testing.assert_array_equal(a["masks"][0, 1], box_mask((0, 0, 10, 8), 64))
    np.testing.assert_array_equal(a["mask"][0, 0], a["masks"][0, 0] | a["masks"][0, 1])
    assert a["label_shape"][0, :3].tolist() == [0, 1, -1] and a["label_shape"][1, :2].tolist() == [2, -1]


def test_clevr_missing_and_half_present(root):
    with pytest.raises(FactorbenchError, match=r"dataset clevr \(train\) not found .*Expected layout: images/"):
        get_dataset("clevr", "train")
    base = make_clevr(root)
    with pytest.raises(FactorbenchError, match=r"clevr-masks \(test\) not found .*missing masks/val"):
        get_dataset("clevr-masks", "test")
    (base / "masks/train/CLEVR_train_000001_1.png").unlink()
    with pytest.raises(FactorbenchError, match=r"missing mask .*CLEVR_train_000001_1\.png for object 1 of 2"):
        get_dataset("clevr-masks", "train")
    (base / "images/val/CLEVR_val_000001.png").unlink()
    with pytest.raises(FactorbenchError, match=r"names image CLEVR_val_000001\.png, which is missing"):
        get_dataset("clevr", "test")
    (base / "scenes/CLEVR_train_scenes.json").unlink()
    with pytest.raises(FactorbenchError, match=r"missing scenes/CLEVR_train_scenes\.json"):
        get_dataset("clevr", "train")
    (base / "scenes/CLEVR_train_scenes.json").write_text("{not json")
    with pytest.raises(FactorbenchError, match=r"CLEVR_train_scenes\.json: not a readable CLEVR scenes file"):
        get_dataset("clevr", "train")


# --------------------------------------------------------------------------- COCO RLE


def encode_rle_string(counts):
    """Compressed COCO RLE, written from the format description (independent of the loader)."""
    chars = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        while True:
            group, x = x & 0x1F, x >> 5
            last = x == (-1 if group & 0x10 else 0)
            chars.append(chr(48 + group + (0 if last else 0x20)))
            if last:
                break
    return "".join(chars)


def mask_counts(mask):
    """Uncompressed RLE of a bool (H, W) mask: runs over column-major pixels, 0-run first."""
    flat = mask.T.ravel().astype(int)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return counts


def test_rle_decoding_by_hand():
    # 3 -> '3', 2 -> '2', 4 -> '4', then 1 stored as 1 - 2 = -1 -> group 31 -> 'O'; 100 = 4 + 3*32 -> 'T' '3'.
    assert rle_string_counts("324O") == [3, 2, 4, 1]
    assert rle_string_counts("T3") == [100]
    # Column-major: pixels 0-2 off, 3-4 on, 5-8 off, 9 on over a 2x5 image.
    expected = np.array([[0, 0, 1, 0, 0], [0, 1, 0, 0, 1]], bool)
    np.testing.assert_array_equal(rle_mask([3, 2, 4, 1], 2, 5), expected)
    rng = np.random.default_rng(0)
    for _ in range(20):
        counts = rng.integers(0, 3000, size=rng.integers(1, 12)).tolist()
        assert rle_string_counts(encode_rle_string(counts)) == counts
    with pytest.raises(ValueError):
        rle_mask([3, 2], 2, 5)  # does not cover the image


def test_polygon_fill_matches_point_in_polygon():
    """Pixel-centre sampling, even-odd rule: compared with a plain ray-casting test per pixel."""
    rng = np.random.default_rng(1)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = rng.uniform(3, 14, 9)  # a concave, star-like polygon, partly outside the 24x20 grid
    pts = np.stack([12 + radii * np.cos(angles), 9 + radii * np.sin(angles)], axis=1)
    expected = np.zeros((20, 24), bool)
    for r in range(20):
        for c in range(24):
            px, py, inside = c + 0.5, r + 0.5, False
            for (xi, yi), (xj, yj) in zip(pts, np.roll(pts, -1, axis=0)):
                if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
                    inside = not inside
            expected[r, c] = inside
    np.testing.assert_array_equal(fill_polygon(pts, 24, 20), expected)
    assert expected.any() and not expected.all()
    square = fill_polygon(np.array([[2, 3], [7, 3], [7, 5], [2, 5]], float), 10, 8)
    np.testing.assert_array_equal(np.argwhere(square)[[0, -1]], [[3, 2], [4, 6]])  # [2, 7) x [3, 5)


# --------------------------------------------------------------------------- COCO tree


def write_jpeg(path, width, height, colour, margin=None, margin_cols=0):
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:] = colour
    if margin is not None:
        arr[:, :margin_cols] = margin
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=100, subsampling=0)


def rect_poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def make_coco(root):
    base = root / "coco"
    # Image 9: 100x80 -> crop columns 10..89, scale 0.8. Green 10-column margin, blue elsewhere.
    write_jpeg(base / "train2017/000000000009.jpg", 100, 80, BLUE, margin=GREEN, margin_cols=10)
    write_jpeg(base / "train2017/000000000025.jpg", 64, 96, RED)  # portrait, no annotations
    write_jpeg(base / "train2017/000000000030.jpg", 64, 64, BLUE)  # 12 objects: only 10 kept
    write_jpeg(base / "val2017/000000000139.jpg", 64, 64, GREEN)
    crowd = np.zeros((80, 100), bool)
    crowd[70:80, 0:30] = True  # bottom-left corner, partly left of the crop
    small = np.zeros((80, 100), bool)
    small[5:15, 75:85] = True
    anns = [
        {"id": 1, "image_id": 9, "category_id": 1, "iscrowd": 0, "area": 1600.0, "bbox": [30, 20, 40, 40],
         "segmentation": rect_poly(30, 20, 70, 60)},
        {"id": 2, "image_id": 9, "category_id": 90, "iscrowd": 1, "area": 300.0, "bbox": [0, 70, 30, 10],
         "segmentation": {"size": [80, 100], "counts": mask_counts(crowd)}},
        {"id": 3, "image_id": 9, "category_id": 44, "iscrowd": 1, "area": 100.0, "bbox": [75, 5, 10, 10],
         "segmentation": {"size": [80, 100], "counts": encode_rle_string(mask_counts(small))}},
        {"id": 4, "image_id": 9, "category_id": 3, "iscrowd": 0, "area": 5000.0, "bbox": [92, 10, 7, 7],
         "segmentation": rect_poly(92, 10, 99, 17)},  # right of the crop: skipped although largest
    ]
    for j in range(12):  # image 30: 12 boxes of areas 4..48 px, one per row band
        x, y, w = 2 + 4 * j, 2 * j + 1, 2 + j // 3
        anns.append({"id": 100 + j, "image_id": 30, "category_id": 2, "iscrowd": 0, "area": float(2 * w),
                     "bbox": [x, y, w, 2], "segmentation": rect_poly(x, y, x + w, y + 2)})
    cats = [{"id": c, "name": f"c{c}", "supercategory": "x"} for c in COCO_CATEGORY_IDS]
    images = [{"id": 25, "file_name": "000000000025.jpg", "width": 64, "height": 96},
              {"id": 9, "file_name": "000000000009.jpg", "width": 100, "height": 80},
              {"id": 30, "file_name": "000000000030.jpg", "width": 64, "height": 64}]
    (base / "annotations").mkdir(parents=True)
    (base / "annotations/instances_train2017.json").write_text(
        json.dumps({"info": {}, "images": images, "annotations": anns, "categories": cats}))
    val = {"images": [{"id": 139, "file_name": "000000000139.jpg", "width": 64, "height": 64}],
           "annotations": [{"id": 7, "image_id": 139, "category_id": 90, "iscrowd": 0, "area": 64.0,
                            "bbox": [56, 56, 8, 8], "segmentation": rect_poly(56, 56, 64, 64)}],
           "categories": cats}
    (base / "annotations/instances_val2017.json").write_text(json.dumps(val))
    return base


def test_coco_boxes_masks_labels_counts(root):
    make_coco(root)
    a = get_dataset("coco", "train").arrays
    assert a["image"].shape == (3, 3, 64, 64) and a["masks"].shape == (3, 10, 64, 64)
    assert a["count"].tolist() == [3, 0, 10]  # sorted by image id: 9, 25, 30
    # Image 9: crop columns 10..89 (scale 0.8), largest area first, the out-of-crop object skipped.
    np.testing.assert_allclose(a["boxes"][0, :3], [[16, 16, 48, 48], [0, 56, 16, 64], [52, 4, 60, 12]])
    assert a["label_category"][0, :4].tolist() == [0, 79, 39, -1]  # ids 1, 90, 44 -> 0, 79, 39
    np.testing.assert_array_equal(a["masks"][0, 0], box_mask((16, 16, 48, 48), 64))  # polygon
    np.testing.assert_array_equal(a["masks"][0, 1], box_mask((0, 56, 16, 64), 64))  # uncompressed RLE, border
    np.testing.assert_array_equal(a["masks"][0, 2], box_mask((52, 4, 60, 12), 64))  # compressed RLE
    np.testing.assert_array_equal(a["mask"][0, 0], a["masks"][0, :3].max(axis=0))
    img = a["image"][0].astype(int)
    assert np.abs(img - np.array(BLUE)[:, None, None]).max() <= 12  # green margin cropped away
    # Image 25: no annotations -> count 0, empty masks, labels all -1; portrait crop of a solid red JPEG.
    assert not a["mask"][1].any() and not a["masks"][1].any() and (a["label_category"][1] == -1).all()
    assert np.abs(a["image"][1].astype(int) - np.array(RED)[:, None, None]).max() <= 12
    # Image 30: the 10 largest of 12 in decreasing area; the union mask covers all 12.
    widths = [(b[2] - b[0]) for b in a["boxes"][2]]
    assert widths == sorted(widths, reverse=True) and widths.count(2) == 1 and max(widths) == 5
    assert a["mask"][2].sum() == sum(2 * (2 + j // 3) for j in range(12)) > a["masks"][2].sum()
    val = get_dataset("coco", "test").arrays
    assert val["count"].tolist() == [1] and val["label_category"][0, 0] == 79
    np.testing.assert_array_equal(val["boxes"][0, 0], [56, 56, 64, 64])  # touches the bottom-right border
    np.testing.assert_array_equal(val["masks"][0, 0], box_mask((56, 56, 64, 64), 64))


def test_coco_missing_and_half_present(root):
    with pytest.raises(FactorbenchError, match=r"dataset coco \(train\) not found .*Expected layout: \{train2017"):
        get_dataset("coco", "train")
    base = make_coco(root)
    (base / "annotations/instances_val2017.json").unlink()
    with pytest.raises(FactorbenchError, match=r"coco \(test\) not found .*missing annotations/instances_val2017"):
        get_dataset("coco", "test")
    ann_path = base / "annotations/instances_train2017.json"
    data = json.loads(ann_path.read_text())
    (base / "train2017/000000000030.jpg").unlink()
    with pytest.raises(FactorbenchError, match=r"lists image 000000000030\.jpg, which is missing"):
        get_dataset("coco", "train")
    data["images"] = data["images"][:2]
    data["annotations"] = [ann for ann in data["annotations"] if ann["image_id"] != 30]
    data["annotations"][0]["segmentation"] = {"size": [80, 100], "counts": [5, 5]}
    ann_path.write_text(json.dumps(data))
    with pytest.raises(FactorbenchError, match=r"annotation 1 has an unreadable segmentation"):
        get_dataset("coco", "train", n=2)
    data["annotations"].append({"id": 99, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1],
                                "area": 1.0, "segmentation": rect_poly(0, 0, 1, 1)})
    ann_path.write_text(json.dumps(data))
    with pytest.raises(FactorbenchError, match=r"annotation 99 names image id 999"):
        get_dataset("coco", "train", n=1)
