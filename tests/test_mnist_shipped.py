"""The MNIST copy shipped inside the package, and the datasets built from it (thesis §3.5, §6.4).

The shipped files are decoded once per test session (the ``shipped`` fixture; the loader
memoises them per process too); scene tests compose small subsets.
"""

import gzip
import hashlib
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from factorbench.cli import main
from factorbench.data.real import mnist, multi_mnist
from factorbench.data.synthetic import multi_digits
from factorbench.data.registry import DATASETS, get_dataset
from factorbench.errors import FactorbenchError

from test_real_mnist_cifar_celeba import write_mnist

#: the checksums published with the files (/work/shared/data/README.md, mnist_files/LICENSE)
PUBLISHED = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@pytest.fixture(scope="session")
def shipped():
    """{split: (images, labels)} of the shipped copy, decoded once."""
    return {split: mnist.read_mnist(mnist.SHIPPED, split) for split in ("train", "test")}


@pytest.fixture
def no_root(tmp_path, monkeypatch):
    """An empty data root (no MNIST folder) and a fresh dataset cache."""
    monkeypatch.setenv("FACTORBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_shipped_files_have_the_published_checksums():
    raw = mnist.SHIPPED / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{name}.gz" for name in PUBLISHED)
    licence = (mnist.SHIPPED / "LICENSE").read_text()
    assert "CC BY-SA 3.0" in licence and "LeCun" in licence
    for name, digest in PUBLISHED.items():
        assert hashlib.sha256(gzip.decompress((raw / f"{name}.gz").read_bytes())).hexdigest() == digest
        assert mnist.SHA256[name] == digest and digest in licence


def test_shipped_mnist_is_the_real_one(shipped):
    (train_x, train_y), (test_x, test_y) = shipped["train"], shipped["test"]
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28) and train_x.dtype == np.uint8
    assert train_y[0] == 5 and list(test_y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert (train_y == 0).sum() == 5923 and len(test_y) == 10000
    assert train_x.max() == 255 and train_x.min() == 0


def test_mnist_needs_no_data_root(no_root, shipped):
    ds = get_dataset("mnist", "test", n=10)
    np.testing.assert_array_equal(ds.labels("digit"), shipped["test"][1][:10])
    np.testing.assert_array_equal(ds.arrays["image"][:, 0], shipped["test"][0][:10])
    assert ds.info["root"] == str(mnist.SHIPPED) and DATASETS.get("mnist").describe()["shipped"]


def test_datasets_list_shows_mnist_with_no_data_root(no_root):
    result = CliRunner().invoke(main, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    for name in ("mnist", "multi-mnist", "multi-mnist-5"):
        assert "found (shipped with factorbench" in lines[name] and "not found" not in lines[name]
    assert "not found" in lines["cifar10"]  # nothing else is pretended


def test_a_data_root_holding_mnist_wins(no_root):
    write_mnist(no_root / "data")  # 5 train / 3 test digits
    ds = get_dataset("mnist", "train")
    assert len(ds) == 5 and ds.info["root"] == str(no_root / "data" / "MNIST")
    assert not DATASETS.get("multi-mnist").describe()["shipped"]


def corrupt_copy(tmp_path):
    """A copy of the shipped folder whose t10k labels have one label changed (valid gzip, valid idx)."""
    copy = tmp_path / "mnist_files"
    shutil.copytree(mnist.SHIPPED, copy)
    path = copy / "raw" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # the first test label: 7 -> 8
    path.write_bytes(gzip.compress(bytes(raw)))
    return copy


def test_a_corrupted_shipped_file_is_one_line(no_root, monkeypatch):
    monkeypatch.setattr(mnist, "SHIPPED", corrupt_copy(no_root))
    with pytest.raises(FactorbenchError, match=r"t10k-labels-idx1-ubyte.gz: corrupted: SHA-256 .*reinstall"):
        get_dataset("mnist", "test", n=4)
    result = CliRunner().invoke(main, ["datasets", "show", "multi-mnist-5", "--split", "test", "-n", "2",
                                       "--out", str(no_root / "grid.png")])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    message = result.output.strip()
    assert "\n" not in message and "corrupted: SHA-256" in message and "Traceback" not in message


def test_an_official_length_file_in_a_data_root_is_checked(no_root):
    write_mnist(no_root / "data")
    fake = np.zeros(10000, np.uint8)  # the official t10k label file's length, but not its content
    labels = no_root / "data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(bytes([0, 0, 8, 1]) + (10000).to_bytes(4, "big") + fake.tobytes())
    assert len(get_dataset("mnist", "train")) == 5  # 5 train digits: not the official length, not checked
    with pytest.raises(FactorbenchError, match=r"t10k-labels-idx1-ubyte: corrupted: .*not the official MNIST"):
        get_dataset("mnist", "test")
    gz = labels.with_name(labels.name + ".gz")
    gz.write_bytes(gzip.compress(labels.read_bytes()))
    labels.unlink()  # the same content as .gz: checked after decompression
    with pytest.raises(FactorbenchError, match=r"t10k-labels-idx1-ubyte.gz: corrupted: .*not the official MNIST"):
        get_dataset("mnist", "test")


def test_multi_mnist_from_shipped_mnist(no_root, shipped, monkeypatch):
    """§6.4's construction on real MNIST: pools from MNIST's own split, SPAIR's rule, digit counts."""
    pools, placements = [], []
    real_compose, real_place = multi_mnist.compose_scenes, multi_digits.place_digits

    def compose_spy(rng, n, strokes, labels, min_digits=1, **kwargs):
        pools.append((strokes, labels))
        return real_compose(rng, n, strokes, labels, min_digits, **kwargs)

    def place_spy(rng, count):
        placements.append((real_place(rng, count), count))
        return placements[-1][0]

    monkeypatch.setattr(multi_mnist, "compose_scenes", compose_spy)
    monkeypatch.setattr(multi_digits, "place_digits", place_spy)
    train = get_dataset("multi-mnist", "train", n=200, seed=0).arrays
    test5 = get_dataset("multi-mnist-5", "test", n=40, seed=0).arrays
    for (strokes, labels), split in zip(pools, ("train", "test")):  # each split's scenes use its own digits
        images, digits = shipped[split]
        np.testing.assert_array_equal(labels, digits)
        np.testing.assert_array_equal(strokes[:50], multi_mnist.mnist_strokes(images[:50]))
    for pos, count in placements:
        assert multi_digits.summed_overlaps(pos, count).max() <= multi_digits.MAX_SUMMED_OVERLAP
    assert set(train["count"]) == {1, 2, 3, 4, 5} and (test5["count"] == 5).all()
    for a in (train, test5):
        present = np.arange(5)[None] < a["count"][:, None]
        assert (a["label_digit"][present] >= 0).all() and (a["label_digit"][~present] == -1).all()
        assert (a["masks"].reshape(len(a["count"]), 5, -1).any(axis=2) == present).all()  # one lit mask per digit
        np.testing.assert_array_equal(a["label_sum"], np.where(present, a["label_digit"], 0).sum(axis=1))
    assert a["image"].shape == (40, 1, 64, 64) and a["image"].max() > 200  # real ink, not upsampled 8x8 greys


def test_train_converts_mnist_with_image_size(no_root):
    """MNIST as it comes (28x28) stops the conv backbone with a hint; --image-size 32 resizes it."""
    import json

    args = ["--quiet", "train", "vae", "--dataset", "mnist", "--schedule", "ci", "--n-train", "64", "--epochs", "1"]
    refused = CliRunner().invoke(main, args + ["--out", str(no_root / "a")])
    assert refused.exit_code == 1 and "not a multiple of 16" in refused.output
    assert "--image-size 32" in refused.output and "\n" not in refused.output.strip()
    done = CliRunner().invoke(main, args + ["--out", str(no_root / "b"), "--image-size", "32"])
    assert done.exit_code == 0, done.output
    assert json.loads((no_root / "b" / "config.json").read_text())["image_shape"] == [1, 32, 32]
    # the run commands convert the checkpoint's data the same way (they crashed on 28 vs 32)
    mse = CliRunner().invoke(main, ["--quiet", "run", "mse", str(no_root / "b"), "--n", "16", "--json"])
    assert mse.exit_code == 0, mse.output
    sharp = CliRunner().invoke(main, ["--quiet", "run", "sharpness", str(no_root / "b"), "--sampling", "test",
                                      "--n", "8"])
    assert sharp.exit_code == 0, sharp.output


def test_recon_classifier_can_train_on_more_raw_digits_than_the_run(no_root):
    """classifier_n_train: the fixed classifier sees that many raw training digits, converted to
    the run's shape; an identity 'reconstruction' then scores abs = raw and rel = 1."""
    import torch

    from factorbench.data.convert import convert_dataset
    from factorbench.evaluators.recon_acc import evaluate_recon_acc
    from factorbench.evaluators import EvalContext

    class Identity(torch.nn.Module):
        def reconstruct(self, x):
            return x

    train = convert_dataset(get_dataset("mnist", "train", n=32), (1, 32, 32))
    test = convert_dataset(get_dataset("mnist", "test", n=64), (1, 32, 32))
    values = {v.metric: v for v in evaluate_recon_acc(EvalContext(Identity(), train, test, batch_size=32),
                                                    label="digit", classifier_epochs=1, classifier_n_train=256)}
    assert values["recon_cls_abs_acc"].protocol["training"]["n_train"] == 256
    assert values["recon_cls_rel_acc"].value == 1.0
    assert values["recon_cls_abs_acc"].value == values["recon_cls_raw_acc"].value
    with pytest.raises(FactorbenchError, match="classifier_n_train must be at least 1"):
        evaluate_recon_acc(EvalContext(Identity(), train, test), label="digit", classifier_n_train=0)
