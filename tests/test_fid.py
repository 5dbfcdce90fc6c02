"""FID/KID pipeline: modes, the real offline Inception, caching, stats files, bad input."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from factorbench.cli import main
from factorbench.errors import FactorbenchError
from factorbench.metrics import inception
from factorbench.metrics.fid import (compute_fid, compute_kid, extract_features, load_stats_npz, prepare_batch,
                                     save_stats_npz, to_uint8)
from factorbench.metrics.image_sources import Images, dataset_images, folder_images


@pytest.fixture(scope="module")
def real():
    return dataset_images("digits-rgb", "test", n=16)


@pytest.fixture(scope="module")
def fake(real):
    """Float images with fractional values: rounding to uint8 changes them."""
    g = torch.Generator().manual_seed(0)
    x = real.data.float() / 255 * 0.8 + 0.1 + torch.rand(real.data.shape, generator=g) * 0.02
    return Images(x, {"kind": "test-float"})


# ------------------------------------------------------------------ mode semantics (no Inception)
def test_saved_rounds_and_direct_does_not(fake, tmp_path):
    direct = prepare_batch(fake.data[:2], "direct", 32, None, 0)
    saved = prepare_batch(fake.data[:2], "saved", 32, tmp_path, 0)
    assert direct.dtype == torch.float32 and direct.shape == (2, 3, 32, 32)
    assert (direct != direct.round()).any()  # fractional values survive
    assert saved.dtype == torch.uint8 and saved.shape == (2, 3, 299, 299)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000001.png"]  # really written as PNG
    clean = prepare_batch(fake.data[:2], "clean", 32, None, 0)
    assert clean.dtype == torch.float32 and clean.shape == (2, 3, 299, 299) and 0 <= clean.min() and clean.max() <= 255


def test_uint8_at_299_is_identical_in_every_mode(tmp_path):
    x = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    direct = prepare_batch(x, "direct", 299, None, 0)
    saved = prepare_batch(x, "saved", 299, tmp_path, 0)
    assert torch.equal(direct, saved.float())


def test_rounding_is_half_up():
    assert to_uint8(torch.tensor([0.49, 0.5, 254.5, 300.0, -2.0])).tolist() == [0, 1, 255, 255, 0]


def test_greyscale_is_repeated_to_rgb():
    x = torch.rand(2, 1, 16, 16)
    out = prepare_batch(x, "direct", 16, None, 0)
    assert out.shape == (2, 3, 16, 16) and torch.equal(out[:, 0], out[:, 2])


# ------------------------------------------------------------------ the real Inception
def test_real_inception_features_match_the_unoptimised_network(real):
    optimised = inception.get_extractor("cpu", True)
    plain = inception.get_extractor("cpu", False)
    x = real.data[:4]
    (a,), (b,) = optimised(x), plain(x)
    assert a.shape == (4, 2048) and torch.isfinite(a).all() and a.abs().sum() > 0
    assert (a - b).abs().max() <= 1e-4


def test_fid_of_a_set_with_itself_is_zero(real):
    record, _, _ = compute_fid(real, real, "direct", 32, use_cache=False)
    assert 0.0 <= record["value"] <= 1e-6


def test_saved_and_direct_differ_on_fractional_float_images(fake, real):
    saved, _, _ = compute_fid(fake, real, "saved", 32, batch_size=16)
    direct, _, _ = compute_fid(fake, real, "direct", 32, batch_size=16)
    assert saved["value"] > 0 and direct["value"] > 0
    assert abs(saved["value"] - direct["value"]) > 1e-3
    p = saved["protocol"]
    assert p["mode"] == "saved" and p["n_fake"] == 16 and p["n_real"] == 16 and p["image_size"] == 32
    assert p["extractor"]["sha1"] == inception.WEIGHTS_SHA1 and "torch" in p["versions"]
    assert any("PNG" in step for step in p["fake"]["quantisation"])
    assert direct["protocol"]["fake"]["quantisation"] == []


def test_saved_and_direct_agree_exactly_on_uint8_images_at_299():
    g = torch.Generator().manual_seed(1)
    a = Images(torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=g), {"kind": "a"})
    b = Images(torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=g), {"kind": "b"})
    saved, _, _ = compute_fid(a, b, "saved", 299)
    direct, _, _ = compute_fid(a, b, "direct", 299)
    assert saved["value"] == direct["value"]


def test_fid_does_not_depend_on_batch_size(fake, real):
    one, _, _ = compute_fid(fake, real, "direct", 32, batch_size=16, use_cache=False)
    other, _, _ = compute_fid(fake, real, "direct", 32, batch_size=5, use_cache=False)
    assert abs(one["value"] - other["value"]) <= 1e-6 * abs(one["value"])


def test_reference_statistics_are_cached_and_exportable(fake, real, tmp_path):
    first, _, real_stats = compute_fid(fake, real, "saved", 32, batch_size=16)
    second, _, _ = compute_fid(fake, real, "saved", 32, batch_size=16)
    assert second["protocol"]["real"]["stats_cache"] == "hit"
    assert second["value"] == pytest.approx(first["value"], rel=1e-12)
    path = save_stats_npz(tmp_path / "real.npz", real_stats)
    with np.load(path) as data:
        assert {"mu", "sigma"} <= set(data.files) and data["sigma"].shape == (2048, 2048)
    from_file, _, _ = compute_fid(fake, path, "saved", 32)
    assert from_file["value"] == pytest.approx(first["value"], rel=1e-9)
    assert load_stats_npz(path).n == 16


def test_kid_is_torch_fidelitys_estimator_on_our_features(fake, real):
    from torch_fidelity.metric_kid import kid_features_to_metric

    record = compute_kid(fake, real, "direct", 32, seed=0, subsets=10)
    assert record["metric"] == "kid_direct" and np.isfinite(record["value"])
    assert record["protocol"]["kid_subset_size"] == 16
    f = torch.from_numpy(extract_features(fake, "direct", 32))
    r = torch.from_numpy(extract_features(real, "direct", 32))
    expected = kid_features_to_metric(f, r, kid_subsets=10, kid_subset_size=16, verbose=False, rng_seed=0)
    assert record["value"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-6)


# ------------------------------------------------------------------ weights
def test_tampered_or_missing_weights_are_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "default_1.pt"
    shutil.copy(inception.weights_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setenv("FACTORBENCH_INCEPTION", str(bad))
    with pytest.raises(FactorbenchError, match="SHA-1"):
        inception.verified_weights()
    monkeypatch.setenv("FACTORBENCH_INCEPTION", str(tmp_path / "absent.pt"))
    with pytest.raises(FactorbenchError, match="missing"):
        inception.verified_weights()


# ------------------------------------------------------------------ bad input
def write_pngs(folder, n, size=16, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": None}[mode]
    for i in range(n):
        shape = (size, size) if channels is None else (size, size, channels)
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        if mode == "RGBA":
            arr[..., 3] = 255
        Image.fromarray(arr, mode=mode).save(folder / f"{i:03d}.png")
    return folder


def test_folder_problems_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FactorbenchError, match="contains no image files"):
        folder_images(tmp_path / "empty")
    bad = write_pngs(tmp_path / "truncated", 3)
    data = (bad / "001.png").read_bytes()
    (bad / "001.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FactorbenchError, match=r"001\.png: not a readable image"):
        folder_images(bad)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "x.png").write_bytes(b"not a png at all")
    with pytest.raises(FactorbenchError, match="not a readable image"):
        folder_images(tmp_path / "garbage")
    mixed = write_pngs(tmp_path / "mixed", 2)
    write_pngs(tmp_path / "other", 1, size=20)
    shutil.copy(tmp_path / "other" / "000.png", mixed / "002.png")
    with pytest.raises(FactorbenchError, match="different sizes"):
        folder_images(mixed)


def test_greyscale_and_opaque_rgba_are_converted_translucent_refused(tmp_path):
    grey = folder_images(write_pngs(tmp_path / "grey", 2, mode="L"))
    assert grey.data.shape == (2, 3, 16, 16) and torch.equal(grey.data[:, 0], grey.data[:, 1])
    rgba = folder_images(write_pngs(tmp_path / "rgba", 2, mode="RGBA"))
    assert rgba.data.shape == (2, 3, 16, 16)
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[..., 3] = 100
    Image.fromarray(arr, mode="RGBA").save(tmp_path / "rgba" / "009.png")
    with pytest.raises(FactorbenchError, match="transparent pixels"):
        folder_images(tmp_path / "rgba")


def test_fewer_than_two_images_is_an_error(tmp_path):
    one = folder_images(write_pngs(tmp_path / "one", 1))
    with pytest.raises(FactorbenchError, match="at least 2 images"):
        extract_features(one, "direct", 16)


def test_nan_from_a_model_is_a_clear_error(tmp_path):
    from factorbench.metrics.image_sources import checkpoint_images
    from factorbench.train import TrainConfig, TrainRun, train
    from factorbench.train.checkpoint import MODEL_FILE

    run = TrainRun("vae", {"latent_dim": 4, "base_channels": 4}, "digits-rgb", tmp_path / "ckpt",
                   train=TrainConfig(epochs=1, batch_size=32), dataset_n=64)
    model = train(run, progress=False)
    state = model.state_dict()
    state["decoder.fc.0.bias"] = torch.full_like(state["decoder.fc.0.bias"], float("nan"))
    torch.save(state, tmp_path / "ckpt" / MODEL_FILE)
    with pytest.raises(FactorbenchError, match="NaN or inf"):
        checkpoint_images(tmp_path / "ckpt", 4)


# ------------------------------------------------------------------ the command line
def test_run_fid_both_prints_the_side_by_side_layout(tmp_path):
    a, b = write_pngs(tmp_path / "a", 4), write_pngs(tmp_path / "b", 4, size=16)
    result = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(b), "--mode", "both", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "| FID | saved | direct |"
    assert "4 fake / 4 real images at 16x16" in result.output
    as_json = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(b), "--mode", "direct", "--json",
                                        "--kid", "--prc", "--device", "cpu"])
    records = json.loads(as_json.output)  # one shape for every --json: a list of records
    assert [r["metric"] for r in records] == ["fid_direct", "kid_direct", "precision_direct", "recall_direct"]
    assert records[0]["protocol"]["mode"] == "direct" and "std" in records[1]


def test_run_fid_bad_source_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["run", "fid", str(tmp_path / "nothing"), "digits-rgb"])
    assert result.exit_code != 0
    assert "neither a .npz statistics file" in result.output and "Traceback" not in result.output


def test_fid_evaluators_score_a_trained_model_and_caption_their_protocol(tmp_path):
    """The benchmark path: a model's random and test-seeded FID, saved and direct, with protocol."""
    from factorbench.data import get_dataset
    from factorbench.metrics import EVALUATORS, EvalContext
    from factorbench.train import TrainConfig, TrainRun, train

    run = TrainRun("vae", {"latent_dim": 4, "base_channels": 4}, "digits-rgb", tmp_path / "ckpt",
                   train=TrainConfig(epochs=1, batch_size=32), dataset_n=64)
    model = train(run, progress=False)
    test = get_dataset("digits-rgb", "test", n=8)
    ctx = EvalContext(model, get_dataset("digits-rgb", "train", n=64), test, seed=3)
    values = EVALUATORS.get("fid")(ctx) + EVALUATORS.get("fid_test_seeded")(ctx)
    assert [v.metric for v in values] == ["fid_saved", "fid_direct", "fid_test_seeded_saved", "fid_test_seeded_direct"]
    assert all(v.value > 0 for v in values)
    assert values[0].protocol["definition"].startswith("FID, saved mode: 8 fake / 8 real images at 32x32")


def test_run_sharpness_of_constant_images_is_zero(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 90 + i, dtype=np.uint8)).save(folder / f"{i}.png")
    result = CliRunner().invoke(main, ["run", "sharpness", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sharpness 0.0000 ± 0.0000") and "over 3 images" in result.output
