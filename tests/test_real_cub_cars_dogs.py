"""The CUB, Stanford Cars and Stanford Dogs loaders (docs/protocols.md §2.2, thesis §5.4.2).

Each test writes a tiny dataset in the official on-disk format (text tables, .mat files
written with scipy.io.savemat in the devkits' struct layout, Pascal-VOC XML, JPEG images
with a solid red box on a blue background) and checks the FineGAN crop by hand: for a
100x60 image, the box (10, 20, 30, 30) gets the crop (5, 10, 35, 40), and the box (0, 0,
40, 20), touching the corner, gets the clamped crop (0, 0, 50, 40) whose centred square is
(5, 0, 45, 40); at 64x64 the boxes land at (10.67, 21.33, 53.33, 42.67) and (0, 0, 56, 32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from factorbench.data import get_dataset
from factorbench.data.real.imageio import box_mask
from factorbench.data.real.object_crop import object_crop
from factorbench.errors import FactorbenchError

RED, BLUE = (230, 40, 30), (20, 50, 210)
W, H = 100, 60
BOX_INSIDE = (10, 20, 30, 30)  # xyxy, exclusive x1/y1
BOX_CORNER = (0, 0, 40, 20)  # touches the top-left corner: the 1.5x crop is clamped
OUT_INSIDE = (5 * 64 / 30, 10 * 64 / 30, 25 * 64 / 30, 20 * 64 / 30)
OUT_CORNER = (0.0, 0.0, 56.0, 32.0)
PORTRAIT, BOX_PORTRAIT = (50, 80), (2, 30, 48, 50)  # 50x80 image, a wide box across it


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def write_jpeg(path: Path, size, box) -> None:
    """A blue image of ``size`` (w, h) with the xyxy ``box`` (clipped) filled red."""
    w, h = size
    arr = np.empty((h, w, 3), np.uint8)
    arr[:] = BLUE
    x0, y0, x1, y1 = (int(v) for v in box)
    arr[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = RED
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95, subsampling=0)  # 4:4:4: no chroma bleed


def assert_box_colours(image: np.ndarray, box) -> None:
    """Red well inside ``box`` (output pixels), blue well outside it."""
    size = image.shape[-1]
    margin = 2.5 * size / 64  # the resize kernel and JPEG ringing blur the edge by ~1.5 source pixels
    x0, y0, x1, y1 = box
    inner = box_mask((x0 + margin, y0 + margin, x1 - margin, y1 - margin), size).astype(bool)
    outer = ~box_mask((x0 - margin, y0 - margin, x1 + margin, y1 + margin), size).astype(bool)
    assert inner.sum() > 20 and outer.sum() > 20
    pixels = image.transpose(1, 2, 0).astype(int)
    assert np.abs(pixels[inner] - RED).max() <= 25
    assert np.abs(pixels[outer] - BLUE).max() <= 25


def test_object_crop_follows_finegan_and_clamps_by_shrinking():
    assert object_crop(BOX_INSIDE, W, H) == (5, 10, 35, 40)
    # raw crop (-10, -20, 50, 40) -> clamped (0, 0, 50, 40) -> centred 40x40 square
    assert object_crop(BOX_CORNER, W, H) == (5, 0, 45, 40)
    # portrait image: r = 34, centre (25, 40), raw (-9, 6, 59, 74) -> clamped (0, 6, 50, 74),
    # 50x68 -> centred 50x50 square
    assert object_crop(BOX_PORTRAIT, *PORTRAIT) == (0, 15, 50, 65)


# --------------------------------------------------------------------------- CUB


CUB_IMAGES = [  # (name, size, box xyxy, class id 1-based, is_train)
    ("002.Laysan_Albatross/Laysan_Albatross_0001_5.jpg", (W, H), BOX_INSIDE, 2, 1),
    ("001.Black_footed_Albatross/Black_Footed_Albatross_0002_7.jpg", (W, H), BOX_CORNER, 1, 1),
    ("005.Crested_Auklet/Crested_Auklet_0003_9.jpg", PORTRAIT, BOX_PORTRAIT, 5, 0),
]


def write_cub(root: Path) -> None:
    base = root / "CUB_200_2011"
    base.mkdir(parents=True)
    rows = {"images": [], "labels": [], "split": [], "boxes": []}
    for i, (name, size, box, label, train) in enumerate(CUB_IMAGES, 1):
        write_jpeg(base / "images" / name, size, box)
        x0, y0, x1, y1 = box
        rows["images"].append(f"{i} {name}")
        rows["labels"].append(f"{i} {label}")
        rows["split"].append(f"{i} {train}")
        rows["boxes"].append(f"{i} {x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}")
        # Soft segmentation: 255 on the left half of the box, 153 (0.6) on the right half,
        # 102 (0.4: a minority of annotators) on a band below the box, inside the crop.
        seg = np.zeros((size[1], size[0]), np.uint8)
        seg[y0:y1, x0:(x0 + x1) // 2] = 255
        seg[y0:y1, (x0 + x1) // 2:x1] = 153
        seg[y1 + 2:y1 + 8, x0:x1] = 102
        path = (root / "segmentations" / name).with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(seg).save(path)  # 2-D uint8: greyscale "L"
    for key, file in zip(rows, ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt")):
        (base / file).write_text("\n".join(rows[key]) + "\n")


def test_cub_crop_boxes_masks_labels(data_root):
    write_cub(data_root)
    ds = get_dataset("cub", "train")
    a = ds.arrays
    assert a["image"].shape == (2, 3, 64, 64) and a["mask"].shape == (2, 1, 64, 64)
    np.testing.assert_allclose(a["boxes"][:, 0], [OUT_INSIDE, OUT_CORNER], atol=1e-4)
    assert a["count"].tolist() == [1, 1]
    assert ds.labels("class").tolist() == [1, 0]
    for image, box in zip(a["image"], a["boxes"][:, 0]):
        assert_box_colours(image, box)
    for mask, box in zip(a["mask"][:, 0], a["boxes"][:, 0]):
        # the 0.6 half is foreground, the 0.4 band is not: the mask is the box
        expected = box_mask(box, 64)
        band = box_mask((box[0] + 3, box[3] + 6, box[2] - 3, box[3] + 10), 64).astype(bool)
        assert band.sum() > 30 and mask[band].max() == 0
        assert (mask != expected).mean() < 0.03
        assert mask.sum() > 0.9 * expected.sum()
    sample = ds[1]
    assert sample["boxes"].shape == (1, 4) and sample["labels"]["class"] == 0


def test_cub_splits_sizes_and_128(data_root):
    write_cub(data_root)
    test = get_dataset("cub", "test")
    assert len(test) == 1 and test.labels("class").tolist() == [4]
    # portrait 50x80: crop (0, 15, 50, 65), scale 64/50
    np.testing.assert_allclose(test.arrays["boxes"][0, 0], [2 * 1.28, 15 * 1.28, 48 * 1.28, 35 * 1.28], atol=1e-4)
    assert_box_colours(test.arrays["image"][0], test.arrays["boxes"][0, 0])
    everything = get_dataset("cub", "all")
    assert everything.labels("class").tolist() == [1, 0, 4]
    assert get_dataset("cub", "all", n=1).labels("class").tolist() == [1]
    big = get_dataset("cub-128", "train")
    assert big.arrays["image"].shape == (2, 3, 128, 128)
    np.testing.assert_allclose(big.arrays["boxes"][:, 0], 2 * np.array([OUT_INSIDE, OUT_CORNER]), atol=1e-4)
    assert_box_colours(big.arrays["image"][1], big.arrays["boxes"][1, 0])


def test_cub_missing_root_names_the_layout():
    layout = r"cub \(train\) not found.*CUB_200_2011/images.txt.*Expected layout.*segmentations"
    with pytest.raises(FactorbenchError, match=layout):
        get_dataset("cub", "train")


def test_cub_half_present_dataset_errors(data_root):
    write_cub(data_root)
    seg = data_root / "segmentations" / "001.Black_footed_Albatross" / "Black_Footed_Albatross_0002_7.png"
    seg.unlink()
    with pytest.raises(FactorbenchError, match=r"Black_Footed_Albatross_0002_7.png: missing"):
        get_dataset("cub", "train")
    boxes = data_root / "CUB_200_2011" / "bounding_boxes.txt"
    boxes.write_text("\n".join(boxes.read_text().splitlines()[:1]) + "\n")
    with pytest.raises(FactorbenchError, match=r"bounding_boxes.txt: no line for image 2"):
        get_dataset("cub", "test")
    (data_root / "CUB_200_2011" / "train_test_split.txt").unlink()
    with pytest.raises(FactorbenchError, match=r"missing CUB_200_2011/train_test_split.txt"):
        get_dataset("cub", "test")


def test_cub_corrupt_image_is_named(data_root):
    write_cub(data_root)
    bad = data_root / "CUB_200_2011" / "images" / CUB_IMAGES[0][0]
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(FactorbenchError, match=r"Laysan_Albatross_0001_5.jpg: not a readable image"):
        get_dataset("cub", "train")


# --------------------------------------------------------------------------- Stanford Cars


def struct_array(rows) -> np.ndarray:
    """A 1xN MATLAB struct array, the layout of the devkit's 'annotations'."""
    fields = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")
    out = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, (x1, y1, x2, y2, label, fname) in enumerate(rows):
        out[0, i] = tuple(np.array([[v]], np.uint16) for v in (x1, y1, x2, y2, label)) + (fname,)
    return out


# 1-based inclusive devkit boxes: (11, 21, 30, 30) is BOX_INSIDE, (1, 1, 40, 20) is BOX_CORNER.
CARS_TRAIN = [(11, 21, 30, 30, 3, "00001.jpg"), (1, 1, 40, 20, 1, "00002.jpg")]
CARS_TEST = [(61, 21, 150, 60, 196, "00001.jpg")]  # reaches past the right edge: clipped


def write_cars(root: Path, cell_layout: bool = False) -> Path:
    base = root / "stanford_cars"
    (base / "devkit").mkdir(parents=True)
    names = np.array([f"Car {i}" for i in range(1, 197)], dtype=object)[None]
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": names})
    for rows, mat, folder in ((CARS_TRAIN, base / "devkit" / "cars_train_annos.mat", "cars_train"),
                              (CARS_TEST, base / "cars_test_annos_withlabels.mat", "cars_test")):
        if cell_layout:  # a list of dicts: savemat writes a cell array of 1x1 structs
            keys = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")
            scipy.io.savemat(mat, {"annotations": [dict(zip(keys, r)) for r in rows]})
        else:
            scipy.io.savemat(mat, {"annotations": struct_array(rows)})
        for x1, y1, x2, y2, _, fname in rows:
            write_jpeg(base / folder / fname, (W, H), (x1 - 1, y1 - 1, x2, y2))
    return base


@pytest.mark.parametrize("cell_layout", [False, True])
def test_cars_boxes_are_converted_from_one_based(data_root, cell_layout):
    write_cars(data_root, cell_layout)
    ds = get_dataset("cars", "train")
    a = ds.arrays
    assert a["image"].shape == (2, 3, 64, 64)
    np.testing.assert_allclose(a["boxes"][:, 0], [OUT_INSIDE, OUT_CORNER], atol=1e-4)
    assert ds.labels("class").tolist() == [2, 0]
    assert a["count"].tolist() == [1, 1]
    for image, mask, box in zip(a["image"], a["mask"][:, 0], a["boxes"][:, 0]):
        assert_box_colours(image, box)
        np.testing.assert_array_equal(mask, box_mask(box, 64))


def test_cars_test_split_clips_and_128(data_root):
    write_cars(data_root)
    ds = get_dataset("cars-128", "test")
    # box (60, 20, 150, 60) clipped to (60, 20, 100, 60): r = 30, centre (80, 40),
    # crop (50, 10, 100, 60) clamped on the right -> 50x50, scale 128/50
    np.testing.assert_allclose(ds.arrays["boxes"][0, 0], [10 * 2.56, 10 * 2.56, 128, 128], atol=1e-4)
    assert ds.labels("class").tolist() == [195]
    assert ds.arrays["mask"][0, 0, -1, -1] == 1 and ds.arrays["mask"][0, 0, 0, 0] == 0
    assert_box_colours(ds.arrays["image"][0], ds.arrays["boxes"][0, 0])


def test_cars_errors(data_root):
    with pytest.raises(FactorbenchError, match=r"cars \(train\) not found.*devkit/cars_meta.mat.*Expected layout"):
        get_dataset("cars", "train")
    base = write_cars(data_root)
    (base / "cars_train" / "00002.jpg").unlink()
    with pytest.raises(FactorbenchError, match=r"cars_train/00002.jpg: missing \(named in .*cars_train_annos.mat\)"):
        get_dataset("cars", "train")
    bad_class = struct_array([(1, 1, 9, 9, 197, "00001.jpg")])
    scipy.io.savemat(base / "cars_test_annos_withlabels.mat", {"annotations": bad_class})
    with pytest.raises(FactorbenchError, match=r"class 197, outside 1..196"):
        get_dataset("cars", "test")
    (base / "cars_test_annos_withlabels.mat").write_bytes(b"garbage")
    with pytest.raises(FactorbenchError, match=r"cars_test_annos_withlabels.mat: not a readable MATLAB"):
        get_dataset("cars", "test")


# --------------------------------------------------------------------------- Stanford Dogs


def voc_xml(boxes, size=(W, H)) -> str:
    objects = "".join(
        f"<object><name>dog</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
        for a, b, c, d in boxes)
    return (f"<annotation><folder>02085620</folder><filename>x</filename><source><database>ImageNet database"
            f"</database></source><size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
            f"<segment>0</segment>{objects}</annotation>")


DOGS = {  # split -> [(relative path, 1-based label, VOC boxes (first one is used))]
    "train": [("n02085620-Chihuahua/n02085620_7.jpg", 1, [(11, 21, 30, 30), (60, 5, 90, 50)]),
              ("n02116738-African_hunting_dog/n02116738_9.jpg", 120, [(1, 1, 40, 20)])],
    "test": [("n02085782-Japanese_spaniel/n02085782_2.jpg", 2, [(1, 1, 40, 20)])],
}


def write_dogs(root: Path) -> Path:
    base = root / "stanford_dogs"
    for split, rows in DOGS.items():
        for rel, _, boxes in rows:
            x1, y1, x2, y2 = boxes[0]
            write_jpeg(base / "Images" / rel, (W, H), (x1 - 1, y1 - 1, x2, y2))
            ann = base / "Annotation" / rel[:-4]
            ann.parent.mkdir(parents=True, exist_ok=True)
            ann.write_text(voc_xml(boxes))
        files = np.array([rel for rel, _, _ in rows], dtype=object)[:, None]
        annotations = np.array([rel[:-4] for rel, _, _ in rows], dtype=object)[:, None]
        labels = np.array([[label] for _, label, _ in rows], dtype=np.uint8)
        scipy.io.savemat(base / f"{split}_list.mat",
                         {"file_list": files, "annotation_list": annotations, "labels": labels})
    return base


def test_dogs_first_box_and_labels(data_root):
    write_dogs(data_root)
    ds = get_dataset("dogs", "train")
    a = ds.arrays
    assert a["image"].shape == (2, 3, 64, 64) and a["boxes"].shape == (2, 1, 4)
    np.testing.assert_allclose(a["boxes"][:, 0], [OUT_INSIDE, OUT_CORNER], atol=1e-4)
    assert a["count"].tolist() == [1, 1]  # the second dog of the first image is dropped
    assert ds.labels("class").tolist() == [0, 119]
    for image, mask, box in zip(a["image"], a["mask"][:, 0], a["boxes"][:, 0]):
        assert_box_colours(image, box)
        np.testing.assert_array_equal(mask, box_mask(box, 64))
    test = get_dataset("dogs-128", "test")
    assert test.labels("class").tolist() == [1]
    np.testing.assert_allclose(test.arrays["boxes"][0, 0], 2 * np.array(OUT_CORNER), atol=1e-4)


def test_dogs_errors(data_root):
    with pytest.raises(FactorbenchError, match=r"dogs \(test\) not found.*test_list.mat.*Expected layout.*Annotation"):
        get_dataset("dogs", "test")
    base = write_dogs(data_root)
    (base / "Annotation" / "n02085782-Japanese_spaniel" / "n02085782_2").unlink()
    with pytest.raises(FactorbenchError, match=r"n02085782_2: missing annotation"):
        get_dataset("dogs", "test")
    (base / "Annotation" / "n02085620-Chihuahua" / "n02085620_7").write_text("<annotation><object>")
    with pytest.raises(FactorbenchError, match=r"n02085620_7: not a readable Pascal-VOC XML"):
        get_dataset("dogs", "train")
    (base / "Annotation" / "n02085620-Chihuahua" / "n02085620_7").write_text("<annotation><object/></annotation>")
    with pytest.raises(FactorbenchError, match=r"n02085620_7: first <object> has no <bndbox>"):
        get_dataset("dogs", "train")
    (base / "Images" / DOGS["train"][1][0]).unlink()
    scipy.io.savemat(base / "train_list.mat", {"file_list": np.array([[DOGS["train"][1][0]]], dtype=object),
                                               "labels": np.array([[120]])})
    with pytest.raises(FactorbenchError, match=r"n02116738_9.jpg: missing \(listed in .*train_list.mat\)"):
        get_dataset("dogs", "train")


# --------------------------------------------------------------------------- FID's direct mode
def two_pass_uint8_bicubic(patch: np.ndarray, size: int) -> np.ndarray:
    """PIL's uint8 bicubic resize by hand: a horizontal then a vertical pass, each in float
    and rounded half up to uint8 (what the stored dataset images went through)."""
    def f_resize(arr, w, h):
        return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., c]), mode="F").resize((w, h),
                                    Image.BICUBIC)) for c in range(3)], -1)
    wide = np.clip(np.floor(f_resize(patch.astype(np.float32), size, patch.shape[0]) + 0.5), 0, 255)
    return np.clip(np.floor(f_resize(wide.astype(np.float32), size, size) + 0.5), 0, 255).astype(np.uint8)


def test_cub_direct_pixels_are_the_source_crop_resized_in_float(data_root, monkeypatch):
    """The stored images were rounded twice (PIL's two passes); the direct-mode pixels are the
    same bicubic resize of the decoded JPEG crop in float, unrounded, and they are what
    reaches the Inception in direct mode."""
    from factorbench.data import DATASETS
    from factorbench.metrics import fid
    from factorbench.metrics.image_sources import images_of_dataset

    write_cub(data_root)
    ds = get_dataset("cub", "train")
    name = CUB_IMAGES[0][0]
    patch = np.asarray(Image.open(data_root / "CUB_200_2011" / "images" / name).convert("RGB"))[10:40, 5:35]
    expected = np.clip(np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(patch[..., c].astype(np.float32)),
                                                            mode="F").resize((64, 64), Image.BICUBIC)) for c in range(3)]), 0, 255)
    floats = DATASETS.get("cub").float_images("train").batch(0, 2, 64)
    assert floats.dtype == np.float32 and floats.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(floats[0], expected)
    assert (floats != np.round(floats)).any()  # not rounded
    np.testing.assert_array_equal(ds.arrays["image"][0].transpose(1, 2, 0), two_pass_uint8_bicubic(patch, 64))
    assert 0 < np.abs(floats - ds.arrays["image"]).max() <= 1.5

    images = images_of_dataset(ds)
    assert fid.quantisation_steps("direct", images, 64) == ["source JPEG decoded to uint8"]
    assert fid.quantisation_steps("saved", images, 64)[1].startswith("FineGAN crop resized to 64x64 by PIL bicubic on uint8")
    assert "in float" in fid.resize_to_eval_steps("direct", images, 64)
    seen = []

    def extractor(x):
        seen.append(x)
        return (x.flatten(1)[:, :8].double().float(),)

    monkeypatch.setattr(fid, "get_extractor", lambda device: extractor)
    fid.extract_features(images, "direct", 64)
    np.testing.assert_array_equal(seen[0].numpy(), floats)
    fid.extract_features(images, "direct", 32)  # another evaluation size: one float resize from the source
    np.testing.assert_array_equal(seen[1].numpy(), DATASETS.get("cub").float_images("train").batch(0, 2, 32))
    assert fid.stats_cache_path(images.source, "direct", 64, 2, True) != fid.stats_cache_path(images.source, "direct", 64, 2)


def test_cars_and_dogs_direct_pixels_follow_the_stored_crop(data_root):
    from factorbench.data import DATASETS

    write_cars(data_root)
    write_dogs(data_root)
    for name in ("cars", "dogs-128"):
        ds = get_dataset(name, "train")
        floats = DATASETS.get(name).float_images("train", len(ds)).batch(0, len(ds), ds.image_shape[-1])
        assert floats.shape == ds.arrays["image"].shape and floats.dtype == np.float32
        assert np.abs(floats - ds.arrays["image"]).max() <= 1.5


def test_a_converted_dataset_has_no_source_floats_and_says_so(data_root):
    from factorbench.data.convert import convert_dataset
    from factorbench.metrics.image_sources import images_of_dataset

    write_cub(data_root)
    images = images_of_dataset(convert_dataset(get_dataset("cub", "train"), (3, 32, 32)))
    assert images.float_pixels is None and images.stored_steps[-1].startswith("converted from 3x64x64 to 3x32x32")


def test_training_on_all_of_cub(data_root, tmp_path):
    """§5.4.2 trains on "the whole dataset of CUB": the split "all" reaches the trainer and its config."""
    import json

    from factorbench.train import TrainConfig, TrainRun, train

    write_cub(data_root)
    run = TrainRun("vae", {"latent_dim": 2, "base_channels": 4}, "cub", tmp_path / "run", dataset_split="all",
                   train=TrainConfig(epochs=1, batch_size=3))
    train(run, progress=False)  # 3 images: only "all" has a batch of 3 (train has 2)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["dataset"]["split"] == "all"
