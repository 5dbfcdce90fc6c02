"""The embedded synthetic datasets (docs/protocols.md §2.1) and their preview grids.

Every registered synthetic dataset is checked against the sample contract (boxes are
recomputed from the masks independently of the generators' helper), for determinism and
for its cache. Dataset-specific tests check the split rules (shapes-fb's held-out colours,
multi-digits' disjoint source pools), occlusion order, labels against pixels, and SPAIR's
overlap rule of multi-digits, which is checked at the 84x84 composition scale on the
placements the generator actually used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from factorbench.data import DATASETS, dataset_names, get_dataset
from factorbench.data.synthetic import multi_digits, shapes2d_rgb, shapes_fb
from factorbench.data.synthetic.digit_source import digit_pool
from factorbench.data.synthetic.raster import boxes_from_masks

N = 32
SYNTHETIC = [name for name in dataset_names() if DATASETS.get(name).kind == "synthetic"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path))
    return tmp_path


def reference_box(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def erode(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1)
    return m & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def object_masks(arrays) -> np.ndarray:
    """(N, K, H, W) per-object masks; the single ``mask`` as K = 1 when there are no ``masks``."""
    return arrays["masks"] if "masks" in arrays else arrays["mask"]


def test_all_synthetic_datasets_are_registered():
    expected = {"shapes-fb", "shapes-fb-black", "multi-dsprites", "multi-digits", "multi-digits-5",
                "shapes2d-rgb", "digits-rgb"}
    assert expected <= set(SYNTHETIC)


# --------------------------------------------------------------------------- contract, every dataset


@pytest.mark.parametrize("name", SYNTHETIC)
def test_contract(name):
    src = DATASETS.get(name)
    info = src.describe()
    ds = get_dataset(name, "train", n=N, seed=0)
    a = ds.arrays
    assert len(ds) == N
    assert list(ds.image_shape) == info["image_shape"]
    images = ds.images()
    assert images.dtype == torch.float32 and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert float(images.max()) > float(images.min())  # not a blank split
    for field in info["fields"]:
        if field == "labels":
            assert sorted(ds.label_names) == sorted(info["labels"])
        else:
            assert field in a, field
    count = a["count"]
    assert count.min() >= 1

    for key in ("mask", "masks"):
        if key in a:
            assert set(np.unique(a[key])) <= {0, 1}, key
    if "masks" in a:
        k = np.arange(a["masks"].shape[1])
        present = k[None, :] < count[:, None]
        area = a["masks"].reshape(N, len(k), -1).sum(axis=2)
        assert (area[present] > 0).all(), "a counted object has an empty mask"
        assert (area[~present] == 0).all(), "padding masks must be empty"
    if "mask" in a and "masks" in a:
        np.testing.assert_array_equal(a["mask"][:, 0], a["masks"].max(axis=1))

    if "boxes" in a:
        masks = object_masks(a)
        boxes = a["boxes"]
        assert boxes.shape[:2] == masks.shape[:2]
        _, _, h, w = a["image"].shape
        for i in range(N):
            for j in range(boxes.shape[1]):
                if j < count[i]:
                    x0, y0, x1, y1 = boxes[i, j]
                    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
                    assert list(boxes[i, j]) == reference_box(masks[i, j]), (i, j)
                else:
                    assert (boxes[i, j] == 0).all()

    values = getattr(src, "label_values", {})
    for label in ds.label_names:
        v = ds.labels(label)
        assert v.dtype == np.int64
        if v.ndim == 1:
            assert (v >= 0).all()
        else:
            present = np.arange(v.shape[1])[None, :] < count[:, None]
            assert (v[present] >= 0).all() and (v[~present] == -1).all(), label
        if label in values:
            assert v.max() < len(values[label]), label

    sample = ds[0]
    c, h, w = info["image_shape"]
    assert tuple(sample["image"].shape) == (c, h, w) and sample["count"] == int(count[0])
    if "masks" in a:
        assert tuple(sample["masks"].shape) == (int(count[0]), h, w)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_deterministic_and_seeded(name, cache_dir, monkeypatch):
    src = DATASETS.get(name)
    calls = []
    real = src.generate
    monkeypatch.setattr(src, "generate", lambda *args: calls.append(args[0]) or real(*args))
    first = get_dataset(name, "train", n=N, seed=0).arrays
    shutil.rmtree(cache_dir / "datasets")
    assert not src.is_cached("train", N, 0)
    again = get_dataset(name, "train", n=N, seed=0).arrays
    assert len(calls) == 2, "the second load must regenerate, not read a cache"
    assert sorted(first) == sorted(again)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    other = get_dataset(name, "train", n=N, seed=1).arrays
    assert not np.array_equal(first["image"], other["image"])
    test = get_dataset(name, "test", n=N, seed=0).arrays
    assert not np.array_equal(first["image"], test["image"])


@pytest.mark.parametrize("name", SYNTHETIC)
def test_second_load_reads_cache(name, monkeypatch):
    src = DATASETS.get(name)
    ds = get_dataset(name, "test", n=N, seed=3)
    assert Path(ds.info["cache"]).exists() and Path(ds.info["cache"]) == src.cache_path("test", N, 3)

    def boom(*args):
        raise AssertionError("generate called although the split is cached")

    monkeypatch.setattr(src, "generate", boom)
    again = get_dataset(name, "test", n=N, seed=3)
    np.testing.assert_array_equal(ds.arrays["image"], again.arrays["image"])


def test_boxes_from_masks_edges():
    m = np.zeros((3, 64, 64), dtype=np.uint8)
    m[0, 5, 3] = 1  # one pixel at x=3, y=5
    m[1, 60:, 62:] = 1  # touching the bottom-right border
    boxes = boxes_from_masks(m)
    np.testing.assert_array_equal(boxes, [[3, 5, 4, 6], [62, 60, 64, 64], [0, 0, 0, 0]])


# --------------------------------------------------------------------------- shapes-fb


@pytest.mark.parametrize("name", ["shapes-fb", "shapes-fb-black"])
def test_shapes_fb_held_out_colours(name):
    src = DATASETS.get(name)
    train = get_dataset(name, "train", n=400, seed=0)
    test = get_dataset(name, "test", n=200, seed=0)
    n_colours = len(src.fg_colour_names)
    for shape in range(len(shapes_fb.SHAPE_NAMES)):
        held = shapes_fb.HELD_OUT_FG[shape]
        tr = train.labels("fg_colour")[train.labels("shape") == shape]
        te = test.labels("fg_colour")[test.labels("shape") == shape]
        assert len(tr) == 100 and len(te) == 50  # shapes balanced
        assert set(tr.tolist()) == set(range(n_colours)) - {held}
        assert set(te.tolist()) == {held}
    # every object colour is seen in training (on some shape)
    assert set(train.labels("fg_colour").tolist()) == set(range(n_colours))


@pytest.mark.parametrize("name", ["shapes-fb", "shapes-fb-black"])
def test_shapes_fb_pixels_match_labels(name):
    src = DATASETS.get(name)
    ds = get_dataset(name, "train", n=N, seed=0)
    a = ds.arrays
    for i in range(N):
        fg = np.array(shapes_fb.COLOURS_RGB[src.fg_colour_names[a["label_fg_colour"][i]]])
        bg = np.array(shapes_fb.COLOURS_RGB[shapes_fb.BG_COLOUR_NAMES[a["label_bg_colour"][i]]])
        assert not np.array_equal(fg, bg)
        m = a["mask"][i, 0].astype(bool)
        inside = a["image"][i][:, erode(m)].T
        outside = a["image"][i][:, erode(erode(~m))].T  # the anti-aliased fringe can reach 1 px past the mask
        assert (inside == fg).all() and (outside == bg).all(), i
        ys, xs = np.nonzero(m)  # object near the centre
        assert abs(xs.mean() - 32) < 8 and abs(ys.mean() - 32) < 8
    if name == "shapes-fb-black":
        assert "black" in src.fg_colour_names and "dark green" not in src.fg_colour_names


# --------------------------------------------------------------------------- occlusion


@pytest.mark.parametrize("name", ["multi-dsprites", "shapes2d-rgb"])
def test_visible_masks_are_disjoint_and_uniform(name):
    """Visible masks never overlap, and each shows one colour (it would not if the occlusion order were wrong)."""
    a = get_dataset(name, "train", n=N, seed=0).arrays
    assert a["masks"].sum(axis=1).max() <= 1
    for i in range(N):
        for k in range(a["count"][i]):
            interior = erode(a["masks"][i, k].astype(bool))
            if interior.sum() < 4:
                continue
            _, counts = np.unique(a["image"][i][:, interior].T, axis=0, return_counts=True)
            assert counts.max() / counts.sum() > 0.9, (i, k)


def test_shapes2d_colours_match_labels():
    a = get_dataset("shapes2d-rgb", "train", n=N, seed=0).arrays
    for i in range(N):
        bg = np.round(shapes2d_rgb.BG_RGB[a["label_bg_colour"][i]] * 255)
        background = erode(erode(~a["mask"][i, 0].astype(bool)))  # past the anti-aliased fringe
        assert (a["image"][i][:, background].T == bg).all()
        for k in range(a["count"][i]):
            colour = a["label_colour"][i, k]
            assert shapes2d_rgb.COLOUR_NAMES[colour] != shapes2d_rgb.BG_NAMES[a["label_bg_colour"][i]]
            interior = erode(a["masks"][i, k].astype(bool))
            px = a["image"][i][:, interior].T
            match = (px == np.round(shapes2d_rgb.COLOUR_RGB[colour] * 255)).all(axis=1)
            assert match.mean() > 0.9, (i, k)


# --------------------------------------------------------------------------- multi-digits


def test_digit_source_pools_disjoint():
    train, _ = digit_pool("train")
    test, _ = digit_pool("test")
    seen = {img.tobytes() for img in train}
    assert len(test) > 0 and not any(img.tobytes() in seen for img in test)


def test_multi_digits_uses_its_split_pool(monkeypatch):
    asked = []
    monkeypatch.setattr(multi_digits, "digit_pool", lambda split: asked.append(split) or digit_pool(split))
    DATASETS.get("multi-digits").generate("test", 4, np.random.default_rng(0))
    DATASETS.get("multi-digits").generate("train", 4, np.random.default_rng(0))
    assert asked == ["test", "train"]


@pytest.mark.parametrize("name, counts", [("multi-digits", {1, 2, 3, 4, 5}), ("multi-digits-5", {5})])
def test_multi_digits_counts_and_sum(name, counts):
    ds = get_dataset(name, "train", n=200, seed=0)
    count = ds.arrays["count"]
    assert set(count.tolist()) == counts
    digits = ds.labels("digit")
    assert (digits.max(axis=1) <= 9).all()
    np.testing.assert_array_equal(ds.labels("sum"), np.where(digits >= 0, digits, 0).sum(axis=1))
    assert ds.arrays["image"].shape[1] == 1  # greyscale


def test_summed_overlaps_matches_pixel_count():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 65, size=(50, 5, 2))
    count = rng.integers(1, 6, size=50)
    got = multi_digits.summed_overlaps(pos, count)
    for i in range(50):
        painted = np.zeros((84, 84), dtype=np.int64)
        for k in range(count[i]):
            x, y = pos[i, k]
            box = np.zeros((84, 84), dtype=bool)
            box[y : y + 20, x : x + 20] = True
            assert got[i, k] == (painted * box).sum()
            painted += box


def test_multi_digits_overlap_rule(monkeypatch):
    """SPAIR's rule at 84-scale on the placements the generator used; boxes at 64 lie inside them."""
    used = []
    real = multi_digits.place_digits
    def spy(rng, count):
        used.append((real(rng, count), count))
        return used[-1][0]

    monkeypatch.setattr(multi_digits, "place_digits", spy)
    arrays = DATASETS.get("multi-digits-5").generate("train", 300, np.random.default_rng(1))
    pos, count = used[0]
    overlaps = multi_digits.summed_overlaps(pos, count)
    assert overlaps.max() <= multi_digits.MAX_SUMMED_OVERLAP == 200
    assert overlaps.max() > 0  # the rule allows some overlap; it is not a no-overlap rule
    s = 64 / 84
    x0, y0 = np.floor(pos[..., 0] * s) - 1, np.floor(pos[..., 1] * s) - 1
    x1, y1 = np.ceil((pos[..., 0] + 20) * s) + 1, np.ceil((pos[..., 1] + 20) * s) + 1
    b = arrays["boxes"]
    assert (b[..., 0] >= x0).all() and (b[..., 1] >= y0).all() and (b[..., 2] <= x1).all() and (b[..., 3] <= y1).all()


def test_multi_digit_masks_are_lit_pixels():
    a = get_dataset("multi-digits", "train", n=N, seed=0).arrays
    union = a["masks"].max(axis=1).astype(bool)
    assert (a["image"][:, 0][union] > 0).all()  # every mask pixel is lit
    assert (a["image"][:, 0][~union] <= 1).all()  # nothing (visible) is lit outside the masks


# --------------------------------------------------------------------------- preview


def expected_grid_size(h, w, n, cols, scale):
    from factorbench.figures import preview

    rows = -(-n // cols)
    return (cols * (w * scale + preview.PAD) + preview.PAD,
            rows * (h * scale + preview.CAPTION_PX + preview.PAD) + preview.PAD)


def test_preview_grid_masks_dataset(tmp_path):
    from factorbench.data.preview import preview_grid
    from factorbench.figures.preview import OBJECT_COLOURS, PAD

    ds = get_dataset("multi-dsprites", "train", n=12, seed=0)
    out = preview_grid(ds, n=10, out_path=tmp_path / "grid.png", cols=4, scale=2)
    assert out == tmp_path / "grid.png"
    img = Image.open(out).convert("RGB")
    assert img.size == expected_grid_size(64, 64, 10, 4, 2)
    # the last object's box is drawn last: its top-left corner has that object's colour
    k = int(ds.arrays["count"][0]) - 1
    x0, y0 = ds.arrays["boxes"][0, k, :2].astype(int)
    assert img.getpixel((PAD + 2 * x0, PAD + 2 * y0)) == OBJECT_COLOURS[k]


def test_preview_grid_greyscale(tmp_path):
    from factorbench.data.preview import preview_grid
    from factorbench.figures.style import PAD

    ds = get_dataset("multi-digits", "train", n=5, seed=0)
    out = preview_grid(ds, n=5, out_path=tmp_path / "sub" / "digits.png", cols=8, scale=3)
    img = Image.open(out).convert("RGB")
    assert img.size == expected_grid_size(64, 64, 5, 5, 3)
    pixels = np.asarray(img)[PAD : PAD + 192, PAD : PAD + 192]
    blank = ds.arrays["image"][0, 0] == 0
    for x0, y0, x1, y1 in ds.arrays["boxes"][0].astype(int):
        blank[y0:y1, x0:x1] = False  # box outlines are drawn there
    assert blank.sum() > 1000
    ys, xs = np.nonzero(blank)
    assert (pixels[3 * ys, 3 * xs] == 0).all()  # black canvas stays black where nothing is drawn
