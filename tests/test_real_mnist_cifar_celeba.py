"""MNIST, CIFAR-10, CelebA, downsampled ImageNet 64 and Multi-MNIST loaders (docs/protocols.md §2.2).

Each test writes a tiny tree in the dataset's official on-disk format (idx files, CIFAR
python pickles, CelebA JPEGs and annotation text files, ImageNet64 npz) and checks pixels,
labels, split rules and the one-line errors for missing or broken files.
"""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from factorbench.data.real import cifar, multi_mnist
from factorbench.data.real.celeba import ATTRIBUTES
from factorbench.data.registry import DATASETS, get_dataset
from factorbench.errors import FactorbenchError


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def one_line_error(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


# --------------------------------------------------------------------------- MNIST

MNIST_FILES = [f"{s}-{k}-ubyte" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format: 0, 0, type 0x08 (uint8), ndim, then each dimension as big-endian uint32."""
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def mnist_images(n: int, offset: int) -> np.ndarray:
    """Distinct, position-dependent patterns: image i is (x + 3y + 17i + offset) % 256."""
    y, x = np.mgrid[0:28, 0:28]
    return np.stack([(x + 3 * y + 17 * i + offset) % 256 for i in range(n)]).astype(np.uint8)


def write_mnist(root, train=None, test=None, files=MNIST_FILES, gz=False, raw=True):
    train = train or (mnist_images(5, 0), np.array([3, 1, 4, 1, 5], np.uint8))
    test = test or (mnist_images(3, 100), np.array([9, 2, 6], np.uint8))
    content = {
        "train-images-idx3-ubyte": idx_bytes(train[0]), "train-labels-idx1-ubyte": idx_bytes(train[1]),
        "t10k-images-idx3-ubyte": idx_bytes(test[0]), "t10k-labels-idx1-ubyte": idx_bytes(test[1]),
    }
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        if raw:
            (folder / name).write_bytes(content[name])
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content[name]))
    return train, test


def test_mnist_reads_both_splits_at_native_size(root):
    (train_x, train_y), (test_x, test_y) = write_mnist(root)
    train = get_dataset("mnist", "train")
    assert train.arrays["image"].shape == (5, 1, 28, 28) and train.arrays["image"].dtype == np.uint8
    np.testing.assert_array_equal(train.arrays["image"][:, 0], train_x)
    np.testing.assert_array_equal(train.arrays["label_digit"], [3, 1, 4, 1, 5])
    np.testing.assert_array_equal(train.arrays["count"], 1)
    test = get_dataset("mnist", "test", n=2)
    np.testing.assert_array_equal(test.arrays["image"][:, 0], test_x[:2])
    np.testing.assert_array_equal(test.labels("digit"), [9, 2])
    assert train[0]["labels"]["digit"] == 3 and train[0]["image"].shape == (1, 28, 28)


def test_mnist_incomplete_data_root_names_the_layout(root):
    """A data root's MNIST folder wins over the shipped copy, so an incomplete one is an error."""
    write_mnist(root, files=MNIST_FILES[1:])
    with pytest.raises(FactorbenchError, match=r"dataset mnist \(train\) not found under .*MNIST: missing "
                       r"raw/train-images-idx3-ubyte.*Expected layout: raw/\{train,t10k\}") as excinfo:
        get_dataset("mnist", "train")
    assert "shipped with factorbench" in one_line_error(excinfo)


@pytest.mark.parametrize("files,gz,raw", [
    (MNIST_FILES, False, True),  # complete, uncompressed
    (MNIST_FILES, True, False),  # .gz only, as downloaded
    (MNIST_FILES, True, True),  # both, as torchvision leaves them
    (MNIST_FILES[:2], False, True),  # train only: like torchvision, t10k is still wanted
    (MNIST_FILES[1:], True, False),  # train images missing
])
def test_mnist_reads_plain_or_gzip_idx_files(root, files, gz, raw):
    write_mnist(root, files=files, gz=gz, raw=raw)
    source = DATASETS.get("mnist")
    assert (not source.missing("train")) == (files == MNIST_FILES)
    if files == MNIST_FILES:
        np.testing.assert_array_equal(get_dataset("mnist", "train").labels("digit"), [3, 1, 4, 1, 5])
        np.testing.assert_array_equal(get_dataset("mnist", "test").arrays["image"][:, 0], mnist_images(3, 100))
    else:
        with pytest.raises(FactorbenchError, match=r"not found under .*missing raw/"):
            get_dataset("mnist", "test")


def test_mnist_prefers_the_uncompressed_file(root):
    write_mnist(root, gz=True, raw=False)
    write_mnist(root, train=(mnist_images(5, 0), np.array([9, 9, 9, 9, 9], np.uint8)), raw=True)
    np.testing.assert_array_equal(get_dataset("mnist", "train").labels("digit"), [9, 9, 9, 9, 9])


def test_mnist_accepts_torchvision_legacy_processed_files(root):
    processed = root / "MNIST" / "processed"
    processed.mkdir(parents=True)
    x = torch.from_numpy(mnist_images(2, 7))
    torch.save((x, torch.tensor([7, 8])), processed / "training.pt")
    torch.save((x[:1], torch.tensor([0])), processed / "test.pt")
    ds = get_dataset("mnist", "train")
    np.testing.assert_array_equal(ds.arrays["image"][:, 0], x.numpy())
    np.testing.assert_array_equal(ds.labels("digit"), [7, 8])


def test_mnist_broken_files_are_one_line_errors(root):
    write_mnist(root)
    path = root / "MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    with pytest.raises(FactorbenchError, match=r"train-images-idx3-ubyte: not a valid MNIST idx file") as excinfo:
        get_dataset("mnist", "train")
    one_line_error(excinfo)
    write_mnist(root, gz=True, raw=False)
    (root / "MNIST/raw/train-images-idx3-ubyte").unlink()
    gz = root / "MNIST/raw/train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-30])  # truncated gzip stream
    with pytest.raises(FactorbenchError, match=r"train-images-idx3-ubyte.gz: not a valid MNIST idx file") as excinfo:
        get_dataset("mnist", "train")
    one_line_error(excinfo)
    write_mnist(root)
    write_mnist(root, test=(mnist_images(3, 0), np.array([1, 2], np.uint8)))  # 2 labels for 3 images
    with pytest.raises(FactorbenchError, match=r"t10k-labels-idx1-ubyte: 2 labels for 3 images"):
        get_dataset("mnist", "test")


# --------------------------------------------------------------------------- CIFAR-10


def cifar_image(i: int) -> np.ndarray:
    """(3, 32, 32): red = x gradient, green = y gradient, blue = 40 * i (tells CHW from HWC)."""
    y, x = np.mgrid[0:32, 0:32]
    return np.stack([x * 8, y * 8, np.full((32, 32), 40 * i)]).astype(np.uint8)


def write_cifar_batch(path, images, labels, str_keys=False):
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    entry = {
        key("batch_label"): key("training batch"), key("labels"): [int(v) for v in labels],
        key("data"): np.stack([im.reshape(-1) for im in images]),  # (N, 3072) uint8, R then G then B planes
        key("filenames"): [key(f"img_{i}.png") for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(entry, protocol=2))


def write_cifar(root, names=cifar.CLASSES, skip=()):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(1, 6):  # two images per batch; batch 3 pickled with str keys
        if f"data_batch_{b}" not in skip:
            ims = [cifar_image(2 * (b - 1)), cifar_image(2 * (b - 1) + 1)]
            write_cifar_batch(folder / f"data_batch_{b}", ims, [2 * (b - 1), 2 * (b - 1) + 1], str_keys=b == 3)
    if "test_batch" not in skip:
        write_cifar_batch(folder / "test_batch", [cifar_image(5), cifar_image(6)], [9, 0])
    meta = {b"num_cases_per_batch": 2, b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_cifar10_reads_batches_in_order_chw(root):
    write_cifar(root)
    train = get_dataset("cifar10", "train")
    assert train.arrays["image"].shape == (10, 3, 32, 32)
    for i in range(10):
        np.testing.assert_array_equal(train.arrays["image"][i], cifar_image(i))
    np.testing.assert_array_equal(train.labels("class"), np.arange(10))
    first3 = get_dataset("cifar10", "train", n=3)  # spans batches 1 and 2
    np.testing.assert_array_equal(first3.arrays["image"], train.arrays["image"][:3])
    test = get_dataset("cifar10", "test")
    np.testing.assert_array_equal(test.labels("class"), [9, 0])
    np.testing.assert_array_equal(test.arrays["image"][1], cifar_image(6))
    assert DATASETS.get("cifar10").label_values["class"][9] == "truck"


def test_cifar10_torchvision_would_refuse_these_files(root):
    """Why the loader reads the pickles itself: torchvision checks the official md5s."""
    from torchvision.datasets import CIFAR10

    write_cifar(root)
    with pytest.raises(RuntimeError, match="corrupted"):
        CIFAR10(str(root), train=True, download=False)


def test_cifar10_missing_and_broken_files(root):
    with pytest.raises(FactorbenchError, match=r"dataset cifar10 \(train\) not found .*missing data_batch_1.*"
                       r"Expected layout: \{data_batch_1\.\.5, test_batch, batches\.meta\}") as excinfo:
        get_dataset("cifar10", "train")
    one_line_error(excinfo)
    folder = write_cifar(root, skip=("test_batch",))
    assert len(get_dataset("cifar10", "train")) == 10
    with pytest.raises(FactorbenchError, match=r"cifar10 \(test\) not found .*missing test_batch"):
        get_dataset("cifar10", "test")
    (folder / "data_batch_4").write_bytes(b"not a pickle at all")
    with pytest.raises(FactorbenchError, match=r"data_batch_4: not a readable CIFAR pickle"):
        get_dataset("cifar10", "train", n=9)
    write_cifar_batch(folder / "test_batch", [cifar_image(0)], [10])
    with pytest.raises(FactorbenchError, match=r"test_batch: labels must be 0-9"):
        get_dataset("cifar10", "test")
    write_cifar(root, names=cifar.CLASSES[::-1])
    with pytest.raises(FactorbenchError, match=r"batches.meta: label_names .* are not CIFAR-10's"):
        get_dataset("cifar10", "test")


# --------------------------------------------------------------------------- CelebA

RED, GREEN = (255, 0, 0), (0, 255, 0)
QUADRANTS = [(255, 255, 255), (0, 0, 255), (255, 255, 0), (0, 0, 0)]  # TL, TR, BL, BR of the 108 crop


def celeba_jpeg(path, quadrants, crop=(35, 55, 143, 163)):
    """178x218 aligned-size JPEG: red outside the 148 crop, green between 148 and ``crop``,
    four solid quadrants inside ``crop`` (default: the centred 108x108 square)."""
    arr = np.zeros((218, 178, 3), np.uint8)
    arr[:] = RED
    arr[35:183, 15:163] = GREEN  # the centred 148x148 square
    x0, y0, x1, y1 = crop
    xm, ym = (x0 + x1) // 2, (y0 + y1) // 2
    arr[y0:ym, x0:xm], arr[y0:ym, xm:x1] = quadrants[0], quadrants[1]
    arr[ym:y1, x0:xm], arr[ym:y1, xm:x1] = quadrants[2], quadrants[3]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, "JPEG", quality=100, subsampling=0)


def write_celeba(root, partition=(0, 0, 1, 2, 2), attr_rows=None):
    folder = root / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, len(partition) + 1)]
    for i, name in enumerate(names):
        quads = QUADRANTS[i % 4:] + QUADRANTS[: i % 4]  # rotate the colours: each image differs
        celeba_jpeg(folder / "img_align_celeba" / name, quads)
    rng = np.random.default_rng(0)
    values = rng.choice([-1, 1], size=(len(names), 40))
    rows = [f"{n} " + " ".join(f"{v:2d}" for v in row) for n, row in zip(names, values)]
    rows = rows if attr_rows is None else rows[:attr_rows]
    (folder / "list_attr_celeba.txt").write_text(
        f"{len(rows)}\n" + " ".join(ATTRIBUTES) + " \n" + "\n".join(rows) + "\n")
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partition)))
    return folder, (values + 1) // 2


def corner_colours(image: np.ndarray) -> list:
    """Colours (3,) at the four corners and the middle of each edge of a (3, 64, 64) image."""
    pts = [(0, 0), (0, 63), (63, 0), (63, 63), (0, 20), (20, 0), (63, 40), (40, 63)]
    return [image[:, y, x].astype(int) for y, x in pts]


def test_celeba_crop_resize_labels_and_splits(root):
    _, values = write_celeba(root)
    train = get_dataset("celeba", "train")
    assert train.arrays["image"].shape == (2, 3, 64, 64)
    for i in range(2):
        img = train.arrays["image"][i]
        quads = QUADRANTS[i % 4:] + QUADRANTS[: i % 4]
        expect = [quads[0], quads[1], quads[2], quads[3], quads[0], quads[0], quads[3], quads[3]]
        for got, want in zip(corner_colours(img), expect):  # no green or red: exactly the 108 crop
            assert np.abs(got - np.array(want)).max() <= 6, (got, want)
        for (y, x), q in zip([(16, 16), (16, 48), (48, 16), (48, 48)], quads):  # quadrant centres
            assert np.abs(img[:, y, x].astype(int) - np.array(q)).max() <= 3
    for j, name in enumerate(ATTRIBUTES):
        np.testing.assert_array_equal(train.labels(name.lower()), values[:2, j])
    assert set(train.label_names) >= {"5_o_clock_shadow", "young", "male"} and len(train.label_names) == 40
    val, test = get_dataset("celeba", "val"), get_dataset("celeba", "test", n=1)
    np.testing.assert_array_equal(val.labels("smiling"), values[2:3, ATTRIBUTES.index("Smiling")])
    assert len(test) == 1 and test.labels("young")[0] == values[3, 39]
    with pytest.raises(FactorbenchError, match="unknown split 'valid'"):
        get_dataset("celeba", "valid")


def test_celeba_crop_is_not_off_by_a_few_pixels(root):
    """A 108 crop shifted by 3 px in the file shows green at the output border: the check above can fail."""
    folder, _ = write_celeba(root, partition=(0,))
    celeba_jpeg(folder / "img_align_celeba/000001.jpg", QUADRANTS, crop=(38, 55, 146, 163))
    img = get_dataset("celeba", "train").arrays["image"][0]
    assert img[1, 32, 0] > 60  # green leaks in at the left edge


def test_celeba_missing_and_broken_files(root):
    with pytest.raises(FactorbenchError, match=r"dataset celeba \(train\) not found .*celeba: missing "
                       r"img_align_celeba.*Expected layout: img_align_celeba/\*\.jpg, list_attr_celeba.txt") as ei:
        get_dataset("celeba", "train")
    one_line_error(ei)
    folder, _ = write_celeba(root)
    (folder / "list_attr_celeba.txt").unlink()
    with pytest.raises(FactorbenchError, match=r"missing list_attr_celeba.txt"):
        get_dataset("celeba", "train")
    folder, _ = write_celeba(root)
    (folder / "img_align_celeba/000004.jpg").unlink()
    assert len(get_dataset("celeba", "train")) == 2
    with pytest.raises(FactorbenchError, match=r"000004.jpg: image listed in list_eval_partition.txt is missing"):
        get_dataset("celeba", "test")
    (folder / "img_align_celeba/000004.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(FactorbenchError, match=r"000004.jpg: not a readable image"):
        get_dataset("celeba", "test")
    folder, _ = write_celeba(root, attr_rows=4)  # 000005.jpg has no attribute row
    with pytest.raises(FactorbenchError, match=r"list_attr_celeba.txt: no attributes for 000005.jpg"):
        get_dataset("celeba", "test")
    (folder / "list_attr_celeba.txt").write_text("5\nSmiling Young\n")
    with pytest.raises(FactorbenchError, match=r"line 2 does not list CelebA's 40 attributes"):
        get_dataset("celeba", "val")
    folder, _ = write_celeba(root)
    Image.new("RGB", (64, 64)).save(folder / "img_align_celeba/000003.jpg")
    with pytest.raises(FactorbenchError, match=r"000003.jpg: expected an aligned CelebA image of 178x218"):
        get_dataset("celeba", "val")


# --------------------------------------------------------------------------- ImageNet 64x64


def imagenet_image(i: int) -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return np.stack([x * 4, y * 4, np.full((64, 64), 10 * i)]).astype(np.uint8)


def write_imagenet_batch(path, first, count, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([imagenet_image(first + k).reshape(-1) for k in range(count)])  # (N, 12288), CHW order
    np.savez(path, data=data, labels=np.array(labels), mean=np.zeros(12288, np.float64))


def test_imagenet64_reads_present_batches_in_order(root):
    folder = root / "imagenet64"
    write_imagenet_batch(folder / "Imagenet64_train_npz/train_data_batch_1.npz", 0, 3, [1, 2, 1000])
    write_imagenet_batch(folder / "Imagenet64_train_npz/train_data_batch_2.npz", 3, 2, [5, 6])
    write_imagenet_batch(folder / "Imagenet64_train_npz/train_data_batch_4.npz", 5, 1, [7])  # batch 3 absent
    write_imagenet_batch(folder / "Imagenet64_val_npz/val_data.npz", 20, 2, [10, 1])
    source = DATASETS.get("imagenet64")
    assert source.describe()["train_batches"] == [f"train_data_batch_{i}.npz" for i in (1, 2, 4)]
    train = get_dataset("imagenet64", "train")
    assert train.arrays["image"].shape == (6, 3, 64, 64)
    for i in range(6):
        np.testing.assert_array_equal(train.arrays["image"][i], imagenet_image(i))
    np.testing.assert_array_equal(train.labels("class"), [0, 1, 999, 4, 5, 6])  # 1-based -> 0-based
    test = get_dataset("imagenet64", "test")
    np.testing.assert_array_equal(test.labels("class"), [9, 0])
    np.testing.assert_array_equal(test.arrays["image"][0], imagenet_image(20))
    (folder / "Imagenet64_train_npz/train_data_batch_2.npz").write_bytes(b"garbage")
    assert len(get_dataset("imagenet64", "train", n=3)) == 3  # stops after batch 1: never opens batch 2
    with pytest.raises(FactorbenchError, match=r"train_data_batch_2.npz: not a readable downsampled-ImageNet npz"):
        get_dataset("imagenet64", "train", n=4)


def test_imagenet64_missing_and_broken_files(root):
    with pytest.raises(FactorbenchError, match=r"dataset imagenet64 \(train\) not found .*missing "
                       r"Imagenet64_train_npz/train_data_batch_1.npz.*Expected layout") as excinfo:
        get_dataset("imagenet64", "train")
    one_line_error(excinfo)
    folder = root / "imagenet64"
    write_imagenet_batch(folder / "Imagenet64_train_npz/train_data_batch_1.npz", 0, 2, [0, 3])  # 0-based: wrong
    with pytest.raises(FactorbenchError, match=r"test\) not found .*missing Imagenet64_val_npz/val_data.npz"):
        get_dataset("imagenet64", "test")
    with pytest.raises(FactorbenchError, match=r"train_data_batch_1.npz: labels must be 1..1000"):
        get_dataset("imagenet64", "train")
    np.savez(folder / "Imagenet64_train_npz/train_data_batch_1.npz", data=np.zeros((2, 4096), np.uint8), labels=[1, 2])
    with pytest.raises(FactorbenchError, match=r"'data' must be uint8 \(N, 12288\)"):
        get_dataset("imagenet64", "train")


# --------------------------------------------------------------------------- Multi-MNIST


def blocky_digits(n: int, rng) -> np.ndarray:
    """28x28 'digits': a solid block of random size up to 20x20 at a random place (ink 255)."""
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        h, w = rng.integers(8, 21, size=2)
        y, x = rng.integers(0, 28 - h + 1), rng.integers(0, 28 - w + 1)
        out[i, y : y + h, x : x + w] = 255
    return out


def test_mnist_strokes_keep_the_whole_digit_centred():
    digits = np.zeros((5, 28, 28), np.uint8)
    digits[0, 1:19, 0:12] = 200  # 18x12 box in the corner: the fixed crop [4:24] would cut it
    digits[1, 2:26, 10:14] = 255  # 24 px tall: larger than 20 -> 24x24 window area-resized to 20
    digits[2, 4:24, 4:24] = 100  # exactly the central 20x20
    digits[4, 27, :] = 255  # a full-width line on the last row: 28x28 window reaching past the frame
    strokes = multi_mnist.mnist_strokes(digits)  # digits[3] is empty
    assert strokes.shape == (5, 20, 20) and strokes.dtype == np.float32
    assert strokes[0].sum() == pytest.approx(18 * 12 * 200 / 255)  # all ink kept, no resize
    ys, xs = np.nonzero(strokes[0])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (1, 18, 4, 15)  # centred in the window (zero padding)
    assert strokes[1].sum() == pytest.approx(24 * 4 * (20 / 24) ** 2, rel=1e-5)  # area resize keeps mass
    np.testing.assert_allclose(strokes[2], 100 / 255)
    assert strokes[3].max() == 0
    assert strokes[4].sum() == pytest.approx(28 * (20 / 28) ** 2, rel=1e-5)


def write_multi_mnist_source(root):
    rng = np.random.default_rng(1)
    train = (blocky_digits(6, rng), np.array([0, 1, 2, 3, 4, 0], np.uint8))  # train digits: 0-4
    test = (blocky_digits(4, rng), np.array([5, 6, 7, 9], np.uint8))  # test digits: 5-9
    write_mnist(root, train=train, test=test)


def reference_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_multi_mnist_scenes_from_real_digits(root):
    write_multi_mnist_source(root)
    ds = get_dataset("multi-mnist", "train", n=64, seed=0)
    a = ds.arrays
    assert a["image"].shape == (64, 1, 64, 64) and a["masks"].shape == (64, 5, 64, 64)
    assert a["count"].min() >= 1 and a["count"].max() <= 5 and len(set(a["count"])) > 2
    digits = a["label_digit"]
    present = np.arange(5)[None] < a["count"][:, None]
    assert set(digits[present]) <= {0, 1, 2, 3, 4} and (digits[~present] == -1).all()
    np.testing.assert_array_equal(a["label_sum"], np.where(present, digits, 0).sum(axis=1))
    np.testing.assert_array_equal(a["image"][:, 0] > 0, a["masks"].any(axis=1))  # ink = union of digit masks
    touches = 0
    for i in range(64):
        for k in range(a["count"][i]):
            box = reference_box(a["masks"][i, k])
            np.testing.assert_allclose(a["boxes"][i, k], box)
            touches += box[0] == 0 or box[1] == 0 or box[2] == 64 or box[3] == 64
    assert touches > 0  # some digit placed against the border: its box is clipped, x1/y1 = 64 exclusive
    test = get_dataset("multi-mnist-5", "test", n=16, seed=0)
    assert (test.arrays["count"] == 5).all()
    assert set(test.arrays["label_digit"].ravel()) <= {5, 6, 7, 9}  # test scenes use MNIST test digits only


def test_multi_mnist_is_deterministic_per_seed_and_cached(root, monkeypatch):
    write_multi_mnist_source(root)
    source = DATASETS.get("multi-mnist")
    assert source.describe()["sizes"] == {"train": 10000, "test": 2000}
    first = get_dataset("multi-mnist", "test", n=12, seed=3)
    assert source.is_cached("test", 12, 3) and not source.is_cached("test", 12, 4)
    monkeypatch.setenv("FACTORBENCH_CACHE", str(root / "other-cache"))  # regenerate from scratch
    again = get_dataset("multi-mnist", "test", n=12, seed=3)
    other = get_dataset("multi-mnist", "test", n=12, seed=4)
    for key in first.arrays:
        np.testing.assert_array_equal(first.arrays[key], again.arrays[key])
    assert not np.array_equal(first.arrays["image"], other.arrays["image"])
    assert len(get_dataset("multi-mnist", "test", seed=3)) == 2000  # n=None: the default size


def test_multi_mnist_missing_mnist(root):
    write_mnist(root, files=MNIST_FILES[1:])  # a data root's incomplete MNIST folder
    with pytest.raises(FactorbenchError, match=r"dataset multi-mnist-5 \(train\) not found under .*MNIST: "
                       r"missing raw/train-images-idx3-ubyte.*Expected layout: raw/") as excinfo:
        get_dataset("multi-mnist-5", "train", n=4)
    one_line_error(excinfo)


def test_cli_data_root_lists_and_shows_a_real_dataset(tmp_path, monkeypatch):
    """`factorbench --data-root DIR` finds the data there; `datasets show` draws it."""
    from click.testing import CliRunner
    from PIL import Image

    from factorbench.cli import main

    monkeypatch.delenv("FACTORBENCH_DATA", raising=False)
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    write_cifar(data)
    listing = CliRunner().invoke(main, ["--data-root", str(data), "datasets", "list"])
    line = next(l for l in listing.output.splitlines() if l.startswith("cifar10 "))
    assert f"found in {data}" in line and "not found" not in line
    out = tmp_path / "grid.png"
    shown = CliRunner().invoke(main, ["--data-root", str(data), "datasets", "show", "cifar10", "-n", "4",
                                      "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    assert Image.open(out).size[0] > 32


class _WritesMarker:
    """Unpickling this calls open(marker, "w"): a file appears if the loader runs the pickle's code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _ObjectArray:
    def __reduce__(self):
        return (np.array, ([1, 2],))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_pickle_that_would_run_code_is_refused(root, protocol):
    """Issue 18, item 1: a crafted data_batch_1 under the data root must not run code."""
    folder = write_cifar(root)
    marker = root / "marker"
    evil = {b"data": _WritesMarker(marker), b"labels": [0]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=protocol))
    with pytest.raises(FactorbenchError, match=r"data_batch_1: refused: the pickle asks for (builtins|io)\.open") as excinfo:
        get_dataset("cifar10", "train")
    one_line_error(excinfo)
    assert not marker.exists()
    # official-format files still read at every protocol, str or bytes keys
    write_cifar_batch(folder / "data_batch_1", [cifar_image(0), cifar_image(1)], [0, 1])
    assert len(get_dataset("cifar10", "train")) == 10


def test_cifar10_unpickler_admits_only_numeric_arrays(root):
    folder = write_cifar(root)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.array(["a"], dtype=object), b"labels": [0]}))
    with pytest.raises(FactorbenchError, match=r"test_batch: refused: the pickle asks for an array of dtype object"):
        get_dataset("cifar10", "test")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _ObjectArray(), b"labels": [0]}))
    with pytest.raises(FactorbenchError, match=r"refused: the pickle asks for numpy.*array"):
        get_dataset("cifar10", "test")
